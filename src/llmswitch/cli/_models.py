"""``llmswitch models [PROVIDER]``."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._exit import fail

if TYPE_CHECKING:
    from ..errors import ConfigurationError
    from ..messages import ModelInfo

# Built-ins that count as configured with no setting at all (a default local address):
# when nothing points at them and nothing answers there, listing every provider skips them.
_IMPLICIT = {"ollama": "OLLAMA_HOST"}
T = TypeVar("T")
NO_PROVIDER = (
    "no provider is configured: set an API key (e.g. OPENAI_API_KEY) "
    "or declare providers in llmswitch.toml"
)
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

    if getattr(args, "catalog", False):  # the catalog's own models: no network
        from .. import Client
        from ._models_details import catalog_models, details_json, details_table

        with Client(config=args.config):  # installs the file's [catalog] settings
            write(catalog_models(args.provider), args.json, details_json, details_table)
        return 0

    from .. import Client
    from ..errors import ConfigurationError, LLMError, TransportError

    models: list[ModelInfo] = []
    status = 0
    skipped = Unconfigured()
    with Client(config=args.config) as client:
        if args.provider is not None:
            models = client.list_models(args.provider)
        else:
            declared, candidates = every_provider(args.config)
            answered: list[str] = []  # configured providers that listed, even nothing
            for pid in candidates:
                try:
                    models += client.list_models(pid)
                    answered.append(pid)
                except ConfigurationError as exc:
                    status = skipped.unset(pid, exc, declared) or status
                except TransportError as exc:
                    # nothing answers at a built-in's default address: not set up
                    if not skipped.absent(pid, declared):
                        status = fail(exc)
                except LLMError as exc:  # one provider failing does not stop the others
                    status = fail(exc)
            if not models and status == 0:
                if not answered:
                    return fail(NO_PROVIDER)
                # Configured, and it answered with no models: an empty listing, not an error.
                _note(f"{', '.join(answered)} listed no models")
    skipped.report()
    if getattr(args, "details", False):  # prices and capabilities from the catalog too
        from ._models_details import details_json, details_table

        write(models, args.json, details_json, details_table)
    else:
        write(models, args.json, _to_json, format_table)
    return status


def write(
    items: list[T], as_json: bool, to_json: Callable[[T], Any], table: Callable[[list[T]], str]
) -> None:
    """``items`` on stdout: a JSON array, or the table (nothing when there are none)."""
    if as_json:
        sys.stdout.write(json.dumps([to_json(i) for i in items], indent=2) + "\n")
    elif items:
        sys.stdout.write(table(items))


def every_provider(config: str | None) -> tuple[list[str], list[str]]:
    """What listing or probing every provider walks: the providers llmswitch.toml
    declares, then the built-ins it does not, then the installed provider plugins."""
    from ..config import load_config
    from ..providers import registry
    from ..providers._plugins import plugin_names

    declared = list(load_config(config).providers)
    builtin = registry.builtin_ids()
    # Then the installed provider plugins (entry point names: nothing imported yet).
    plugins = [p for p in plugin_names() if p not in declared and p not in builtin]
    return declared, [*declared, *(p for p in builtin if p not in declared), *plugins]


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

    def unset(self, provider: str, exc: ConfigurationError, declared: Sequence[str]) -> int:
        """``provider`` is not configured: an error (the exit status, 1) when
        llmswitch.toml declares it, else a built-in nobody set up (0)."""
        from ..errors import ProviderPluginError

        if provider in declared or isinstance(exc, ProviderPluginError):
            return fail(exc)  # a broken plugin is an error, not a provider left unset
        self.add(provider, exc.message)
        return 0

    def absent(self, provider: str, declared: Sequence[str]) -> bool:
        """Whether ``provider`` is a built-in configured by default only (a local
        address nothing points at), so not answering there means it is not set up."""
        env = _IMPLICIT.get(provider)
        if provider in declared or env is None or os.environ.get(env):
            return False
        self.add(provider, env=env)
        return True

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
