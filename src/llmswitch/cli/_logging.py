"""How the ``llmswitch`` command logs.

Quiet by default: a failure is one ``llmswitch: error: ...`` line, and the log records
the layers emit on the way there (``retry.gave_up``, ``router.exhausted``, ...) would
only repeat it. ``LLMSWITCH_DEBUG=1`` shows every record at DEBUG, with its structured
fields, plus tracebacks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

DEBUG_ENV = "LLMSWITCH_DEBUG"

# Loggers shown under LLMSWITCH_DEBUG. botocore stays out on purpose: at DEBUG it logs
# canonical requests, which carry session tokens.
_DEBUG_LOGGERS = ("llmswitch", "urllib3", "aiohttp")

# Attributes every LogRecord has; anything else on a record is a structured field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def debug_enabled() -> bool:
    """``LLMSWITCH_DEBUG`` set to anything but empty, 0, false, no or off."""
    value = os.environ.get(DEBUG_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


class _FieldsFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...``: the structured fields a layer
    attached that its message does not already spell out."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        message = record.getMessage()
        fields = [
            f"{k}={v!r}"
            for k, v in vars(record).items()
            if k not in _STANDARD and f"{k}=" not in message and str(v) not in message
        ]
        if not fields:
            return text
        head, sep, tail = text.partition("\n")  # keep fields on the message's line
        return f"{head} {' '.join(fields)}{sep}{tail}"


@contextlib.contextmanager
def cli_logging() -> Iterator[None]:
    """Logging for one command run; the previous setup is restored afterwards, so
    ``main()`` can also be called in-process (tests, scripts)."""
    root = logging.getLogger()
    added: list[tuple[logging.Logger, logging.Handler, int]] = []
    if debug_enabled():
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_FieldsFormatter())
        for name in _DEBUG_LOGGERS:
            logger = logging.getLogger(name)
            added.append((logger, handler, logger.level))
            logger.setLevel(logging.DEBUG)
    elif not root.handlers:
        # No app configured logging: keep other libraries' records (urllib3's pool
        # warnings, asyncio's) from reaching Python's last-resort stderr handler too.
        added.append((root, logging.NullHandler(), root.level))
    for logger, handler, _ in added:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, handler, level in added:
            logger.removeHandler(handler)
            logger.setLevel(level)
