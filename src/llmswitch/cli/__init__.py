"""The ``llmswitch`` command.

Only argparse and sys are imported up front: ``llmswitch --help`` must start fast,
so each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ._config import add_config_parser  # argparse only: --help stays fast
from ._exit import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE, fail

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other failure; the usage is one --help away.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Version(argparse.Action):
    """``--version``, reading the installed version only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kw: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("llmswitch")
        except PackageNotFoundError:
            found = "unknown"
        sys.stdout.write(f"llmswitch {found}\n")
        parser.exit(0)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _reasoning(text: str) -> str | int:
    # "high" is an effort, "2048" a thinking budget in tokens.
    return int(text) if text.isdigit() else text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="llmswitch",
        description="One command line for every LLM provider.",
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    chat = commands.add_parser(
        "chat",
        help="send a prompt and print the answer",
        description="Send PROMPT (or stdin) to MODEL and stream the answer to stdout.",
    )
    chat.add_argument("model", metavar="MODEL", help='"provider/model" or an alias')
    chat.add_argument("prompt", metavar="PROMPT", nargs="?", help="the prompt (default: stdin)")
    chat.add_argument("--system", metavar="TEXT", help="system prompt")
    chat.add_argument("--no-stream", action="store_true", help="one call, then print the text")
    chat.add_argument("--json", action="store_true", help="print the full response as JSON")
    chat.add_argument("--max-tokens", metavar="N", type=_positive_int)
    chat.add_argument("--temperature", metavar="X", type=float)
    chat.add_argument(
        "--reasoning", metavar="EFFORT", type=_reasoning,
        help="reasoning effort (low, medium, high, ...) or a thinking budget in tokens",
    )  # fmt: skip
    chat.add_argument(
        "--show-reasoning", action="store_true", help="print the model's thinking to stderr"
    )
    _config_option(chat)

    models = commands.add_parser(
        "models",
        help="list the models a provider offers (or pull one into Ollama)",
        usage="%(prog)s [PROVIDER] [--json] [--details] [--config PATH]\n"
        "       %(prog)s [PROVIDER] --catalog [--json] [--config PATH]\n"
        "       %(prog)s pull PROVIDER/MODEL [--config PATH]",
        description="List models live from PROVIDER, or from every configured provider. "
        "'pull ollama/MODEL' downloads MODEL into the Ollama server, showing progress.",
    )
    models.add_argument("provider", metavar="PROVIDER", nargs="?")
    models.add_argument("model", metavar="MODEL", nargs="?", help="with pull: the model to pull")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    models.add_argument(
        "--details",
        action="store_true",
        help="add prices (USD per million tokens: cache read/write, long-context tiers) "
        "and capabilities from the catalog",
    )
    models.add_argument(
        "--catalog",
        action="store_true",
        help="list the catalog's models with --details' columns instead of asking the "
        "providers (no network)",
    )
    _config_option(models)

    health = commands.add_parser(
        "health",
        help="check that providers answer and accept their credentials",
        description="Probe PROVIDER, or every configured provider, live: one line "
        "each with ok/failed, the round-trip time and the server version where it reports "
        "one (otherwise the error). Exits 1 if any probe failed.",
    )
    health.add_argument("provider", metavar="PROVIDER", nargs="?")
    health.add_argument("--json", action="store_true", help="print JSON instead of a table")
    health.add_argument(
        "--timeout", metavar="SECONDS", type=_positive_float, default=10.0,
        help="give up on a provider after this long (default: 10)",
    )  # fmt: skip
    _config_option(health)

    status = commands.add_parser(
        "status",
        help="show breaker states and key cooldowns from a shared state store",
        description="Read the circuit breakers of the deployments and the keys of the "
        "providers declared in llmswitch.toml from the state store clients share.",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of tables")
    status.add_argument(
        "--state-url", metavar="URL",
        help="the shared store, e.g. redis://localhost:6379/0 (memory:// cannot be read "
        "from another process)",
    )  # fmt: skip
    _config_option(status)

    _db_parser(commands)
    add_config_parser(commands)

    from ._keys import add_keys_parser  # argparse only: --help stays fast

    add_keys_parser(commands, _config_option)

    from ._usage import add_usage_parser  # argparse only: --help stays fast

    add_usage_parser(commands, _config_option)

    from ._prompts import add_prompts_parser  # argparse only: --help stays fast

    add_prompts_parser(commands, _config_option)

    from ._users import add_users_parser  # argparse only: --help stays fast

    add_users_parser(commands, _config_option)

    from ._serve import add_serve_parser  # argparse only: --help stays fast

    add_serve_parser(commands, _config_option)
    return parser


def _db_parser(commands: Any) -> None:
    db = commands.add_parser(
        "db",
        help="apply or inspect the SQL database's schema migrations",
        description="The database of stored keys and the audit log: --database-url, else "
        "[storage] database_url in llmswitch.toml, else $LLMSWITCH_DATABASE_URL, else "
        "sqlite:///$LLMSWITCH_HOME/llmswitch.db. Migrations also apply on first use.",
    )
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade", help="apply pending migrations", description="Apply pending schema "
        "migrations (safe while other processes use the database) and print each version.",
    )  # fmt: skip
    status = actions.add_parser(
        "status", help="show the schema version and pending migrations",
        description="Show the database URL (password masked), its schema version, the "
        "latest this llmswitch knows and what is pending. Exits 1 for a database newer "
        "than this llmswitch.",
    )  # fmt: skip
    status.add_argument("--json", action="store_true", help="print JSON")
    for parser in (upgrade, status):
        parser.add_argument(
            "--database-url", metavar="URL",
            help="sqlite:///path or postgresql://user@host:5432/db",
        )  # fmt: skip
        _config_option(parser)


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="PATH",
        help="llmswitch.toml to use (default: $LLMSWITCH_CONFIG, then ./llmswitch.toml)",
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if extra:
        sub = parser.prog + " " + args.command
        print(
            f"{sub}: error: unrecognized arguments: {' '.join(extra)} (see '{sub} --help')",
            file=sys.stderr,
        )
        return EXIT_USAGE
    run: Callable[[argparse.Namespace], int]
    if args.command == "chat":
        from ._chat import run_chat as run
    elif args.command == "health":
        from ._health import run_health as run
    elif args.command == "status":
        from ._status import run_status as run
    elif args.command == "db":
        from ._db import run_db as run
    elif args.command == "config":
        from ._config import run_config as run
    elif args.command == "keys":
        from ._keys import run_keys as run
    elif args.command == "usage":
        from ._usage import run_usage as run
    elif args.command == "prompts":
        from ._prompts import run_prompts as run
    elif args.command == "users":
        from ._users import run_users as run
    elif args.command == "serve":
        from ._serve import run_serve as run
    else:
        from ._models import run_models as run
    from ._logging import cli_logging

    with cli_logging():
        return _guarded(run, args)


def _guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command: every failure becomes one line on stderr, never a traceback."""
    from ..errors import LLMError, redact
    from ._logging import DEBUG_ENV, debug_enabled

    try:
        return run(args)
    except LLMError as exc:
        if debug_enabled():
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        return fail(exc)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`); keep Python's exit-time flush from complaining.
        with contextlib.suppress(OSError, ValueError):  # ValueError: stdout is captured
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        if debug_enabled():
            raise
        text = redact(f"unexpected {type(exc).__name__}: {exc}")
        return fail(f"{text} (set {DEBUG_ENV}=1 for the traceback)")
