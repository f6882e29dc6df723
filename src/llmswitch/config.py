"""``llmswitch.toml``: provider entries and model aliases.

::

    [providers.vllm]
    kind = "openai-compatible"
    base_url = "http://localhost:8000/v1"
    api_key = "${VLLM_API_KEY}"          # ${VAR} and ${VAR:-default} from the environment

    [providers.vllm.timeout]
    total = 120

    [aliases]
    fast = "openai/gpt-4o-mini"

    [models.smart]                       # a model group: call it as "smart"
    strategy = "ordered"      # ordered | weighted | least-busy | lowest-latency | lowest-cost
    fallback_on = ["retryable", "context_length"]   # default ["retryable"]
    [[models.smart.deployments]]
    model = "anthropic/claude-sonnet-4-5"
    priority = 0                         # ordered: lower first
    weight = 3                           # weighted
    [[models.smart.deployments]]
    model = "openai/gpt-4o"
    timeout = { first_token = 10 }       # overrides the call's timeout fields for this deployment
    rpm = 100                            # this deployment's own requests/tokens per minute
    tpm = 50000

Resilience (each section's presence turns its layer on; see :mod:`llmswitch.middleware`)::

    [state]
    url = "redis://localhost:6379/0"     # default memory://; breaker, limits, key pools
    [retry]                              # RetryPolicy fields
    attempts = 3
    [breaker]                            # BreakerPolicy fields
    min_calls = 10
    [[limits]]                           # Limit fields
    scope = "deployment"
    requests_per_minute = 500
    [[quotas]]                           # Quota fields
    period = "day"
    requests = 1000
    [queue]
    max_wait = 10                        # seconds a call may wait for limit capacity
    [providers.openai]
    keys = ["${OPENAI_KEY_A}", "${OPENAI_KEY_B}"]   # a key pool instead of api_key
    key_strategy = "round-robin"         # or least-used

:func:`load_config` finds the file (argument, ``$LLMSWITCH_CONFIG``, ``./llmswitch.toml``),
validates it and returns a :class:`Config`. Every problem is a :class:`ConfigurationError`
that names the file, the line and the key; secret values never appear in one.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._toml_lines import MAX_DEPTH, check_values, key_lines
from .errors import ConfigurationError
from .wire import Secret, Timeout, to_timeout

if TYPE_CHECKING:
    from .middleware.breaker import BreakerPolicy
    from .middleware.ratelimit import Limit, Quota
    from .middleware.retry import RetryPolicy

__all__ = [
    "BUILTIN_PROVIDERS",
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "FALLBACK_ON",
    "KINDS",
    "STRATEGIES",
    "Config",
    "Deployment",
    "ModelGroup",
    "ProviderConfig",
    "load_config",
]

CONFIG_ENV = "LLMSWITCH_CONFIG"
DEFAULT_CONFIG_FILE = "llmswitch.toml"

# Built-in provider id -> its wire kind. The one list of built-ins: the registry and the
# CLI read it from here.
BUILTIN_PROVIDERS: Mapping[str, str] = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "bedrock": "bedrock",
    "ollama": "ollama",
}
# Prefixes of the environment variables providers read (DESIGN.md section 2; AWS_ for
# the Bedrock credential chain). A client keeps a copy of them, taken when it is built.
ENV_PREFIXES: tuple[str, ...] = (
    "OPENAI_", "AZURE_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "AWS_", "OLLAMA_", "LLMSWITCH_"
)  # fmt: skip


def snapshot_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env``: of ``os.environ`` only the variables providers read."""
    if env is os.environ:
        return {k: v for k, v in env.items() if k.startswith(ENV_PREFIXES)}
    return dict(env)


KINDS: tuple[str, ...] = (*dict.fromkeys(BUILTIN_PROVIDERS.values()), "openai-compatible")

# Which kinds a kind-specific key makes sense for.
_KEY_KINDS: Mapping[str, tuple[str, ...]] = {
    "api_version": ("azure",),
    "organization": ("openai", "openai-compatible"),
}
_STRING_KEYS = ("kind", "base_url", "api_key", "api_version", "organization")
_PROVIDER_KEYS = (*_STRING_KEYS, "headers", "timeout", "keys", "key_strategy", "on_state_error")
_KEY_STRATEGIES = ("round-robin", "least-used")
_TIMEOUT_KEYS = ("connect", "first_token", "total")
_TOP_LEVEL_KEYS = (
    "providers", "aliases", "models", "state", "retry", "breaker", "limits", "quotas", "queue"
)  # fmt: skip
_RESILIENCE_KEYS = ("state", "retry", "breaker", "limits", "quotas", "queue")
_RETRY_KEYS = ("attempts", "initial", "multiplier", "max_delay", "deadline", "max_retry_after")
_BREAKER_KEYS = (
    "window", "buckets", "min_calls", "failure_rate", "cooldown", "half_open_probes",
    "on_state_error",
)  # fmt: skip
_LIMIT_KEYS = ("scope", "requests_per_minute", "tokens_per_minute", "on_state_error")
_QUOTA_KEYS = ("per", "period", "requests", "tokens", "on_state_error")
_STATE_SCHEMES = ("memory://", "redis://", "rediss://", "unix://")
STRATEGIES: tuple[str, ...] = ("ordered", "weighted", "least-busy", "lowest-latency", "lowest-cost")
FALLBACK_ON: tuple[str, ...] = ("retryable", "context_length", "content_filter")
_GROUP_KEYS = ("strategy", "fallback_on", "deployments")
_DEPLOYMENT_KEYS = (
    "model", "id", "weight", "priority", "timeout", "rpm", "tpm", "base_url", "api_key"
)  # fmt: skip
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_HEADER_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_VAR_RE = re.compile(r"\$\$|\$\{([^}]*)\}")
_VAR_BODY_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderConfig:
    """One ``[providers.<id>]`` entry. ``kind=None`` means the built-in kind of a built-in id."""

    id: str
    kind: str | None = None
    base_url: str | None = None
    api_key: Secret | None = None
    api_version: str | None = None
    organization: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: Timeout | None = None
    keys: tuple[Secret, ...] = ()
    key_strategy: str = "round-robin"
    on_state_error: str = "fail_open"  # the key pool's, when the state store fails
    source: str | None = None

    @property
    def effective_kind(self) -> str | None:
        """``kind``, else the built-in kind of this id."""
        return self.kind or BUILTIN_PROVIDERS.get(self.id)

    def __repr__(self) -> str:
        # Header values may carry credentials too ("authorization = ${TOKEN}").
        shown = {
            "id": self.id, "kind": self.kind, "base_url": self.base_url,
            "api_key": self.api_key, "api_version": self.api_version,
            "organization": self.organization,
            "headers": dict.fromkeys(self.headers, "***"),
            "timeout": self.timeout, "keys": self.keys, "key_strategy": self.key_strategy,
            "source": self.source,
        }  # fmt: skip
        return f"ProviderConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A loaded ``llmswitch.toml``. ``aliases`` map a name to its final ``provider/model``
    (chains are resolved at load time); ``models`` are model groups by name. ``path`` is
    ``None`` when no file was found. ``state`` (the ``[state] url``), ``retry``,
    ``breaker``, ``limits`` and ``quotas`` configure the resilience layers the client
    builds; ``None``/empty leaves a layer out. ``max_wait`` (``[queue]``): seconds a call
    waits for rate-limit capacity (default: the limiter's, 10)."""

    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    models: Mapping[str, ModelGroup] = field(default_factory=dict)
    path: Path | None = None
    state: str | None = None
    state_secret: Secret | None = None  # [state] secret: keys HMAC'd key names
    retry: RetryPolicy | None = None
    breaker: BreakerPolicy | None = None
    limits: tuple[Limit, ...] = ()
    quotas: tuple[Quota, ...] = ()
    max_wait: float | None = None

    @property
    def resilient(self) -> bool:
        """Whether any resilience section (or a key pool) is configured."""
        return bool(
            self.retry or self.breaker or self.limits or self.quotas
            or any(pc.keys for pc in self.providers.values())
            or any(d.rpm or d.tpm for g in self.models.values() for d in g.deployments)
        )  # fmt: skip


def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Load ``path``; else ``$LLMSWITCH_CONFIG``; else ``./llmswitch.toml`` if it exists;
    else an empty :class:`Config`. ``env`` (default ``os.environ``) feeds ``${VAR}``."""
    env = os.environ if env is None else env
    if path is not None:
        file, origin = Path(path), "config file"
    elif env.get(CONFIG_ENV):
        file, origin = Path(env[CONFIG_ENV]), f"config file (from ${CONFIG_ENV})"
    else:
        file, origin = Path(DEFAULT_CONFIG_FILE), "config file"
        if not file.is_file():
            return Config()
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"{origin} {str(file)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{origin} {str(file)!r} is a directory") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {str(file)!r}: {exc.strerror}") from None
    return _Loader(str(file), data, env).load(file)


# --------------------------------------------------------------------------- loading


class _Loader:
    def __init__(self, name: str, data: bytes, env: Mapping[str, str]) -> None:
        self.name = name
        self.env = env
        try:
            self.source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ConfigurationError(f"{name}:{line}: the file is not valid UTF-8") from None
        self._lines: dict[tuple[str, ...], int] | None = None
        # interpolated value -> the text it came from ("${VAR}"), so errors never echo it
        self._interpolated: dict[str, str] = {}

    # --------------------------------------------------------------- errors

    def line_of(self, path: tuple[str, ...]) -> int:
        if self._lines is None:
            self._lines = key_lines(self.source)
        for n in range(len(path), 0, -1):
            line = self._lines.get(path[:n])
            if line is not None:
                return line
        return 1

    def error(self, path: tuple[str, ...], problem: str) -> ConfigurationError:
        # array elements show as "deployments[1]", not "deployments.[1]"
        key = ".".join(_show_key(p) for p in path).replace(".[", "[")
        for value, raw in sorted(self._interpolated.items(), key=lambda i: -len(i[0])):
            # A value from the environment may be a secret in the wrong place.
            problem = problem.replace(repr(value), f"the value of {raw}")
            if len(value) >= 8:
                problem = problem.replace(value, "***")
        return ConfigurationError(f"{self.name}:{self.line_of(path)}: {key}: {problem}", field=key)

    # --------------------------------------------------------------- parse

    def load(self, file: Path) -> Config:
        try:
            doc = tomllib.loads(self.source)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(self.syntax_error(str(exc))) from None
        except RecursionError:  # tomllib recurses per level of inline table or array
            raise ConfigurationError(
                f"{self.name}: invalid TOML: tables or arrays nested too deeply "
                f"(at most {MAX_DEPTH} levels)"
            ) from None
        bad = check_values(doc)
        if bad is not None:
            raise self.error(*bad)
        for key in doc:
            if key not in _TOP_LEVEL_KEYS:
                raise self.error(
                    (key,), f"unknown setting (expected one of {', '.join(_TOP_LEVEL_KEYS)})"
                )
        providers_raw = self.table(doc, ("providers",))
        providers = {
            pid: self.provider(pid, self.table(providers_raw, ("providers", pid)))
            for pid in providers_raw
        }
        aliases = self.aliases(self.table(doc, ("aliases",)))
        models_raw = self.table(doc, ("models",))
        models = {
            name: self.group(name, self.table(models_raw, ("models", name)), aliases, providers)
            for name in models_raw
        }
        extra: dict[str, Any] = {}
        if any(key in doc for key in _RESILIENCE_KEYS):
            extra = self.resilience(doc)
        return Config(
            providers=providers, aliases=aliases, models=models, path=file.resolve(), **extra
        )

    # --------------------------------------------------------------- resilience

    def resilience(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        from .middleware.breaker import BreakerPolicy
        from .middleware.ratelimit import Limit, Quota
        from .middleware.retry import RetryPolicy

        out: dict[str, Any] = {}
        if "state" in doc:
            state = self.table(doc, ("state",))
            self.known(state, ("state",), ("url", "secret"))
            url = self.string(state.get("url", "memory://"), ("state", "url"))
            if not url.startswith(_STATE_SCHEMES):
                # Not echoed: a Redis URL may carry a password.
                raise self.error(
                    ("state", "url"), "must be memory:// or redis://host:port/db (or rediss://)"
                )
            out["state"] = url
            if "secret" in state:
                secret = self.string(state["secret"], ("state", "secret"))
                if secret:  # "${LLMSWITCH_STATE_SECRET:-}" -> the store's own secret
                    out["state_secret"] = Secret(secret)
        if "queue" in doc:
            queue = self.table(doc, ("queue",))
            self.known(queue, ("queue",), ("max_wait",))
            wait = queue.get("max_wait", 10)
            if isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 0:
                raise self.error(("queue", "max_wait"), "must be a number of seconds >= 0")
            out["max_wait"] = float(wait)
        if "retry" in doc:
            out["retry"] = self.built(RetryPolicy, doc, ("retry",), _RETRY_KEYS)
        if "breaker" in doc:
            out["breaker"] = self.built(BreakerPolicy, doc, ("breaker",), _BREAKER_KEYS)
        for name, cls, keys in (("limits", Limit, _LIMIT_KEYS), ("quotas", Quota, _QUOTA_KEYS)):
            items = doc.get(name)
            if items is None:
                continue
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise self.error((name,), f"expected an array of tables [[{name}]]")
            out[name] = tuple(
                self.built(cls, {f"[{i}]": item}, (name, f"[{i}]"), keys)
                for i, item in enumerate(items)
            )
        return out

    def known(self, raw: Mapping[str, Any], where: tuple[str, ...], keys: tuple[str, ...]) -> None:
        for key in raw:
            if key not in keys:
                raise self.error(
                    (*where, key), f"unknown setting (expected one of {', '.join(keys)})"
                )

    def built(
        self, cls: Any, parent: Mapping[str, Any], where: tuple[str, ...], keys: tuple[str, ...]
    ) -> Any:
        """``cls(**table)``, its own validation errors re-raised with file:line:key."""
        raw = self.table(parent, where)
        self.known(raw, where, keys)
        if cls.__name__ == "Limit" and "scope" not in raw:
            raise self.error(
                where, "a limit needs scope = 'provider', 'deployment', 'user' or 'key'"
            )
        try:
            return cls(**raw)
        except ConfigurationError as exc:
            key = exc.field if exc.field in raw else None
            raise self.error((*where, key) if key else where, str(exc)) from None

    def syntax_error(self, message: str) -> str:
        # tomllib (3.11) only puts the position in the message: "... (at line 3, column 7)".
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if m:
            where = f"{m.group(1)}:{m.group(2)}"
        elif (m := re.search(r"\s*\(at end of document\)$", message)) is not None:
            where = str(self.source.count("\n") + 1)
        else:
            return f"{self.name}: invalid TOML: {message}"
        return f"{self.name}:{where}: invalid TOML: {message[: m.start()]}"

    def table(self, parent: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
        value = parent.get(path[-1], {})
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, got {_type_name(value)}")
        return value

    def string(self, value: Any, path: tuple[str, ...]) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"expected a string, got {_type_name(value)}")
        return self.interpolate(value, path)

    def interpolate(self, value: str, path: tuple[str, ...]) -> str:
        if "$" not in value:
            return value

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            body = _VAR_BODY_RE.fullmatch(m.group(1))
            if body is None:
                raise self.error(
                    path, "malformed ${...} reference (expected ${VAR} or ${VAR:-default})"
                )
            name, default = body.group(1), body.group(2)
            found = self.env.get(name)
            if found:
                self._interpolated.setdefault(found, m.group(0))
                return found
            if default is not None:
                return default
            if found is None:
                raise self.error(path, f"environment variable {name} is not set")
            return found  # set but empty, no default: shell semantics keep the empty value

        return _VAR_RE.sub(sub, value)

    def provider(self, pid: str, raw: Mapping[str, Any]) -> ProviderConfig:
        where = ("providers", pid)
        if not _ID_RE.fullmatch(pid):
            raise self.error(where, "provider id must be letters, digits, '_', '-' or '.' (no '/')")
        for key in raw:
            if key not in _PROVIDER_KEYS:
                raise self.error(
                    (*where, key),
                    f"unknown provider setting (expected one of {', '.join(_PROVIDER_KEYS)})",
                )
        values = {k: self.string(raw[k], (*where, k)) for k in _STRING_KEYS if k in raw}

        kind = values.get("kind")
        if kind is not None and kind not in KINDS:
            raise self.error(
                (*where, "kind"), f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})"
            )
        effective = kind or BUILTIN_PROVIDERS.get(pid)
        if effective is None:
            raise self.error(
                where,
                f"'{pid}' is not a built-in provider ({', '.join(BUILTIN_PROVIDERS)}): "
                f"set kind (one of {', '.join(KINDS)})",
            )
        for key, kinds in _KEY_KINDS.items():
            if key in values and effective not in kinds:
                raise self.error(
                    (*where, key), f"only applies to kind {' or '.join(map(repr, kinds))}"
                )

        base_url = values.get("base_url") or None
        if base_url is not None:
            url = urlsplit(base_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                # Not echoed: a URL may carry credentials (https://user:pass@host).
                raise self.error((*where, "base_url"), "must be an http:// or https:// URL")
        elif effective == "openai-compatible":
            raise self.error(where, "kind 'openai-compatible' needs base_url")

        api_key = values.get("api_key")
        keys: tuple[Secret, ...] = ()
        if "keys" in raw:
            if "api_key" in raw:
                raise self.error((*where, "keys"), "set api_key or keys (a key pool), not both")
            items = raw["keys"]
            if not isinstance(items, list) or not items:
                raise self.error((*where, "keys"), "expected a non-empty array of strings")
            # "${KEY:-}" -> no key, as for api_key
            found = [self.string(k, (*where, "keys")) for k in items]
            found = [k for k in found if k]
            keys = tuple(Secret(k) for k in found)
            api_key = found[0] if keys else None  # the pool's first key builds the provider
        strategy = "round-robin"
        if "key_strategy" in raw:
            strategy = self.string(raw["key_strategy"], (*where, "key_strategy"))
            if "keys" not in raw:
                raise self.error((*where, "key_strategy"), "only applies with keys = [...]")
            if strategy not in _KEY_STRATEGIES:
                raise self.error(
                    (*where, "key_strategy"),
                    f"unknown strategy {strategy!r} (expected one of {', '.join(_KEY_STRATEGIES)})",
                )
        policy = "fail_open"
        if "on_state_error" in raw:
            policy = self.string(raw["on_state_error"], (*where, "on_state_error"))
            if "keys" not in raw:
                raise self.error((*where, "on_state_error"), "only applies with keys = [...]")
            if policy not in ("fail_open", "fail_closed"):
                raise self.error((*where, "on_state_error"), "must be 'fail_open' or 'fail_closed'")
        return ProviderConfig(
            id=pid,
            kind=kind,
            base_url=base_url,
            api_key=Secret(api_key) if api_key else None,  # "${KEY:-}" -> no key
            api_version=values.get("api_version") or None,
            organization=values.get("organization") or None,
            headers=self.headers(raw.get("headers", {}), (*where, "headers")),
            timeout=self.timeout(raw["timeout"], (*where, "timeout")) if "timeout" in raw else None,
            keys=keys,
            key_strategy=strategy,
            on_state_error=policy,
            source=f"{self.name}:{self.line_of(where)}",
        )

    def headers(self, raw: Any, path: tuple[str, ...]) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise self.error(path, f"expected a table of strings, got {_type_name(raw)}")
        out: dict[str, str] = {}
        for name, value in raw.items():
            if not _HEADER_RE.fullmatch(name):
                raise self.error((*path, name), "not a valid HTTP header name")
            out[name] = self.string(value, (*path, name))
            if "\n" in out[name] or "\r" in out[name]:
                raise self.error((*path, name), "header value must be a single line")
        return out

    def timeout(self, raw: Any, path: tuple[str, ...]) -> Timeout:
        if isinstance(raw, dict):
            for key, value in raw.items():
                if key not in _TIMEOUT_KEYS:
                    raise self.error(
                        (*path, key),
                        f"unknown timeout setting (expected one of {', '.join(_TIMEOUT_KEYS)})",
                    )
                if not _positive_number(value):
                    raise self.error((*path, key), "must be a number of seconds > 0")
        elif not _positive_number(raw):
            raise self.error(path, "must be seconds > 0 or a table of connect/first_token/total")
        return to_timeout(raw)

    def aliases(self, raw: Mapping[str, Any]) -> dict[str, str]:
        targets: dict[str, str] = {}
        for name, value in raw.items():
            where = ("aliases", name)
            if "/" in name or not name.strip():
                raise self.error(where, "an alias name must not be empty or contain '/'")
            target = self.string(value, where)
            if "/" in target:
                provider, _, model = target.partition("/")
                if not _ID_RE.fullmatch(provider) or not model:
                    raise self.error(
                        where, f"target {target!r} is not of the form 'provider/model'"
                    )
            elif target not in raw:
                raise self.error(
                    where,
                    f"target {target!r} is neither 'provider/model' nor another alias",
                )
            targets[name] = target
        resolved: dict[str, str] = {}
        for name in targets:
            chain = [name]
            target = targets[name]
            while "/" not in target:
                if target in chain:
                    cycle = " -> ".join([*chain[chain.index(target) :], target])
                    raise self.error(("aliases", name), f"alias cycle: {cycle}")
                chain.append(target)
                target = targets[target]
            resolved[name] = target
        return resolved

    def group(
        self,
        name: str,
        raw: Mapping[str, Any],
        aliases: Mapping[str, str],
        providers: dict[str, ProviderConfig],
    ) -> ModelGroup:
        where = ("models", name)
        if "/" in name or not name.strip():
            raise self.error(where, "a model group name must not be empty or contain '/'")
        if name in aliases:
            raise self.error(where, f"{name!r} is already an alias: a name is one or the other")
        for key in raw:
            if key not in _GROUP_KEYS:
                raise self.error(
                    (*where, key),
                    f"unknown model group setting (expected one of {', '.join(_GROUP_KEYS)})",
                )
        strategy = self.string(raw.get("strategy", "ordered"), (*where, "strategy"))
        if strategy not in STRATEGIES:
            raise self.error(
                (*where, "strategy"),
                f"unknown strategy {strategy!r} (expected one of {', '.join(STRATEGIES)})",
            )
        fallback_raw = raw.get("fallback_on", ["retryable"])
        if not isinstance(fallback_raw, list):
            raise self.error(
                (*where, "fallback_on"), f"expected an array, got {_type_name(fallback_raw)}"
            )
        fallback_on: set[str] = set()
        for item in fallback_raw:
            if item not in FALLBACK_ON:
                shown = repr(item) if isinstance(item, str) else _type_name(item)
                raise self.error(
                    (*where, "fallback_on"),
                    f"unknown value {shown} (expected any of {', '.join(FALLBACK_ON)})",
                )
            fallback_on.add(item)
        items = raw.get("deployments")
        if items is None:
            raise self.error(where, "a model group needs [[deployments]] (at least one)")
        if not isinstance(items, list) or not items:
            raise self.error(
                (*where, "deployments"), "expected a non-empty array of tables [[...deployments]]"
            )
        deployments: list[Deployment] = []
        ids: set[str] = set()
        for i, item in enumerate(items):
            d = self.deployment(item, (*where, "deployments", f"[{i}]"), aliases)
            if "base_url" in item or "api_key" in item:
                d = self.endpoint(d, item, (*where, "deployments", f"[{i}]"), name, i, providers)
            if d.id in ids:
                if "id" in item:
                    raise self.error(
                        (*where, "deployments", f"[{i}]", "id"), f"duplicate id {d.id!r}"
                    )
                d = dataclasses.replace(d, id=f"{d.model}#{i}")
            ids.add(d.id)
            deployments.append(d)
        return ModelGroup(
            name=name,
            deployments=tuple(deployments),
            strategy=strategy,
            fallback_on=frozenset(fallback_on),
        )

    def deployment(
        self, raw: Any, where: tuple[str, ...], aliases: Mapping[str, str]
    ) -> Deployment:
        if not isinstance(raw, dict):
            raise self.error(where, f"expected a table, got {_type_name(raw)}")
        for key in raw:
            if key not in _DEPLOYMENT_KEYS:
                raise self.error(
                    (*where, key),
                    f"unknown deployment setting (expected one of {', '.join(_DEPLOYMENT_KEYS)})",
                )
        if "model" not in raw:
            raise self.error(where, "a deployment needs model = 'provider/model'")
        model = self.string(raw["model"], (*where, "model"))
        model = aliases.get(model, model)
        provider, _, name = model.partition("/")
        if not _ID_RE.fullmatch(provider) or not name:
            raise self.error(
                (*where, "model"), f"{model!r} is neither 'provider/model' nor an alias"
            )
        weight = raw.get("weight", 1)
        if not _positive_number(weight):
            raise self.error((*where, "weight"), "must be a number > 0")
        priority = raw.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise self.error(
                (*where, "priority"), f"expected an integer, got {_type_name(priority)}"
            )
        timeout: float | dict[str, float] | None = None
        if "timeout" in raw:
            self.timeout(raw["timeout"], (*where, "timeout"))
            value = raw["timeout"]
            timeout = dict(value) if isinstance(value, dict) else float(value)
        limits: dict[str, int] = {}
        for key in ("rpm", "tpm"):
            value = raw.get(key)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise self.error((*where, key), "must be an integer >= 1")
                limits[key] = value
        dep_id = self.string(raw["id"], (*where, "id")) if "id" in raw else model
        if not dep_id:
            raise self.error((*where, "id"), "must not be empty")
        return Deployment(
            model=model, id=dep_id, weight=float(weight), priority=priority, timeout=timeout,
            rpm=limits.get("rpm"), tpm=limits.get("tpm"),
        )  # fmt: skip

    def endpoint(
        self,
        d: Deployment,
        raw: Mapping[str, Any],
        where: tuple[str, ...],
        group: str,
        index: int,
        providers: dict[str, ProviderConfig],
    ) -> Deployment:
        """``d`` sent to a provider derived from its own with the entry's
        ``base_url``/``api_key``; that provider is added to ``providers``."""
        pid = d.provider
        base = providers.get(pid)
        kind = base.effective_kind if base is not None else BUILTIN_PROVIDERS.get(pid)
        if kind is None:
            raise self.error(
                (*where, "model"),
                f"unknown provider {pid!r}: declare [providers.{pid}] (with its kind) "
                "for a deployment to override its base_url/api_key",
            )
        derived = base or ProviderConfig(id=pid)
        changes: dict[str, Any] = {"id": f"{pid}@{group}#{index}", "kind": kind}
        changes["source"] = f"{self.name}:{self.line_of(where)}"
        if "base_url" in raw:
            url = self.string(raw["base_url"], (*where, "base_url"))
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                # Not echoed: a URL may carry credentials (https://user:pass@host).
                raise self.error((*where, "base_url"), "must be an http:// or https:// URL")
            changes["base_url"] = url
        if "api_key" in raw:
            key = self.string(raw["api_key"], (*where, "api_key"))
            changes["api_key"] = Secret(key) if key else None  # "${KEY:-}" -> no key
            changes["keys"] = ()  # the deployment's own key replaces the provider's pool
        if kind == "openai-compatible" and not changes.get("base_url", derived.base_url):
            raise self.error(where, "kind 'openai-compatible' needs base_url")
        endpoint = dataclasses.replace(derived, **changes)
        providers[endpoint.id] = endpoint
        return dataclasses.replace(d, endpoint=endpoint.id)


def _positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _type_name(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
             dict: "a table", list: "an array"}  # fmt: skip
    return names.get(type(value), "a date/time")


def _show_key(part: str) -> str:
    return part if re.fullmatch(r"[A-Za-z0-9_\-]+|\[\d+\]", part) else f'"{part}"'
