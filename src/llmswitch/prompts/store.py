"""``PromptStore``: prompt versions and labels in the SQL database, read through an
in-process cache.

::

    store = PromptStore(open_database())
    v = store.add("support", PromptTemplate.from_toml(text), author="ana", message="tone")
    store.label("support", v.version, "production")
    call = store.render("support:production", {"question": "Where is my order?"})
    call.system, call.messages, call.ref        # PromptRef('support', 3, None)

References: ``NAME`` (the latest version), ``NAME:LABEL`` (where the label points;
``NAME:latest`` is ``NAME``) and ``NAME@VERSION`` (that version, pinned).

- Every :meth:`add` is a new immutable version (1, 2, ...) with its content hash,
  author and message, **unless its content equals the latest version's**: then
  nothing is written and the latest is returned (``created`` False), so importing
  the same files twice changes nothing. Content equal to an *older* version is a new
  version: that is how a rollback moves ``latest``.
- A label is a movable pointer (``production``, ``staging``, any name but
  ``latest``, which moves by itself).
- Lookups are served from the cache: a version forever (versions never change), a
  label or ``latest`` for ``label_ttl`` seconds (2 by default), so a label moved by
  any process is seen by every process within that time. While the database cannot
  be reached, an expired label keeps its last known version.

Every method has an ``a``-prefixed twin for async code (``aadd``, ``arender``...).
"""

from __future__ import annotations

import builtins
import difflib
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._json import loads
from .._log import get_logger
from ..errors import PromptError, StorageError
from ..messages import PromptRef
from ._cache import PromptCache
from ._types import (
    DEFAULT_LABEL_TTL,
    LATEST,
    Chooser,
    PromptCall,
    PromptInfo,
    PromptVersion,
    check_label,
    check_name,
    parse_ref,
)
from .template import CompiledPrompt, PromptTemplate

if TYPE_CHECKING:
    from ..storage.sql import Database
    from . import _sql

__all__ = [
    "DEFAULT_LABEL_TTL",
    "LATEST",
    "Chooser",
    "PromptCall",
    "PromptInfo",
    "PromptStore",
    "PromptVersion",
    "parse_ref",
]

_log = get_logger("llmswitch.prompts")


def _q() -> Any:
    """The statements module (imports SQLAlchemy: on first use, not with the package)."""
    from . import _sql

    return _sql


class _Entry:
    """A cached version with its compiled templates."""

    __slots__ = ("compiled", "version")

    def __init__(self, version: PromptVersion) -> None:
        self.version = version
        self.compiled = CompiledPrompt(version.template)


def _version(row: _sql.Row) -> PromptVersion:
    template = PromptTemplate.from_content(loads(row.content), source=f"{row.name}@{row.version}")
    return PromptVersion(
        name=row.name, version=row.version, template=template, content_hash=row.content_hash,
        author=row.author, message=row.message, created_at=row.created_at, created=row.created,
    )  # fmt: skip


class PromptStore:
    """Prompts in ``database``. ``label_ttl``: seconds a label (or ``latest``) lookup
    is reused before the database is asked again; ``clock``: monotonic seconds (a fake
    clock in tests); ``experiments``: a :class:`Chooser` consulted by calls that do not
    pin a version (default: the :attr:`experiments` store on the same database).
    Thread-safe; share one per process and database."""

    def __init__(
        self,
        database: Database,
        *,
        label_ttl: float = DEFAULT_LABEL_TTL,
        clock: Callable[[], float] = time.monotonic,
        experiments: Chooser | None = None,
    ) -> None:
        if not isinstance(label_ttl, int | float) or label_ttl < 0:
            raise PromptError("label_ttl must be a number of seconds >= 0", field="label_ttl")
        self.database = database
        self._clock = clock
        self._experiments = experiments
        self._cache = PromptCache(float(label_ttl), clock)
        self._refs: dict[str, tuple[str, str | None, int | None]] = {}

    @property
    def experiments(self) -> Any:
        """The experiments on these prompts (:class:`~llmswitch.prompts.experiments.
        ExperimentStore` over the same database, made on first use, with the label
        TTL and clock): ``start``, ``pause``, ``stop``, ``promote``... Calls by name or
        label go through the running one; ``NAME@VERSION`` never does."""
        if self._experiments is None:
            from .experiments import ExperimentStore

            self._experiments = ExperimentStore(
                self.database, ttl=self._cache.ttl, clock=self._clock, move_label=self.label
            )
        return self._experiments

    @experiments.setter
    def experiments(self, chooser: Chooser) -> None:
        self._experiments = chooser

    # ---- writing

    def add(
        self,
        name: str,
        prompt: PromptTemplate | Mapping[str, Any] | str,
        *,
        author: str | None = None,
        message: str | None = None,
    ) -> PromptVersion:
        """Save ``prompt`` (a template, its dict form, or the text of one user message)
        as the next version of ``name``; see the module docstring for equal content."""
        args = self._add_args(name, prompt, author, message)
        return self._added(self.database.run(_q().insert_version, *args))

    async def aadd(
        self,
        name: str,
        prompt: PromptTemplate | Mapping[str, Any] | str,
        *,
        author: str | None = None,
        message: str | None = None,
    ) -> PromptVersion:
        args = self._add_args(name, prompt, author, message)
        return self._added(await self.database.arun(_q().insert_version, *args))

    def label(
        self, name: str, version: int, label: str, *, author: str | None = None
    ) -> int | None:
        """Point ``label`` of ``name`` at ``version``; returns the version it pointed to
        before (``None``: a new label). Seen at once by this store, within
        ``label_ttl`` by every other."""
        self._check_label_args(name, version, label)
        before = self.database.run(self._move, name, version, label, author)
        self._cache.point(name, label, version)
        return before

    async def alabel(
        self, name: str, version: int, label: str, *, author: str | None = None
    ) -> int | None:
        self._check_label_args(name, version, label)
        before = await self.database.arun(self._move, name, version, label, author)
        self._cache.point(name, label, version)
        return before

    # ---- reading

    def get(self, ref: str) -> PromptVersion:
        """The version ``ref`` names (``NAME``, ``NAME:LABEL``, ``NAME@V``)."""
        name, label, version = parse_ref(ref)
        return self._entry(name, label, version).version

    async def aget(self, ref: str) -> PromptVersion:
        name, label, version = parse_ref(ref)
        return (await self._aentry(name, label, version)).version

    def render(
        self, ref: str, variables: Mapping[str, Any] | None = None, *, user: str | None = None
    ) -> PromptCall:
        """``ref`` resolved (through a running experiment, for ``user``, unless it pins
        a version) and rendered with ``variables``: what a call sends."""
        name, label, version = self._parse(ref)
        arm = None
        if version is None:
            arm = self.experiments.choose(name, user)
            if arm is not None:
                version = arm.version
        return self._call(self._entry(name, label, version), variables, arm)

    async def arender(
        self, ref: str, variables: Mapping[str, Any] | None = None, *, user: str | None = None
    ) -> PromptCall:
        name, label, version = self._parse(ref)
        arm = None
        if version is None:
            arm = await self.experiments.achoose(name, user)
            if arm is not None:
                version = arm.version
        return self._call(await self._aentry(name, label, version), variables, arm)

    def list(self) -> builtins.list[PromptInfo]:
        """Every prompt: latest version, labels, first and last save."""
        return self.database.read(_infos)

    async def alist(self) -> builtins.list[PromptInfo]:
        return await self.database.aread(_infos)

    def versions(self, name: str) -> builtins.list[PromptVersion]:
        """Every version of ``name``, oldest first."""
        check_name(name)
        return [_version(r) for r in self.database.read(_q().versions_of, name)]

    def labels(self, name: str) -> dict[str, int]:
        """``name``'s labels and the versions they point to."""
        check_name(name)
        return self.database.read(_q().labels_of, name)

    def diff(self, a: str, b: str) -> str:
        """A unified diff of two versions' TOML forms (empty when equal)."""
        first, second = self.get(a), self.get(b)
        return "".join(
            difflib.unified_diff(
                first.template.to_toml().splitlines(keepends=True),
                second.template.to_toml().splitlines(keepends=True),
                fromfile=first.ref,
                tofile=second.ref,
            )
        )

    def export(self, ref: str) -> str:
        """The TOML file of one version, which ``prompts import`` (or :meth:`import_`)
        reads back; see :mod:`llmswitch.prompts.files` for directories."""
        from .files import version_toml

        version = self.get(ref)
        labels = sorted(k for k, n in self.labels(version.name).items() if n == version.version)
        return version_toml(version, labels)

    def import_(
        self,
        path: str,
        *,
        author: str | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> builtins.list[PromptVersion]:
        """Add the prompts in a file or a directory of ``.toml`` files (see
        :func:`llmswitch.prompts.files.import_path`)."""
        from .files import import_path

        return import_path(self, path, author=author, message=message, label=label)

    # ---- internals

    def _parse(self, ref: str) -> tuple[str, str | None, int | None]:
        """:func:`parse_ref`, remembered: a program uses a handful of references."""
        found = self._refs.get(ref) if isinstance(ref, str) else None
        if found is None:
            found = parse_ref(ref)
            if len(self._refs) >= 4096:
                self._refs.clear()
            self._refs[ref] = found
        return found

    def _add_args(
        self, name: str, prompt: Any, author: str | None, message: str | None
    ) -> tuple[Any, ...]:
        from ..storage.sql import now_ms

        check_name(name)
        if isinstance(prompt, str):
            template = PromptTemplate.from_text(prompt)
        elif isinstance(prompt, PromptTemplate):
            template = prompt
        elif isinstance(prompt, Mapping):
            template = PromptTemplate.from_content(prompt, source=name)
        else:
            raise PromptError(
                "a prompt is a PromptTemplate, a dict or a text", field="prompt", prompt=name
            )
        CompiledPrompt(template)  # a template that does not compile is never stored
        for what, value in (("author", author), ("message", message)):
            if value is not None and not isinstance(value, str):
                raise PromptError(f"{what} must be a string", field=what, prompt=name)
        if author is not None and len(author) > 200:
            raise PromptError("author: at most 200 characters", field="author", prompt=name)
        content = template.to_content()
        return (name, content, template.content_hash, author or None, message or None, now_ms())

    def _added(self, row: _sql.Row) -> PromptVersion:
        self._cache.point(row.name, LATEST, row.version)
        return _version(row)

    def _check_label_args(self, name: str, version: int, label: str) -> None:
        check_name(name)
        check_label(label)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise PromptError("version must be a number >= 1", field="version", prompt=name)

    @staticmethod
    def _move(conn: Any, name: str, version: int, label: str, author: str | None) -> int | None:
        from ..storage.sql import now_ms

        if _q().select_version(conn, name, version) is None:
            raise PromptError(
                f"prompt {name!r} has no version {version}", field="version", prompt=name
            )
        before: int | None = _q().move_label(conn, name, label, version, author, now_ms())
        return before

    def _call(self, entry: _Entry, variables: Mapping[str, Any] | None, arm: Any) -> PromptCall:
        found = entry.version
        rendered = entry.compiled.render(variables, found.name)
        template = found.template
        return PromptCall(
            ref=PromptRef(found.name, found.version, None if arm is None else arm.tag),
            system=rendered.system, messages=rendered.messages, model=template.model,
            options=template.options, arm_model=None if arm is None else arm.model,
        )  # fmt: skip

    def _entry(self, name: str, label: str | None, version: int | None) -> _Entry:
        if version is None:
            version = self._pointer(name, label)
        entry = self._cache.version(name, version)
        if entry is None:
            row = self.database.read(_q().select_version, name, version)
            entry = self._keep(name, version, row)
        return entry  # type: ignore[no-any-return]

    async def _aentry(self, name: str, label: str | None, version: int | None) -> _Entry:
        if version is None:
            version = await self._apointer(name, label)
        entry = self._cache.version(name, version)
        if entry is None:
            row = await self.database.aread(_q().select_version, name, version)
            entry = self._keep(name, version, row)
        return entry  # type: ignore[no-any-return]

    def _keep(self, name: str, version: int, row: _sql.Row | None) -> _Entry:
        if row is None:
            raise PromptError(
                f"prompt {name!r} has no version {version}", field="prompt", prompt=name
            )
        return self._cache.keep(name, version, _Entry(_version(row)))  # type: ignore[no-any-return]

    def _pointer(self, name: str, label: str | None) -> int:
        key = LATEST if label is None else label
        cached = self._cache.pointer(name, key)
        if cached is not None and cached[0] > self._cache.now():
            return self._pointed(name, label, cached[1])
        try:
            version = self.database.read(_q().pointer, name, label)
        except StorageError as exc:
            return self._stale(name, label, cached, exc)
        self._cache.point(name, key, version)
        return self._pointed(name, label, version)

    async def _apointer(self, name: str, label: str | None) -> int:
        key = LATEST if label is None else label
        cached = self._cache.pointer(name, key)
        if cached is not None and cached[0] > self._cache.now():
            return self._pointed(name, label, cached[1])
        try:
            version = await self.database.aread(_q().pointer, name, label)
        except StorageError as exc:
            return self._stale(name, label, cached, exc)
        self._cache.point(name, key, version)
        return self._pointed(name, label, version)

    def _stale(
        self,
        name: str,
        label: str | None,
        cached: tuple[float, int | None] | None,
        error: StorageError,
    ) -> int:
        """The database failed: the last known version if there is one, else ``error``."""
        if cached is None or cached[1] is None:
            raise error
        _log.warning(
            "prompt %s: the database is unreachable, using version %s from the cache",
            name if label is None else f"{name}:{label}", cached[1],
        )  # fmt: skip
        self._cache.point(name, LATEST if label is None else label, cached[1])
        return cached[1]

    @staticmethod
    def _pointed(name: str, label: str | None, version: int | None) -> int:
        if version is None:
            if label is None:
                raise PromptError(f"no prompt {name!r}", field="prompt", prompt=name)
            raise PromptError(
                f"prompt {name!r} has no label {label!r}", field="prompt", prompt=name
            )
        return version


def _infos(conn: Any) -> list[PromptInfo]:
    labels = _q().label_map(conn)
    return [
        PromptInfo(name=n, latest=v, labels=labels.get(n, {}), created_at=a, updated_at=b)
        for n, v, a, b in _q().summaries(conn)
    ]
