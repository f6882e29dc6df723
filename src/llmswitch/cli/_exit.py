"""Exit codes and the one-line error report every subcommand ends with."""

from __future__ import annotations

import sys

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_USAGE", "fail"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # what a shell reports for a process killed by SIGPIPE


def fail(error: object) -> int:
    """Print ``llmswitch: error: <error>`` as one line on stderr; return the exit code."""
    message = " ".join(str(error).split())
    print(f"llmswitch: error: {message}", file=sys.stderr)
    return EXIT_ERROR
