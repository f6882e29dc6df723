"""The validator of ``llmswitch.toml``: every key checked, every value turned into the
settings type of the layer it configures (:class:`~llmswitch.providers.settings.
ProviderConfig`, the router's :class:`~llmswitch.middleware.groups.ModelGroup`, the
resilience policies). Every problem is a ``file:line: key: message``
:class:`ConfigurationError`; secret values never appear in one.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..middleware.breaker import BreakerPolicy
from ..middleware.groups import GroupError, ModelGroup, derive_group
from ..middleware.ratelimit import Limit, Quota
from ..middleware.retry import RetryPolicy
from ..providers import registry
from ..providers.settings import PROVIDER_ID, ProviderConfig, is_http_url
from ..wire import Secret, Timeout, to_timeout
from ._loading import interpolate
from ._toml_lines import MAX_DEPTH, check_values, key_lines
from ._types import Config

__all__ = ["Validator"]


def _settable(cls: Any, *exclude: str) -> tuple[str, ...]:
    """The keys a section may set: the fields of the dataclass it builds."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.init and f.name not in exclude)


# Which kinds a kind-specific key makes sense for.
_KEY_KINDS: Mapping[str, tuple[str, ...]] = {
    "api_version": ("azure",),
    "organization": ("openai", "openai-compatible"),
}
_STRING_KEYS = ("kind", "base_url", "api_key", "api_version", "organization")
# id is the table's name; source is where it was read
_PROVIDER_KEYS = _settable(ProviderConfig, "id", "source")
_KEY_STRATEGIES = ("round-robin", "least-used")
_TIMEOUT_KEYS = _settable(Timeout)
_RESILIENCE_KEYS = ("state", "retry", "breaker", "limits", "quotas", "queue")
_TOP_LEVEL_KEYS = ("providers", "aliases", "models", *_RESILIENCE_KEYS)
_RETRY_KEYS = _settable(RetryPolicy, "random")  # a function (tests inject one), not a setting
_BREAKER_KEYS = _settable(BreakerPolicy)
_LIMIT_KEYS = _settable(Limit)
_QUOTA_KEYS = _settable(Quota)
_STATE_SCHEMES = ("memory://", "redis://", "rediss://", "unix://")
_HEADER_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token


class Validator:
    """One file: its text, where each key is, and the environment ``${VAR}`` reads."""

    def __init__(self, name: str, data: bytes, env: Mapping[str, str]) -> None:
        self.name = name
        self.env = env
        try:
            self.text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ConfigurationError(f"{name}:{line}: the file is not valid UTF-8") from None
        self._lines: dict[tuple[str, ...], int] | None = None
        # interpolated value -> the text it came from ("${VAR}"), so errors never echo it
        self._interpolated: dict[str, str] = {}

    # --------------------------------------------------------------- errors

    def line_of(self, path: tuple[str, ...]) -> int:
        if self._lines is None:
            self._lines = key_lines(self.text)
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
            doc = tomllib.loads(self.text)
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
        if cls is Limit and "scope" not in raw:
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
            where = str(self.text.count("\n") + 1)
        else:
            return f"{self.name}: invalid TOML: {message}"
        return f"{self.name}:{where}: invalid TOML: {message[: m.start()]}"

    def table(self, parent: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
        value = parent.get(path[-1], {})
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, got {type_name(value)}")
        return value

    def string(self, value: Any, path: tuple[str, ...]) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"expected a string, got {type_name(value)}")
        return self.interpolate(value, path)

    def interpolate(self, value: str, path: tuple[str, ...]) -> str:
        try:
            return interpolate(value, self.env, self._interpolated)
        except ValueError as exc:
            raise self.error(path, str(exc)) from None

    def provider(self, pid: str, raw: Mapping[str, Any]) -> ProviderConfig:
        where = ("providers", pid)
        if not PROVIDER_ID.fullmatch(pid):
            raise self.error(where, "provider id must be letters, digits, '_', '-' or '.' (no '/')")
        for key in raw:
            if key not in _PROVIDER_KEYS:
                raise self.error(
                    (*where, key),
                    f"unknown provider setting (expected one of {', '.join(_PROVIDER_KEYS)})",
                )
        values = {k: self.string(raw[k], (*where, k)) for k in _STRING_KEYS if k in raw}

        kind = values.get("kind")
        kinds = registry.kinds()
        if kind is not None and kind not in kinds:
            raise self.error(
                (*where, "kind"), f"unknown kind {kind!r} (expected one of {', '.join(kinds)})"
            )
        effective = kind or registry.builtin_kind(pid)
        if effective is None:
            raise self.error(
                where,
                f"'{pid}' is not a built-in provider ({', '.join(registry.builtin_ids())}): "
                f"set kind (one of {', '.join(kinds)})",
            )
        for key, kinds in _KEY_KINDS.items():
            if key in values and effective not in kinds:
                raise self.error(
                    (*where, key), f"only applies to kind {' or '.join(map(repr, kinds))}"
                )

        base_url = values.get("base_url") or None
        if base_url is not None:
            if not is_http_url(base_url):
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
            source=self.source(where),
        )

    def headers(self, raw: Any, path: tuple[str, ...]) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise self.error(path, f"expected a table of strings, got {type_name(raw)}")
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
                if not PROVIDER_ID.fullmatch(provider) or not model:
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
        try:
            return derive_group(name, raw, self, aliases, providers)
        except GroupError as exc:
            raise self.error(exc.path, exc.problem) from None

    # --------------------------------------------------------------- what groups read

    def type_name(self, value: Any) -> str:
        return type_name(value)

    def source(self, path: tuple[str, ...]) -> str:
        return f"{self.name}:{self.line_of(path)}"


def _positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def type_name(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
             dict: "a table", list: "an array"}  # fmt: skip
    return names.get(type(value), "a date/time")


def _show_key(part: str) -> str:
    return part if re.fullmatch(r"[A-Za-z0-9_\-]+|\[\d+\]", part) else f'"{part}"'
