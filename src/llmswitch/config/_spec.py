"""The shape of ``llmswitch.toml``, declared once: every section, its keys and their
types. The validator takes its key lists (and the checks of the plain sections) from
here and :func:`llmswitch.config.schema.json_schema` turns the same tree into a JSON
Schema, so the schema cannot drift from what the loader accepts.

Where a section builds the settings type of a lower layer, that type stays the source
of its keys: the retry, breaker, limit and quota tables are derived from their
dataclasses' fields and type hints; provider, timeout, model group and deployment keys
are declared here with their types, and :func:`_described` refuses (at import, so a
test fails at once) a description whose keys differ from the fields or key lists the
validator checks against.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

from ..middleware.breaker import BreakerPolicy
from ..middleware.groups import DEPLOYMENT_KEYS, FALLBACK_ON, GROUP_KEYS, STRATEGIES
from ..middleware.ratelimit import Limit, Quota
from ..middleware.retry import RetryPolicy
from ..providers.registry import kinds
from ..providers.settings import ProviderConfig
from ..wire import Timeout

__all__ = [
    "ROOT", "SETTINGS", "YEAR", "AnyOf", "ArrayOf", "Named", "Node", "Ref", "Table", "Value",
    "settable",
]  # fmt: skip

ValueType = Literal["string", "boolean", "integer", "number"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Value:
    """A scalar. ``interpolated``: a string read through ``${VAR}`` (so a reference is
    as valid as a literal); ``secret``: never shown (errors, audit diffs)."""

    type: ValueType
    doc: str = ""
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    interpolated: bool = False
    secret: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """A table with fixed keys. ``what`` names it in "unknown <what> setting"."""

    keys: Mapping[str, Node]
    doc: str = ""
    what: str = ""
    required: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Named:
    """A table whose keys are names the user picks (``[providers.<id>]``)."""

    value: Node
    doc: str = ""
    pattern: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayOf:
    item: Node
    doc: str = ""
    min_items: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AnyOf:
    options: tuple[Node, ...]
    doc: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ref:
    """The table :data:`SETTINGS` (an ``[env.NAME]`` overlay has the same keys)."""

    doc: str = ""


Node = Value | Table | Named | ArrayOf | AnyOf | Ref


def settable(cls: Any, *exclude: str) -> tuple[str, ...]:
    """The keys a section may set: the fields of the dataclass it builds."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.init and f.name not in exclude)


def _described(keys: tuple[str, ...], described: Mapping[str, Node], what: str) -> dict[str, Node]:
    """``described`` in the order of ``keys``, the validator's list; any difference is a
    bug in this module, raised when it is imported."""
    if set(keys) != set(described):
        missing = sorted(set(keys) - set(described))
        extra = sorted(set(described) - set(keys))
        raise AssertionError(f"{what}: keys not described {missing}, described but unknown {extra}")
    return {k: described[k] for k in keys}


def _value_of(hint: Any, doc: str) -> Value:
    """A dataclass field's type hint as a :class:`Value` (``None`` dropped: a TOML key
    is either set or absent)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _value_of(rest[0], doc)
    if typing.get_origin(hint) is Literal:
        return Value(type="string", doc=doc, enum=tuple(str(a) for a in args))
    scalar: Mapping[Any, ValueType] = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
    }
    if hint in scalar:
        return Value(type=scalar[hint], doc=doc)
    raise AssertionError(f"no TOML type for {hint!r}")


# A year of seconds is beyond any sane wait, and keeps sleeps and timers from overflowing.
YEAR = 365 * 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Bounds:
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None


# The bounds of the policies' numeric fields: what their dataclasses check (the lower
# bounds) and what the file may set (the upper ones). The validator checks the upper
# ones for the whole file, the dataclasses the lower ones as a section is built, the
# schema states both, and a test holds the schema and the validator to each other.
_BOUNDS: Mapping[Any, Mapping[str, _Bounds]] = {
    RetryPolicy: {
        "attempts": _Bounds(minimum=1, maximum=100),
        "initial": _Bounds(minimum=0, maximum=YEAR),
        "multiplier": _Bounds(minimum=1, maximum=100),
        "max_delay": _Bounds(minimum=0, maximum=YEAR),
        "deadline": _Bounds(minimum=0, maximum=YEAR),
        "max_retry_after": _Bounds(minimum=0, maximum=YEAR),
    },
    BreakerPolicy: {
        "window": _Bounds(exclusive_minimum=0, maximum=YEAR),
        "buckets": _Bounds(minimum=1, maximum=10_000),
        "min_calls": _Bounds(minimum=1),
        "failure_rate": _Bounds(exclusive_minimum=0, maximum=1),
        "cooldown": _Bounds(exclusive_minimum=0, maximum=YEAR),
        "half_open_probes": _Bounds(minimum=1),
    },
    Limit: {"requests_per_minute": _Bounds(minimum=1), "tokens_per_minute": _Bounds(minimum=1)},
    Quota: {"requests": _Bounds(minimum=1), "tokens": _Bounds(minimum=1)},
}


def _policy(cls: Any, doc: str, *exclude: str, required: tuple[str, ...] = ()) -> Table:
    hints = typing.get_type_hints(cls)
    bounds = _BOUNDS[cls]
    keys: dict[str, Node] = {}
    for k in settable(cls, *exclude):
        value = _value_of(hints[k], "")
        if value.type in ("integer", "number"):
            if k not in bounds:  # a new numeric field must say what it accepts
                raise AssertionError(f"{cls.__name__}.{k}: no bounds in _BOUNDS")
            limits = bounds[k]
            value = dataclasses.replace(
                value, minimum=limits.minimum, exclusive_minimum=limits.exclusive_minimum,
                maximum=limits.maximum,
            )  # fmt: skip
        keys[k] = value
    return Table(keys=keys, doc=doc, required=required)


def _seconds(doc: str, *, exclusive: bool = True) -> Value:
    if exclusive:
        return Value(type="number", doc=doc, exclusive_minimum=0, maximum=YEAR)
    return Value(type="number", doc=doc, minimum=0, maximum=YEAR)


def _string(doc: str, *, enum: tuple[str, ...] = (), secret: bool = False) -> Value:
    return Value(type="string", doc=doc, enum=enum, interpolated=True, secret=secret)


_STATE_POLICIES = ("fail_open", "fail_closed")
KEY_STRATEGIES = ("round-robin", "least-used")

TIMEOUT_TABLE = Table(
    keys=_described(
        settable(Timeout),
        {
            "connect": _seconds("seconds to establish the connection"),
            "first_token": _seconds("seconds from sending to the first stream event"),
            "total": _seconds("seconds for the whole call"),
        },
        "timeout",
    ),
    what="timeout",
)
TIMEOUT = AnyOf(
    options=(_seconds("seconds (total)"), TIMEOUT_TABLE),
    doc="seconds (the total), or a table of connect/first_token/total",
)

PROVIDER = Table(
    keys=_described(
        settable(ProviderConfig, "id", "source"),  # id: the table's name; source: where read
        {
            "kind": _string("wire kind (a built-in id's own kind when absent)", enum=kinds()),
            "base_url": _string("http:// or https:// URL of the API"),
            "api_key": _string("the API key (use ${VAR})", secret=True),
            "api_version": _string("Azure API version (kind azure)"),
            "organization": _string("OpenAI organization (kind openai, openai-compatible)"),
            "project": _string("Google Cloud project (kind vertex)"),
            "location": _string("Vertex AI location: global, us-central1... (kind vertex)"),
            "credentials_file": _string(
                "Google credentials JSON file, relative to this file (kind vertex)"
            ),
            "fim": _string(
                "code completion route (kind openai-compatible): completions (/completions"
                " with suffix), infill (llama.cpp /infill) or chat (the chat fallback)",
                enum=("completions", "infill", "chat"),
            ),
            "headers": Named(
                value=_string("header value", secret=True),
                doc="extra HTTP headers sent on every request",
                pattern=r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$",
            ),
            "timeout": TIMEOUT,
            "keys": ArrayOf(
                item=_string("an API key", secret=True),
                doc="a key pool instead of api_key",
                min_items=1,
            ),
            "key_strategy": _string("how the pool picks a key", enum=KEY_STRATEGIES),
            "on_state_error": _string(
                "the key pool's behaviour when the state store fails", enum=_STATE_POLICIES
            ),
        },
        "provider",
    ),
    doc="one provider: a built-in id, or any id with a kind",
    what="provider",
)

DEPLOYMENT = Table(
    keys=_described(
        DEPLOYMENT_KEYS,
        {
            "model": _string("'provider/model' or an alias"),
            "id": _string("name within the group (default: the model)"),
            "weight": Value(
                type="number", doc="share under 'weighted'", exclusive_minimum=0, maximum=1e6
            ),
            "priority": Value(type="integer", doc="order under 'ordered' (lower first)"),
            "timeout": TIMEOUT,
            "rpm": Value(type="integer", doc="this deployment's requests per minute", minimum=1),
            "tpm": Value(type="integer", doc="this deployment's tokens per minute", minimum=1),
            "base_url": _string("this deployment's own base URL"),
            "api_key": _string("this deployment's own API key", secret=True),
        },
        "deployment",
    ),
    what="deployment",
    required=("model",),
)

GROUP = Table(
    keys=_described(
        GROUP_KEYS,
        {
            "strategy": _string("how a deployment is picked", enum=STRATEGIES),
            "fallback_on": ArrayOf(
                item=Value(type="string", enum=FALLBACK_ON),
                doc="which failures move on to the next deployment",
            ),
            "deployments": ArrayOf(item=DEPLOYMENT, min_items=1),
        },
        "model group",
    ),
    doc="a model group: deployments called under one name",
    what="model group",
    required=("deployments",),
)

STATE = Table(
    keys={
        "url": _string("memory:// (default) or redis://host:port/db, rediss://, unix://"),
        "secret": _string("HMAC secret for key names in the store", secret=True),
    },
    doc="the shared state store of breakers, limits and key pools",
)
QUEUE = Table(keys={"max_wait": _seconds("seconds a call may wait for capacity", exclusive=False)})
STORAGE = Table(
    keys={
        "database_url": _string(
            "sqlite:///path or postgresql://... (default: $LLMSWITCH_DATABASE_URL, then "
            "sqlite:///$LLMSWITCH_HOME/llmswitch.db)",
        ),
    },
    doc="the SQL database of keys and the audit log",
)
KEYS = Table(
    keys={
        "kek": _string(
            "key-encryption key: local: (LLMSWITCH_MASTER_KEY), local:/path/to/keyfile, "
            "gcp-kms://projects/..., aws-kms://arn:aws:kms:..."
        ),
        "require_user_keys": Value(
            type="boolean", doc="a call with user= must use that user's stored key"
        ),
        "cache_ttl": _seconds("seconds a decrypted key stays cached in memory"),
        "refresh": _seconds("seconds between re-reads of the stored keys"),
    },
    doc="the encrypted key vault",
)
CONFIG = Table(
    keys={"watch": Value(type="boolean", doc="reload this file when it changes (polled ~1 s)")},
    doc="how this file is read",
)
USAGE = Table(
    keys={
        "enabled": Value(
            type="boolean",
            doc=(
                "true: record usage even without an explicit database (then the default"
                " SQLite file); false: never record, even with a database configured"
            ),
        ),
        "journal": _string(
            "directory of the local journal (default $LLMSWITCH_HOME/usage-journal)"
        ),
        "flush_interval": Value(
            type="number",
            doc="seconds between ledger commits (default 0.5)",
            exclusive_minimum=0,
            maximum=1,
        ),
        "queue_cap": Value(
            type="integer",
            doc="records kept in memory before spilling to the journal",
            minimum=1,
            maximum=10_000_000,
        ),
    },
    doc="the usage ledger (llmswitch.usage)",
)
CACHE_SEMANTIC = Table(
    keys={
        "model": _string("the embedding model (provider/model or an alias)"),
        "threshold": Value(
            type="number",
            doc="cosine similarity at or above which a stored answer is served (default 0.95)",
            exclusive_minimum=0,
            maximum=1,
        ),
        "max_entries": Value(
            type="integer",
            doc="vectors kept per partition (tenant, model, context; default 1000)",
            minimum=1,
            maximum=1_000_000,
        ),
        "dimensions": Value(
            type="integer", doc="shorter vectors where the model can", minimum=1, maximum=65_536
        ),
    },
    doc="the opt-in semantic cache (llmswitch.cache.semantic)",
    required=("model",),
)
CACHE = Table(
    keys={
        "url": _string("memory:// (default, this process) or redis://host:port/db (shared)"),
        "ttl": _seconds("seconds an entry is served (default 3600)"),
        "max_entries": Value(
            type="integer",
            doc="memory://: entries kept (default 10000)",
            minimum=1,
            maximum=100_000_000,
        ),
        "max_bytes": Value(
            type="integer",
            doc="memory://: bytes kept (default 64 MiB)",
            minimum=1024,
            maximum=1 << 40,
        ),
        "cache_sampled": Value(
            type="boolean", doc="also cache calls that sample (temperature > 0 or unset)"
        ),
        "replay_pace": Value(
            type="boolean", doc="stream hits replay at the pace the answer first came"
        ),
        "coalesce": Value(
            type="boolean", doc="identical concurrent misses share one upstream call (default true)"
        ),
        "lock_timeout": _seconds("seconds a Redis coalescing lock is held at most (default 30)"),
        "prefix": _string("Redis key prefix (default llmswitch:cache:)"),
        "semantic": CACHE_SEMANTIC,
    },
    doc="the response cache (llmswitch.cache)",
)

GATEWAY = Table(
    keys={
        "host": _string("address `llmswitch serve` binds (default 127.0.0.1)"),
        "port": Value(type="integer", doc="port (default 4000)", minimum=0, maximum=65_535),
        "workers": Value(
            type="integer", doc="server processes (default 1)", minimum=1, maximum=512
        ),
        "public_metrics": Value(
            type="boolean", doc="serve /metrics without the admin key (default false)"
        ),
        "max_body_bytes": Value(
            type="integer",
            doc="largest request body accepted (default 32 MiB)",
            minimum=1024,
            maximum=1 << 32,
        ),
        "heartbeat_seconds": _seconds("SSE keep-alive after this long without an event (15)"),
        "shutdown_grace_seconds": _seconds("time in-flight requests get on shutdown (30)"),
        "access_log": Value(type="boolean", doc="one JSON line per request (default true)"),
    },
    doc="the HTTP gateway, `llmswitch serve` (llmswitch.gateway)",
)

BUDGET = Table(
    keys={
        "scope": _string(
            "global, user:NAME, team:NAME, key:ID, provider:ID or model:NAME (what it counts)"
        ),
        "period": _string("UTC calendar period (default month)", enum=("day", "month")),
        # At most a million USD a period: Redis counts in Lua doubles, exact to 2**53 nano-USD.
        "limit_usd": Value(
            type="number", doc="spend limit per period in USD", minimum=0, maximum=1_000_000
        ),
        "alert_at": ArrayOf(
            item=Value(
                type="number", doc="a fraction of the limit", exclusive_minimum=0, maximum=10
            ),
            doc="fractions of the limit announced once per period (default [0.5, 0.8, 1.0])",
        ),
        "action": _string(
            "block: refuse calls past the limit; alert: only notify", enum=("block", "alert")
        ),
        "webhook": _string("this budget's alerts go here instead of [alerts] webhook"),
        "reservation_ttl": Value(
            type="number",
            doc="seconds a crashed call's reservation holds (default 600)",
            exclusive_minimum=0,
            maximum=86400,
        ),
    },
    doc="a spend budget",
    what="budget",
    required=("scope", "limit_usd"),
)
ALERTS = Table(
    keys={
        "webhook": _string("http(s) URL the budget alerts are POSTed to (JSON)"),
        "secret": _string("HMAC-SHA256 key of the X-LLMSwitch-Signature header", secret=True),
    },
    doc="where budget alerts go",
)

_PRICE_DOC = "USD per million tokens"
_CAPABILITY_NAMES = (
    "chat",
    "streaming",
    "tools",
    "vision",
    "reasoning",
    "embeddings",
    "code_completion",
)


def _price(what: str) -> Value:
    return Value(type="number", doc=f"{what}, {_PRICE_DOC}", minimum=0, maximum=1e6)


CATALOG_MODEL = Table(
    keys={
        "input_price": _price("input"),
        "output_price": _price("output"),
        "cached_input_price": _price("cache reads"),
        "cache_write_price": _price("cache writes (5 minutes)"),
        "cache_write_1h_price": _price("1-hour cache writes"),
        "reasoning_price": _price("reasoning output when priced apart"),
        "context_window": Value(
            type="integer", doc="input limit in tokens", minimum=1, maximum=1e9
        ),
        "max_output_tokens": Value(
            type="integer", doc="output limit in tokens", minimum=1, maximum=1e9
        ),
        **{
            f"supports_{name}": Value(type="boolean", doc=f"supports {name.replace('_', ' ')}")
            for name in _CAPABILITY_NAMES
        },
    },
    doc="a model's prices (USD per million tokens), limits and capabilities",
    what="catalog model",
)
CATALOG = Table(
    keys={
        "models": Named(
            value=CATALOG_MODEL,
            doc='overrides and custom models by "provider/model"',
            pattern=r"^[^/]+/.+$",
        ),
        "discovery": Value(
            type="boolean", doc="fill limits from the providers' model lists (default true)"
        ),
        "refresh": _seconds("seconds before a cached model list is fetched again (default 86400)"),
    },
    doc="the model catalog: custom prices and model facts",
)

# Every section an overlay may set (all but [env] itself).
SETTINGS = Table(
    keys={
        "providers": Named(
            value=PROVIDER, doc="provider entries by id", pattern=r"^[A-Za-z0-9_.-]+$"
        ),
        "aliases": Named(value=_string("'provider/model' or another alias"), doc="model aliases"),
        "models": Named(value=GROUP, doc="model groups by name"),
        "state": STATE,
        "retry": _policy(RetryPolicy, "retries of retryable errors", "random"),
        "breaker": _policy(BreakerPolicy, "the per-deployment circuit breaker"),
        "limits": ArrayOf(
            item=_policy(Limit, "a rate limit", required=("scope",)), doc="rate limits"
        ),
        "quotas": ArrayOf(item=_policy(Quota, "a per-user quota"), doc="per-user quotas"),
        "queue": QUEUE,
        "storage": STORAGE,
        "keys": KEYS,
        "config": CONFIG,
        "usage": USAGE,
        "budgets": ArrayOf(item=BUDGET, doc="spend budgets"),
        "alerts": ALERTS,
        "catalog": CATALOG,
        "cache": CACHE,
        "gateway": GATEWAY,
    },
)
ROOT = Table(
    keys={
        **SETTINGS.keys,
        "env": Named(
            value=Ref(doc="an overlay: the same keys, merged over the file's"),
            doc="environment overlays, selected by $LLMSWITCH_ENV",
        ),
    },
    doc="llmswitch.toml",
)
