"""Middleware: layers wrapped around every call (see :mod:`.base` for the contract)."""

from __future__ import annotations

from .base import Call, Hooks, Middleware, Pipeline

__all__ = ["Call", "Hooks", "Middleware", "Pipeline"]
