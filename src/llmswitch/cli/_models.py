"""``llmswitch models [PROVIDER]``."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from . import fail

if TYPE_CHECKING:
    from ..messages import ModelInfo

# Built-ins that count as configured with no setting at all (a default local address):
# when nothing points at them and nothing answers there, listing every provider skips them.
_IMPLICIT = {"ollama": "OLLAMA_HOST"}
_COLUMNS = ("MODEL", "CONTEXT", "MAX OUTPUT", "TOOLS", "VISION", "REASONING", "EMBED")


def run_models(args: argparse.Namespace) -> int:
    if args.provider == "pull":
        from ._pull import run_pull

        return run_pull(args)
    if args.model is not None:
        print(
            f"llmswitch models: error: unrecognized argument {args.model!r} "
            "(to download a model: llmswitch models pull PROVIDER/MODEL)",
            file=sys.stderr,
        )
        return 2

    from .. import Client
    from ..config import load_config
    from ..errors import ConfigurationError, LLMError, TransportError
    from ..providers import registry

    models: list[ModelInfo] = []
    status = 0
    skipped = Unconfigured()
    with Client(config=args.config) as client:
        if args.provider is not None:
            models = client.list_models(args.provider)
        else:
            declared = load_config(args.config).providers
            for pid in [*declared, *(p for p in registry.builtin_ids() if p not in declared)]:
                try:
                    models += client.list_models(pid)
                except ConfigurationError as exc:
                    if pid in declared:
                        status = fail(exc)
                    else:  # a built-in nobody set up
                        skipped.add(pid, exc.message)
                except TransportError as exc:
                    env = _IMPLICIT.get(pid)
                    if pid not in declared and env is not None and not os.environ.get(env):
                        skipped.add(pid, env=env)  # nothing answers at its default address
                    else:
                        status = fail(exc)
                except LLMError as exc:  # one provider failing does not stop the others
                    status = fail(exc)
            if not models and status == 0:
                return fail(
                    "no provider is configured: set an API key (e.g. OPENAI_API_KEY) "
                    "or declare providers in llmswitch.toml"
                )
    skipped.report()
    if args.json:
        sys.stdout.write(json.dumps([_to_json(m) for m in models], indent=2) + "\n")
    elif models:
        sys.stdout.write(format_table(models))
    return status


def _note(text: str) -> None:
    print(f"llmswitch: {text}", file=sys.stderr)


class Unconfigured:
    """Built-in providers nobody set up, when every provider is listed or probed: one
    summary line at the end (a line each would bury the answer), each with the variable
    that would configure it."""

    def __init__(self) -> None:
        self._hints: dict[str, str | None] = {}

    def add(self, provider: str, message: str | None = None, env: str | None = None) -> None:
        if env is None and message:
            # The ConfigurationError names what to set: "... not configured: set X (...)".
            found = re.search(r"\bset ([A-Z][A-Z0-9_]+)", message)
            env = found.group(1) if found else None
        self._hints[provider] = env

    def report(self) -> None:
        if self._hints:
            names = [f"{p} ({env})" if env else p for p, env in self._hints.items()]
            _note("not configured: " + ", ".join(names))


def format_table(models: list[ModelInfo]) -> str:
    """Aligned plain-text table; a model shows as ``provider/id``, what ``chat`` takes."""
    rows = [_COLUMNS] + [
        (
            f"{m.provider}/{m.id}",
            _number(m.context_window),
            _number(m.max_output_tokens),
            _flag(m.supports_tools),
            _flag(m.supports_vision),
            _flag(m.supports_reasoning),
            _flag(m.supports_embeddings),
        )
        for m in sorted(models, key=lambda m: (m.provider, m.id))
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if i in (1, 2) else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def _flag(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _to_json(m: ModelInfo) -> dict[str, Any]:
    return {
        "provider": m.provider,
        "id": m.id,
        "display_name": m.display_name,
        "context_window": m.context_window,
        "max_output_tokens": m.max_output_tokens,
        "supports_tools": m.supports_tools,
        "supports_vision": m.supports_vision,
        "supports_reasoning": m.supports_reasoning,
        "supports_embeddings": m.supports_embeddings,
        "created": m.created,
    }
