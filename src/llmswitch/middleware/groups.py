"""Model groups: deployments called under one name, which the router picks from.

:class:`Deployment` and :class:`ModelGroup` are the router's settings; :func:`derive_group`
turns one ``[models.<name>]`` table of ``llmswitch.toml`` into a :class:`ModelGroup`
(deployment ids, ``provider/model`` through aliases, per-deployment timeout and rpm/tpm,
a provider derived for a deployment with its own ``base_url``/``api_key``). The file
itself is read by :mod:`llmswitch.config`, which hands a :class:`Reader` over it and
turns each :class:`GroupError` into a ``file:line: key: message`` error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..providers.registry import builtin_kind
from ..providers.settings import PROVIDER_ID, ProviderConfig, is_http_url
from ..wire import Secret, Timeout

__all__ = [
    "DEPLOYMENT_KEYS",
    "FALLBACK_ON",
    "GROUP_KEYS",
    "STRATEGIES",
    "Deployment",
    "GroupError",
    "ModelGroup",
    "Reader",
    "derive_group",
    "key_owner",
]

STRATEGIES: tuple[str, ...] = ("ordered", "weighted", "least-busy", "lowest-latency", "lowest-cost")
FALLBACK_ON: tuple[str, ...] = ("retryable", "context_length", "content_filter")
GROUP_KEYS = ("strategy", "fallback_on", "deployments")
DEPLOYMENT_KEYS = (
    "model", "id", "weight", "priority", "timeout", "rpm", "tpm", "base_url", "api_key"
)  # fmt: skip

KeyPath = tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """One ``[[models.<group>.deployments]]`` entry. ``model`` is ``provider/model`` (an
    alias is resolved at load time); ``id`` names it within its group (default: ``model``,
    ``model#n`` for repeats). ``timeout``: seconds (total) or a dict of
    connect/first_token/total, laid over the call's timeout for this deployment.
    ``rpm``/``tpm``: this deployment's own requests/tokens per minute (``None``: none).
    ``endpoint``: the provider id calls go to when the entry sets its own
    ``base_url``/``api_key`` (``<provider>@<group>#<n>``, a provider derived at load
    time from ``<provider>`` with those overrides); ``None``: ``provider``."""

    model: str
    id: str = ""
    weight: float = 1.0
    priority: int = 0
    timeout: float | Mapping[str, float] | None = None
    rpm: int | None = None
    tpm: int | None = None
    endpoint: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", self.model)

    @property
    def provider(self) -> str:
        return self.model.partition("/")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelGroup:
    """``[models.<name>]``: deployments called under one name, picked by ``strategy``;
    ``fallback_on`` says which failures move on to the next deployment."""

    name: str
    deployments: tuple[Deployment, ...]
    strategy: str = "ordered"
    fallback_on: frozenset[str] = frozenset({"retryable"})

    @property
    def primary(self) -> Deployment:
        """The deployment tried first under ``ordered``: lowest priority, then file order."""
        return min(self.deployments, key=lambda d: d.priority)


class GroupError(Exception):
    """What is wrong with a ``[models.<name>]`` entry, and the key path where."""

    def __init__(self, path: KeyPath, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


class Reader(Protocol):
    """What the derivation needs of the file it reads: strings with ``${VAR}`` resolved,
    a checked timeout, a value's type as the file spells it ("a table"), and the
    ``file:line`` of a key (the ``source`` of a derived provider). Its methods raise
    their own errors."""

    def string(self, value: Any, path: KeyPath) -> str: ...
    def timeout(self, value: Any, path: KeyPath) -> Timeout: ...
    def type_name(self, value: Any) -> str: ...
    def source(self, path: KeyPath) -> str: ...


def key_owner(provider_id: str) -> str:
    """The provider whose keys ``provider_id`` uses: a deployment's derived provider
    ``<provider>@<group>#<n>`` is ``<provider>`` with another endpoint, so a user's
    stored key and the stored shared keys of ``<provider>`` are its keys too (they are
    stored, and the CLI takes them, under ``<provider>``; ``@`` is never in an id)."""
    return provider_id.partition("@")[0]


def derive_group(
    name: str,
    raw: Mapping[str, Any],
    read: Reader,
    aliases: Mapping[str, str],
    providers: MutableMapping[str, ProviderConfig],
) -> ModelGroup:
    """The group ``[models.<name>]`` (``raw``); providers derived for deployments with
    their own endpoint are added to ``providers``. Raises :class:`GroupError`."""
    where = ("models", name)
    if "/" in name or not name.strip():
        raise GroupError(where, "a model group name must not be empty or contain '/'")
    if name in aliases:
        raise GroupError(where, f"{name!r} is already an alias: a name is one or the other")
    _known(raw, where, GROUP_KEYS, "model group")
    strategy = read.string(raw.get("strategy", "ordered"), (*where, "strategy"))
    if strategy not in STRATEGIES:
        raise GroupError(
            (*where, "strategy"),
            f"unknown strategy {strategy!r} (expected one of {', '.join(STRATEGIES)})",
        )
    fallback_raw = raw.get("fallback_on", ["retryable"])
    if not isinstance(fallback_raw, list):
        raise GroupError(
            (*where, "fallback_on"), f"expected an array, got {read.type_name(fallback_raw)}"
        )
    fallback_on: set[str] = set()
    for item in fallback_raw:
        if item not in FALLBACK_ON:
            shown = repr(item) if isinstance(item, str) else read.type_name(item)
            raise GroupError(
                (*where, "fallback_on"),
                f"unknown value {shown} (expected any of {', '.join(FALLBACK_ON)})",
            )
        fallback_on.add(item)
    items = raw.get("deployments")
    if items is None:
        raise GroupError(where, "a model group needs [[deployments]] (at least one)")
    if not isinstance(items, list) or not items:
        raise GroupError(
            (*where, "deployments"), "expected a non-empty array of tables [[...deployments]]"
        )
    deployments: list[Deployment] = []
    ids: set[str] = set()
    for i, item in enumerate(items):
        at = (*where, "deployments", f"[{i}]")
        d = _deployment(item, at, read, aliases)
        if "base_url" in item or "api_key" in item:
            d = _endpoint(d, item, at, read, f"{d.provider}@{name}#{i}", providers)
        if d.id in ids:
            if "id" in item:
                raise GroupError((*at, "id"), f"duplicate id {d.id!r}")
            d = dataclasses.replace(d, id=f"{d.model}#{i}")
        ids.add(d.id)
        deployments.append(d)
    return ModelGroup(
        name=name,
        deployments=tuple(deployments),
        strategy=strategy,
        fallback_on=frozenset(fallback_on),
    )


def _known(raw: Mapping[str, Any], where: KeyPath, keys: tuple[str, ...], what: str) -> None:
    for key in raw:
        if key not in keys:
            raise GroupError(
                (*where, key), f"unknown {what} setting (expected one of {', '.join(keys)})"
            )


def _deployment(raw: Any, where: KeyPath, read: Reader, aliases: Mapping[str, str]) -> Deployment:
    if not isinstance(raw, dict):
        raise GroupError(where, f"expected a table, got {read.type_name(raw)}")
    _known(raw, where, DEPLOYMENT_KEYS, "deployment")
    if "model" not in raw:
        raise GroupError(where, "a deployment needs model = 'provider/model'")
    model = read.string(raw["model"], (*where, "model"))
    model = aliases.get(model, model)
    provider, _, name = model.partition("/")
    if not PROVIDER_ID.fullmatch(provider) or not name:
        raise GroupError((*where, "model"), f"{model!r} is neither 'provider/model' nor an alias")
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
        raise GroupError((*where, "weight"), "must be a number > 0")
    priority = raw.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise GroupError(
            (*where, "priority"), f"expected an integer, got {read.type_name(priority)}"
        )
    timeout: float | dict[str, float] | None = None
    if "timeout" in raw:
        read.timeout(raw["timeout"], (*where, "timeout"))
        value = raw["timeout"]
        timeout = dict(value) if isinstance(value, dict) else float(value)
    limits: dict[str, int] = {}
    for key in ("rpm", "tpm"):
        value = raw.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GroupError((*where, key), "must be an integer >= 1")
            limits[key] = value
    dep_id = read.string(raw["id"], (*where, "id")) if "id" in raw else model
    if not dep_id:
        raise GroupError((*where, "id"), "must not be empty")
    return Deployment(
        model=model, id=dep_id, weight=float(weight), priority=priority, timeout=timeout,
        rpm=limits.get("rpm"), tpm=limits.get("tpm"),
    )  # fmt: skip


def _endpoint(
    d: Deployment,
    raw: Mapping[str, Any],
    where: KeyPath,
    read: Reader,
    endpoint_id: str,
    providers: MutableMapping[str, ProviderConfig],
) -> Deployment:
    """``d`` sent to a provider derived from its own with the entry's
    ``base_url``/``api_key``; that provider is added to ``providers``."""
    pid = d.provider
    base = providers.get(pid)
    kind = base.effective_kind if base is not None else builtin_kind(pid)
    if kind is None:
        raise GroupError(
            (*where, "model"),
            f"unknown provider {pid!r}: declare [providers.{pid}] (with its kind) "
            "for a deployment to override its base_url/api_key",
        )
    derived = base or ProviderConfig(id=pid)
    changes: dict[str, Any] = {"id": endpoint_id, "kind": kind, "source": read.source(where)}
    if "base_url" in raw:
        url = read.string(raw["base_url"], (*where, "base_url"))
        if not is_http_url(url):
            # Not echoed: a URL may carry credentials (https://user:pass@host).
            raise GroupError((*where, "base_url"), "must be an http:// or https:// URL")
        changes["base_url"] = url
    if "api_key" in raw:
        key = read.string(raw["api_key"], (*where, "api_key"))
        changes["api_key"] = Secret(key) if key else None  # "${KEY:-}" -> no key
        changes["keys"] = ()  # the deployment's own key replaces the provider's pool
    if kind == "openai-compatible" and not changes.get("base_url", derived.base_url):
        raise GroupError(where, "kind 'openai-compatible' needs base_url")
    endpoint = dataclasses.replace(derived, **changes)
    providers[endpoint.id] = endpoint
    return dataclasses.replace(d, endpoint=endpoint.id)
