"""What changed between two loaded configurations, with every secret masked: what a
reload returns and what the audit log records.

:func:`diff_configs` walks both :class:`Config` values as plain data (dataclass fields,
mappings, sequences) and lists each key whose value differs. Values are compared as
loaded and shown masked: an API key, a key pool entry, a header value and the state
secret always show as ``"***"``; any value that ``${VAR}`` put into the file is masked
inside whatever string holds it (it may be a secret in an unexpected place); URL
passwords and known key shapes are masked as everywhere else. A changed secret still
shows as a change (``"***"`` -> ``"***"``), never its value.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import redact
from ..storage.base import display_url
from ..wire import Secret
from ._types import Config

__all__ = ["ConfigChange", "ConfigDiff", "diff_configs", "masked_config"]

MASK = "***"
# Not configuration: where a key was read (moves with every edit), a test hook, the
# masking list itself, the file's path (the diff's subject).
_SKIPPED = frozenset({"source", "random", "masked", "path"})
# Config fields that are not named as the file spells them.
_FILE_KEYS: Mapping[str, str] = {
    "state": "state.url", "state_secret": "state.secret", "max_wait": "queue.max_wait",
    "database_url": "storage.database_url", "kek": "keys.kek",
    "require_user_keys": "keys.require_user_keys", "key_cache_ttl": "keys.cache_ttl",
    "key_refresh": "keys.refresh", "watch": "config.watch", "overlay": "env",
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigChange:
    """One key that changed: ``key`` as the file spells it (``providers.openai.base_url``),
    ``old``/``new`` masked plain values (``None`` on the side where it is absent)."""

    key: str
    kind: Literal["added", "removed", "changed"]
    old: Any = None
    new: Any = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "kind": self.kind}
        if self.kind != "added":
            out["old"] = self.old
        if self.kind != "removed":
            out["new"] = self.new
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigDiff:
    """What a reload applied: the file (``None`` without one), the overlay, the changes
    (empty: nothing changed, nothing was swapped)."""

    path: Path | None
    overlay: str | None
    changes: tuple[ConfigChange, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path is not None else None,
            "overlay": self.overlay,
            "changes": [c.as_dict() for c in self.changes],
        }


class _Hidden:
    """A value compared as loaded, shown as ``shown``."""

    __slots__ = ("shown", "value")

    def __init__(self, value: Any, shown: Any) -> None:
        self.value, self.shown = value, shown

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Hidden) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return repr(self.shown)


def masked_config(config: Config) -> dict[str, Any]:
    """``config`` as plain JSON-able data with every secret masked (what an audit
    record may show of a whole configuration)."""
    shown = _show(_top(config))
    assert isinstance(shown, dict)
    return shown


def diff_configs(old: Config, new: Config) -> tuple[ConfigChange, ...]:
    """The keys whose values differ from ``old`` to ``new``, in a stable order."""
    changes: list[ConfigChange] = []
    _diff(_top(old), _top(new), (), changes)
    return tuple(changes)


def _top(config: Config) -> dict[str, Any]:
    plain = _plain(config, _Masker(config))
    assert isinstance(plain, dict)
    return {_FILE_KEYS.get(str(k), str(k)): v for k, v in plain.items()}


class _Masker:
    """Masks what ``${VAR}`` put into one configuration, and URL passwords."""

    def __init__(self, config: Config) -> None:
        # Longest first: a value that contains another must not be left half-masked.
        self.values = sorted((s.get() for s in config.masked if len(s.get()) >= 4), key=len)[::-1]

    def string(self, text: str) -> Any:
        shown = text
        for value in self.values:
            shown = shown.replace(value, MASK)
        if "://" in shown:
            with contextlib.suppress(ValueError):  # not a URL after all (an invalid port)
                shown = display_url(shown)
        shown = redact(shown)
        return text if shown == text else _Hidden(text, shown)


def _plain(value: Any, masker: _Masker, field: str = "") -> Any:
    if isinstance(value, Secret):
        return _Hidden(value.get(), MASK)
    if isinstance(value, str):
        return masker.string(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Path):
        return masker.string(str(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name), masker, f.name)
            for f in dataclasses.fields(value)
            if f.name not in _SKIPPED
        }
    if isinstance(value, Mapping):
        if field == "headers":  # header values may be credentials ("authorization")
            return {str(k): _Hidden(v, MASK) for k, v in value.items()}
        return {str(k): _plain(v, masker) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return [_plain(v, masker) for v in sorted(value, key=repr)]
    if isinstance(value, tuple | list):
        return [_plain(v, masker) for v in value]
    return masker.string(repr(value))  # nothing else is expected in a Config


def _show(value: Any) -> Any:
    if isinstance(value, _Hidden):
        return value.shown
    if isinstance(value, dict):
        return {k: _show(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_show(v) for v in value]
    return value


def _key(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _diff(old: Any, new: Any, path: tuple[str, ...], out: list[ConfigChange]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            if key not in new:
                out.append(
                    ConfigChange(key=_key((*path, key)), kind="removed", old=_show(old[key]))
                )
            elif key not in old:
                out.append(ConfigChange(key=_key((*path, key)), kind="added", new=_show(new[key])))
            else:
                _diff(old[key], new[key], (*path, key), out)
        return
    # Scalars and arrays (which replace as a whole, as in the file) compare as values.
    if old == new:
        return
    # An unset section (None) that is now set is added, and the other way round.
    kind: Literal["added", "removed", "changed"] = (
        "added" if old is None else "removed" if new is None else "changed"
    )
    out.append(ConfigChange(key=_key(path), kind=kind, old=_show(old), new=_show(new)))
