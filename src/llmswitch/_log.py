"""The library's loggers, all under ``llmswitch``.

A library must not print: without a handler of its own, Python's last-resort handler
would show our WARNINGs on stderr in every app that has not configured logging, so the
``llmswitch`` logger gets a NullHandler. The first module that logs adds it, by importing
this one; ``import llmswitch`` itself then does not import logging (a sixth of its time).
"""

from __future__ import annotations

import logging

__all__ = ["get_logger"]

logging.getLogger("llmswitch").addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)``, with the NullHandler above in place."""
    return logging.getLogger(name)
