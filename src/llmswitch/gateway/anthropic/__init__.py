"""The Anthropic-compatible routes: ``POST /v1/messages`` (with SSE) and
``POST /v1/messages/count_tokens``. See docs/gateway/anthropic.md."""

from ._errors import ANTHROPIC_ERRORS
from .routes import ROUTES

__all__ = ["ANTHROPIC_ERRORS", "ROUTES"]
