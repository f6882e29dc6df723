"""Finding ``llmswitch.toml`` (argument, ``$LLMSWITCH_CONFIG``, ``./llmswitch.toml``),
``${VAR}`` / ``${VAR:-default}`` interpolation, and the client's copy of the environment."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path

from ..errors import ConfigurationError
from ..providers import registry

__all__ = [
    "CONFIG_ENV", "DEFAULT_CONFIG_FILE", "OVERLAY_ENV", "env_prefixes", "interpolate",
    "read_config", "snapshot_env",
]  # fmt: skip

CONFIG_ENV = "LLMSWITCH_CONFIG"
OVERLAY_ENV = "LLMSWITCH_ENV"  # selects the [env.NAME] overlay
DEFAULT_CONFIG_FILE = "llmswitch.toml"
_VAR_RE = re.compile(r"\$\$|\$\{([^}]*)\}")
_VAR_BODY_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


def env_prefixes() -> tuple[str, ...]:
    """Prefixes of the variables providers read (from the provider registry), and ours."""
    return (*registry.env_prefixes(), "LLMSWITCH_")


def snapshot_env(env: Mapping[str, str]) -> Mapping[str, str]:
    """A copy of ``env``: of ``os.environ`` only the variables providers read."""
    if env is os.environ:
        return _Snapshot(env)
    return dict(env)


class _Snapshot(Mapping[str, str]):
    """``os.environ`` as it was when taken, narrowed to the variables providers read
    when first looked at: the prefixes come from the provider registry, which imports
    every provider package, a cost a client pays only once it builds a provider."""

    __slots__ = ("_all", "_kept", "_lock")

    def __init__(self, env: Mapping[str, str]) -> None:
        self._all: dict[str, str] | None = dict(env)
        self._kept: dict[str, str] = {}
        self._lock = threading.Lock()

    def _view(self) -> dict[str, str]:
        if self._all is not None:
            with self._lock:
                if self._all is not None:
                    prefixes = env_prefixes()
                    self._kept = {k: v for k, v in self._all.items() if k.startswith(prefixes)}
                    self._all = None
        return self._kept

    def __getitem__(self, name: str) -> str:
        return self._view()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._view())

    def __len__(self) -> int:
        return len(self._view())

    def __repr__(self) -> str:
        return f"<environment snapshot: {len(self)} variables>"


def interpolate(value: str, env: Mapping[str, str], seen: MutableMapping[str, str]) -> str:
    """``value`` with ``${VAR}``, ``${VAR:-default}`` and ``$$`` replaced from ``env``.
    Each value taken from ``env`` is recorded in ``seen`` (value -> ``"${VAR}"``), so an
    error message can name the reference instead of echoing a secret. Raises ValueError
    (the problem, for the caller to place) on a malformed reference or an unset variable."""
    if "$" not in value:
        return value

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        body = _VAR_BODY_RE.fullmatch(m.group(1))
        if body is None:
            raise ValueError("malformed ${...} reference (expected ${VAR} or ${VAR:-default})")
        name, default = body.group(1), body.group(2)
        found = env.get(name)
        if found:
            seen.setdefault(found, m.group(0))
            return found
        if default is not None:
            return default
        if found is None:
            raise ValueError(f"environment variable {name} is not set")
        return found  # set but empty, no default: shell semantics keep the empty value

    return _VAR_RE.sub(sub, value)


def read_config(
    path: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> tuple[Path, bytes] | None:
    """The file to load and its bytes: ``path``; else ``$LLMSWITCH_CONFIG``; else
    ``./llmswitch.toml`` if it exists (``None`` if not)."""
    if path is not None:
        file, origin = Path(path), "config file"
    elif env.get(CONFIG_ENV):
        file, origin = Path(env[CONFIG_ENV]), f"config file (from ${CONFIG_ENV})"
    else:
        file, origin = Path(DEFAULT_CONFIG_FILE), "config file"
        if not file.is_file():
            return None
    try:
        return file, file.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"{origin} {str(file)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{origin} {str(file)!r} is a directory") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {str(file)!r}: {exc.strerror}") from None
