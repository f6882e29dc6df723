"""Prompt experiments: one prompt's traffic split between versions (and optionally
models) by weight, with sticky assignment per user.

Assignment: ``sha256(experiment id + "\\0" + user id)``, its first 8 bytes read as an
integer over 2**64, is a number in [0, 1) that picks the variant whose cumulative
weight range holds it. The same user gets the same variant on every replica and after
restarts, and changing one experiment's weights moves as few users as cumulative
ranges allow. A call without a user id (no ``user=``, no ``usage.tags(user=...)``) is
assigned at random, per request.

Lifecycle: ``start`` (running) -> ``pause`` (calls use the prompt as they would without
the experiment; assignments are kept, since they are a function of the ids) ->
``resume`` -> ``stop`` (for good) or ``promote`` (moves a label to the winning
variant's version, then stops). One prompt has at most one experiment that is not
stopped.

Calls that pin a version (``prompt="NAME@3"``) are never part of an experiment:
pinning is how a caller opts out. Calls by label or plain name are.

The experiment a call looks up is served from an in-process cache refreshed every
``ttl`` seconds (2 s by default), like label resolution: a pause or stop on one process
is seen by every process within that time. The ledger row of an assigned call carries
``prompt_variant = "<experiment id>:<variant name>"``.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from .._json import dumps_str, loads
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.sql import Database

__all__ = [
    "Assignment",
    "Experiment",
    "ExperimentError",
    "ExperimentStatus",
    "ExperimentStore",
    "Variant",
    "assign",
    "bucket",
    "parse_variant",
]

ExperimentStatus = Literal["running", "paused", "stopped"]
DEFAULT_TTL = 2.0
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_TWO_64 = float(2**64)


class ExperimentError(ConfigurationError):
    """An experiment request that cannot be done: an unknown experiment or variant, bad
    weights, a second active experiment on one prompt, a change to a stopped one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One arm: a prompt ``version``, optionally another ``model``, and its ``weight``
    (relative: 50/50 and 1/1 are the same split)."""

    name: str
    version: int
    weight: float = 1.0
    model: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "version": self.version, "weight": self.weight}
        if self.model is not None:
            out["model"] = self.model
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Experiment:
    """An experiment as stored. Times are epoch milliseconds."""

    id: str
    prompt: str
    status: ExperimentStatus
    variants: tuple[Variant, ...]
    created_at: int
    updated_at: int
    created_by: str | None = None
    winner: str | None = None
    promoted_label: str | None = None

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        names = ", ".join(v.name for v in self.variants)
        raise ExperimentError(
            f"experiment {self.id!r} has no variant {name!r} (it has {names})", field="variant"
        )

    def tag(self, variant: Variant) -> str:
        """What the ledger's ``prompt_variant`` says for ``variant``."""
        return f"{self.id}:{variant.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prompt": self.prompt,
            "status": self.status,
            "variants": [v.as_dict() for v in self.variants],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "created_by": self.created_by,
            "winner": self.winner,
            "promoted_label": self.promoted_label,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """Which arm a call runs: the version to render, the model to use (``None``: the
    caller's or the prompt's own), and the ledger tag."""

    experiment: str
    variant: str
    version: int
    model: str | None
    tag: str


def bucket(experiment_id: str, user: str) -> float:
    """The user's fixed point in [0, 1) for this experiment (module docs)."""
    digest = hashlib.sha256(f"{experiment_id}\0{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _TWO_64


def edges(variants: Sequence[Variant]) -> tuple[float, ...]:
    """The cumulative weight shares (each variant's upper end in [0, 1]); the last arm
    with weight ends at exactly 1.0, so rounding never leaves a gap."""
    total = math.fsum(v.weight for v in variants)
    out = []
    edge = 0.0
    for variant in variants:
        edge += variant.weight / total
        out.append(edge)
    last = max(i for i, v in enumerate(variants) if v.weight > 0)
    return tuple(1.0 if i >= last else e for i, e in enumerate(out))


def assign(
    experiment: Experiment,
    user: str | None,
    *,
    rand: Callable[[], float] = random.random,
) -> Variant:
    """The variant ``user`` gets: sticky by :func:`bucket`; random without a user. The
    first variant whose edge is above the point (a zero-weight arm's edge equals the one
    before it, so it is never picked)."""
    point = rand() if user is None else bucket(experiment.id, user)
    return experiment.variants[bisect.bisect_right(edges(experiment.variants), point)]


def parse_variant(text: str) -> Variant:
    """``NAME=VERSION[,weight=W][,model=M]`` (the CLI's ``--variant``)."""
    head, *options = [part.strip() for part in text.split(",")]
    name, sep, version = head.partition("=")
    if not sep or not version.strip().isdigit():
        raise ExperimentError(
            f"--variant {text!r}: expected NAME=VERSION[,weight=W][,model=M], "
            "e.g. control=1,weight=50",
            field="variant",
        )
    fields: dict[str, Any] = {"name": name.strip(), "version": int(version)}
    for option in options:
        key, sep, value = option.partition("=")
        key, value = key.strip(), value.strip()
        if key == "weight" and sep:
            try:
                fields["weight"] = float(value)
            except ValueError:
                raise ExperimentError(
                    f"--variant {text!r}: weight {value!r} is not a number", field="variant"
                ) from None
        elif key == "model" and sep and value:
            fields["model"] = value
        else:
            raise ExperimentError(
                f"--variant {text!r}: unknown option {option!r} (weight=W or model=M)",
                field="variant",
            )
    return Variant(**fields)


def _checked(prompt: str, variants: Sequence[Variant | Mapping[str, Any]]) -> tuple[Variant, ...]:
    out = tuple(v if isinstance(v, Variant) else Variant(**v) for v in variants)
    if len(out) < 2:
        raise ExperimentError(
            f"an experiment on {prompt!r} needs at least two variants", field="variants"
        )
    names = [v.name for v in out]
    for v in out:
        if not _ID.fullmatch(v.name):
            raise ExperimentError(
                f"variant name {v.name!r}: letters, digits, '_', '.', '-', at most 40",
                field="variants",
            )
        if names.count(v.name) > 1:
            raise ExperimentError(f"variant {v.name!r} is named twice", field="variants")
        if not (isinstance(v.weight, int | float) and math.isfinite(v.weight) and v.weight >= 0):
            raise ExperimentError(
                f"variant {v.name!r}: weight must be a number >= 0", field="variants"
            )
        if isinstance(v.version, bool) or not isinstance(v.version, int) or v.version < 1:
            raise ExperimentError(
                f"variant {v.name!r}: version must be a positive integer", field="variants"
            )
    if not any(v.weight > 0 for v in out):
        raise ExperimentError("at least one variant needs a weight above 0", field="variants")
    return tuple(replace(v, weight=float(v.weight)) for v in out)


# ---- SQL rows


def _from_row(row: Any) -> Experiment:  # a RowMapping
    return Experiment(
        id=row["id"],
        prompt=row["prompt_name"],
        status=row["status"],
        variants=tuple(Variant(**v) for v in loads(row["variants"])),
        created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]),
        created_by=row["created_by"],
        winner=row["winner"],
        promoted_label=row["promoted_label"],
    )


def _select(conn: Connection, experiment_id: str) -> Experiment | None:
    from sqlalchemy import select

    from ..storage.sql.schema import prompt_experiments as t

    row = conn.execute(select(t).where(t.c.id == experiment_id)).mappings().first()
    return None if row is None else _from_row(row)


def _active(conn: Connection, prompt: str) -> Experiment | None:
    from sqlalchemy import select

    from ..storage.sql.schema import prompt_experiments as t

    query = select(t).where(t.c.prompt_name == prompt, t.c.status != "stopped")
    row = conn.execute(query.order_by(t.c.created_at.desc())).mappings().first()
    return None if row is None else _from_row(row)


def _list(conn: Connection, prompt: str | None) -> list[Experiment]:
    from sqlalchemy import select

    from ..storage.sql.schema import prompt_experiments as t

    query = select(t)
    if prompt is not None:
        query = query.where(t.c.prompt_name == prompt)
    rows = conn.execute(query.order_by(t.c.created_at, t.c.id)).mappings()
    return [_from_row(r) for r in rows]


def _check_versions(conn: Connection, experiment: Experiment) -> None:
    """Every variant's version exists: a typo would otherwise fail the calls, later."""
    from sqlalchemy import select

    from ..storage.sql.schema import prompt_versions as pv

    wanted = {v.version for v in experiment.variants}
    query = select(pv.c.version, pv.c.content).where(
        pv.c.name == experiment.prompt, pv.c.version.in_(wanted)
    )
    contents: dict[int, str] = {int(r.version): r.content for r in conn.execute(query)}
    missing = sorted(wanted - set(contents))
    if missing:
        raise ExperimentError(
            f"prompt {experiment.prompt!r} has no version {missing[0]} (variants must name "
            "saved versions: llmswitch prompts list NAME)",
            field="variants",
        )
    _check_same_variables(experiment.prompt, contents)


def _check_same_variables(prompt: str, contents: Mapping[int, str]) -> None:
    """Every arm takes the same variables: the caller passes one set of ``variables=``
    to whichever arm a user lands on, so an arm taking others would fail every call."""
    from .template import CompiledPrompt, PromptTemplate

    taken: dict[int, tuple[frozenset[str], frozenset[str]]] = {}
    for version, content in sorted(contents.items()):
        template = PromptTemplate.from_content(loads(content), source=f"{prompt}@{version}")
        compiled = CompiledPrompt(template)
        taken[version] = (compiled.required, compiled.known)
    first, (required, known) = next(iter(taken.items()))
    for version, (other_required, other_known) in taken.items():
        if (other_required, other_known) != (required, known):
            differing = sorted((required ^ other_required) | (known ^ other_known))
            raise ExperimentError(
                f"prompt {prompt!r}: versions {first} and {version} take different variables "
                f"({', '.join(differing)} differ: {first} takes "
                f"{', '.join(sorted(known)) or 'none'}, {version} takes "
                f"{', '.join(sorted(other_known)) or 'none'}); every variant must take the "
                "same variables",
                field="variants",
            )


def _insert(conn: Connection, experiment: Experiment) -> Experiment:
    from ..storage.sql.schema import prompt_experiments as t

    _check_versions(conn, experiment)  # what was asked first, then what it conflicts with
    if _select(conn, experiment.id) is not None:
        raise ExperimentError(f"experiment {experiment.id!r} exists already", field="id")
    active = _active(conn, experiment.prompt)
    if active is not None:
        raise ExperimentError(
            f"prompt {experiment.prompt!r} already has experiment {active.id!r} "
            f"({active.status}); stop it first",
            field="prompt",
        )
    conn.execute(
        t.insert().values(
            id=experiment.id,
            prompt_name=experiment.prompt,
            status=experiment.status,
            variants=dumps_str([v.as_dict() for v in experiment.variants]),
            created_at=experiment.created_at,
            updated_at=experiment.updated_at,
            created_by=experiment.created_by,
        )
    )
    return experiment


def _transition(
    conn: Connection,
    experiment_id: str,
    status: ExperimentStatus,
    now: int,
    winner: str | None,
    label: str | None,
) -> Experiment:
    from ..storage.sql.schema import prompt_experiments as t

    current = _select(conn, experiment_id)
    if current is None:
        raise ExperimentError(f"no experiment {experiment_id!r}", field="id")
    if current.status == "stopped":
        raise ExperimentError(f"experiment {experiment_id!r} is stopped already", field="id")
    if winner is not None:
        current.variant(winner)  # raises for an unknown name
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if winner is not None:
        values["winner"] = winner
    if label is not None:
        values["promoted_label"] = label
    conn.execute(t.update().where(t.c.id == experiment_id).values(**values))
    return replace(current, status=status, updated_at=now, winner=winner or current.winner,
                   promoted_label=label or current.promoted_label)  # fmt: skip


def _plan(experiment: Experiment) -> tuple[Experiment, tuple[float, ...], tuple[Assignment, ...]]:
    arms = tuple(
        Assignment(experiment=experiment.id, variant=v.name, version=v.version, model=v.model,
                   tag=experiment.tag(v))
        for v in experiment.variants
    )  # fmt: skip
    return experiment, edges(experiment.variants), arms


class ExperimentStore:
    """Experiments in the SQL database ``database``. ``ttl``: how long a process keeps
    a prompt's active experiment before looking again (seconds); ``clock``: monotonic
    seconds (a fake in tests); ``move_label``: how :meth:`promote` moves a label
    (``PromptStore.label``). Thread-safe."""

    def __init__(
        self,
        database: Database,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        move_label: Callable[[str, int, str], object] | None = None,
    ) -> None:
        self.database = database
        self._move_label = move_label
        self.ttl = ttl
        self._clock = clock
        self._rand = rand
        self._cache: dict[str, tuple[float, Experiment | None]] = {}
        # experiment id -> (that experiment, its edges, an Assignment per variant)
        self._plans: dict[str, tuple[Experiment, tuple[float, ...], tuple[Assignment, ...]]] = {}
        self._lock = threading.Lock()

    # ---- changes

    def start(
        self,
        prompt: str,
        variants: Iterable[Variant | Mapping[str, Any]],
        *,
        id: str | None = None,
        author: str | None = None,
    ) -> Experiment:
        """A new running experiment on ``prompt``. ``id``: its name (default
        ``exp-`` + 8 hex digits), part of every assignment's hash."""
        import secrets

        from ..storage.sql import now_ms

        checked = _checked(prompt, list(variants))
        experiment_id = id if id is not None else f"exp-{secrets.token_hex(4)}"
        if not _ID.fullmatch(experiment_id):
            raise ExperimentError(
                f"experiment id {experiment_id!r}: letters, digits, '_', '.', '-', at most 40",
                field="id",
            )
        now = now_ms()
        experiment = Experiment(
            id=experiment_id, prompt=prompt, status="running", variants=checked,
            created_at=now, updated_at=now, created_by=author,
        )  # fmt: skip
        self.database.run(_insert, experiment)
        self._forget(prompt)
        return experiment

    def pause(self, experiment_id: str) -> Experiment:
        return self._set(experiment_id, "paused")

    def resume(self, experiment_id: str) -> Experiment:
        return self._set(experiment_id, "running")

    def stop(self, experiment_id: str, *, winner: str | None = None) -> Experiment:
        return self._set(experiment_id, "stopped", winner=winner)

    def promote(
        self,
        experiment_id: str,
        variant: str,
        *,
        label: str = "production",
        move_label: Callable[[str, int, str], object] | None = None,
    ) -> Experiment:
        """Move ``label`` of the prompt to ``variant``'s version (``move_label(name,
        version, label)``, default the one this store was made with: the prompt
        store's ``label`` for ``client.prompts.experiments``), then stop the experiment
        with ``variant`` as its winner. A variant that changed the model: the label
        moves to its version only; the model is the caller's to change."""
        mover = move_label if move_label is not None else self._move_label
        if mover is None:
            raise ExperimentError(
                "promote needs move_label= (e.g. PromptStore.label) on a store made without one",
                field="move_label",
            )
        experiment = self.get(experiment_id)
        chosen = experiment.variant(variant)
        if experiment.status == "stopped":
            raise ExperimentError(f"experiment {experiment_id!r} is stopped already", field="id")
        mover(experiment.prompt, chosen.version, label)
        return self._set(experiment_id, "stopped", winner=variant, label=label)

    def _set(
        self,
        experiment_id: str,
        status: ExperimentStatus,
        *,
        winner: str | None = None,
        label: str | None = None,
    ) -> Experiment:
        from ..storage.sql import now_ms

        done = self.database.run(_transition, experiment_id, status, now_ms(), winner, label)
        self._forget(done.prompt)
        return done

    # ---- reading

    def get(self, experiment_id: str) -> Experiment:
        found = self.database.read(_select, experiment_id)
        if found is None:
            raise ExperimentError(f"no experiment {experiment_id!r}", field="id")
        return found

    def list(self, prompt: str | None = None) -> list[Experiment]:
        """Every experiment (of ``prompt``), oldest first."""
        return self.database.read(_list, prompt)

    def active(self, prompt: str) -> Experiment | None:
        """``prompt``'s running or paused experiment, from the cache when fresh."""
        now = self._clock()
        cached = self._cache.get(prompt)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = self.database.read(_active, prompt)
        self._remember(prompt, now, found)
        return found

    async def aactive(self, prompt: str) -> Experiment | None:
        """:meth:`active` without blocking the event loop."""
        now = self._clock()
        cached = self._cache.get(prompt)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self.database.aread(_active, prompt)
        self._remember(prompt, now, found)
        return found

    def choose(self, prompt: str, user: str | None) -> Assignment | None:
        """The arm a call of ``prompt`` by ``user`` runs, or ``None`` (no running
        experiment: the call resolves the prompt as usual)."""
        return self.assignment(self.active(prompt), user)

    async def achoose(self, prompt: str, user: str | None) -> Assignment | None:
        return self.assignment(await self.aactive(prompt), user)

    def assignment(self, experiment: Experiment | None, user: str | None) -> Assignment | None:
        """The arm of ``experiment`` for ``user`` (``None`` unless it is running). Per
        call: one sha256 and a bisect; the arms are built once per experiment."""
        if experiment is None or experiment.status != "running":
            return None
        plan = self._plans.get(experiment.id)
        if plan is None or plan[0] is not experiment:
            plan = self._plans[experiment.id] = _plan(experiment)
        point = self._rand() if user is None else bucket(experiment.id, user)
        return plan[2][bisect.bisect_right(plan[1], point)]

    def _remember(self, prompt: str, now: float, found: Experiment | None) -> None:
        with self._lock:
            if len(self._cache) > 4096:  # bounded: prompt names are few, but be safe
                self._cache.clear()
                self._plans.clear()
            self._cache[prompt] = (now + self.ttl, found)

    def _forget(self, prompt: str) -> None:
        with self._lock:
            self._cache.pop(prompt, None)
