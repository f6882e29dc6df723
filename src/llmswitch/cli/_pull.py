"""``llmswitch models pull PROVIDER/MODEL``: download a model into an Ollama server."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ..providers.ollama import PullProgress

_BAR = 24
_UNITS = ("B", "KB", "MB", "GB", "TB")


def run_pull(args: argparse.Namespace) -> int:
    if not args.model:
        return _usage("missing PROVIDER/MODEL (e.g. llmswitch models pull ollama/llama3.2)")
    if args.json:
        return _usage("--json is not supported with pull")

    from .. import Client

    printer = ProgressPrinter(sys.stderr, tty=sys.stderr.isatty())
    try:
        with Client(config=args.config) as client:
            client.pull_model(args.model, progress=printer)
    finally:
        printer.close()  # end a half-drawn bar line before any error message
    sys.stdout.write(f"pulled {args.model}\n")
    return 0


def _usage(message: str) -> int:
    print(f"llmswitch models pull: error: {message}", file=sys.stderr)
    return 2


def format_size(n: float) -> str:
    """Bytes in decimal units, as Ollama shows them: ``2.0 GB``, ``1.4 KB``, ``512 B``."""
    if n < 1000:
        return f"{int(n)} B"
    for unit in _UNITS[1:]:
        n /= 1000
        if n < 1000 or unit == _UNITS[-1]:
            break
    return f"{n:.1f} {unit}"


class ProgressPrinter:
    """Renders pull progress. On a terminal, one line per status, redrawn in place
    (``\\r``) with percentage, a bar, bytes done/total and the download rate; otherwise
    (a log, a pipe) one plain line per status change."""

    def __init__(
        self,
        out: TextIO,
        *,
        tty: bool,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.1,
    ) -> None:
        self._out = out
        self._tty = tty
        self._clock = clock
        self._interval = interval
        self._status: str | None = None
        self._open = False  # a terminal line is drawn but not ended
        self._drawn = 0.0
        self._t0 = 0.0
        self._c0 = 0

    def __call__(self, p: PullProgress) -> None:
        now = self._clock()
        if p.status != self._status:
            self._end_line()
            self._status = p.status
            self._t0, self._c0 = now, p.completed or 0
            if not self._tty:
                size = f": {format_size(p.total)}" if p.total else ""
                self._out.write(f"{p.status}{size}\n")
                self._out.flush()
                return
        elif not self._tty:
            return
        finished = p.total is not None and p.completed == p.total
        if self._open and not finished and now - self._drawn < self._interval:
            return  # progress lines come fast; a terminal needs ~10 redraws a second
        self._drawn = now
        self._out.write("\r" + self._line(p, now) + "\x1b[K")
        self._out.flush()
        self._open = True

    def _line(self, p: PullProgress, now: float) -> str:
        if not p.total:
            return p.status
        done = min(p.completed or 0, p.total)
        filled = done * _BAR // p.total
        parts = [
            f"{p.status}: {done * 100 // p.total:3d}%",
            "[" + "#" * filled + "-" * (_BAR - filled) + "]",
            f"{format_size(done)}/{format_size(p.total)}",
        ]
        elapsed = now - self._t0
        if elapsed > 0 and done > self._c0:
            parts.append(f"{format_size((done - self._c0) / elapsed)}/s")
        return " ".join(parts)

    def _end_line(self) -> None:
        if self._open:
            self._out.write("\n")
            self._out.flush()
            self._open = False

    def close(self) -> None:
        self._end_line()
