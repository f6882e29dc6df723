"""``llmswitch serve [--host H] [--port P] [--workers N] [--config FILE]``: the gateway.

The work is in :mod:`llmswitch.gateway.serve`; this module is the argument parsing
(argparse only, so ``llmswitch --help`` stays fast).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_serve_parser", "run_serve"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be 1-65535, got {value}")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 < value <= 512:
        raise argparse.ArgumentTypeError(f"must be 1-512, got {value}")
    return value


def add_serve_parser(commands: Any, config_option: Any) -> None:
    """The ``serve`` subcommand (called by ``cli.build_parser``)."""
    serve = commands.add_parser(
        "serve",
        help="run the HTTP gateway (OpenAI- and Anthropic-compatible)",
        description="Serve the gateway: /v1/chat/completions, /v1/messages and the rest "
        "in front of every configured provider, plus /healthz, /readyz and /metrics. "
        "Defaults come from [gateway] in llmswitch.toml. SIGHUP reloads the configuration "
        "in every worker; SIGTERM or Ctrl-C stops gracefully (streams finish, the usage "
        "ledger is flushed). Without access keys or LLMSWITCH_ADMIN_KEY only a loopback "
        "address is allowed.",
    )
    serve.add_argument(
        "--host", metavar="H", help="address to bind (default: [gateway] host, else 127.0.0.1)"
    )
    serve.add_argument(
        "--port", metavar="P", type=_port, help="port (default: [gateway] port, else 4000)"
    )
    serve.add_argument(
        "--workers", metavar="N", type=_workers,
        help="worker processes sharing the port (default: [gateway] workers, else 1)",
    )  # fmt: skip
    config_option(serve)


def run_serve(args: argparse.Namespace) -> int:
    from ..gateway.serve import ServeOptions, serve

    options = ServeOptions(host=args.host, port=args.port, workers=args.workers, config=args.config)
    return serve(options)
