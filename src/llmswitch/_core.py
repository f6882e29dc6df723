"""What the sync and async clients share (:class:`_Core`): configuration, provider
lookup, call contexts and request validation. Kept apart from ``client.py`` so the
clients stay about calling and iterating, and configuration reload has a home."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._capabilities import check_request
from ._client_args import check_max_retries, check_middleware, check_providers
from ._make import make_request
from ._options import CHAT_OPTIONS
from ._structured import to_format
from .config import Config, ProviderConfig, load_config, snapshot_env
from .errors import ConfigurationError
from .messages import (
    ChatRequest,
    EmbedRequest,
    to_messages,
    to_reasoning,
    to_tool_choice,
    to_tools,
)
from .middleware.base import Middleware, Pipeline
from .providers.runtime import CallContext, Provider
from .wire import to_timeout

if TYPE_CHECKING:
    from ._capabilities import Capabilities
    from ._vault_wiring import OutsideCalls, VaultHandle
    from .messages import ModelInfo
    from .middleware.retry import Retry
    from .usage.ledger import Ledger

__all__ = ["DEFAULT_MAX_RETRIES", "MODEL_ENV", "_Core", "_counter", "_unknown_option"]

# The chat options, in the order request() takes them (one list: _options.py).
_OPTIONS = CHAT_OPTIONS
_EMBED_OPTIONS = ("dimensions", "input_type", "user", "timeout", "extra_body", "extra_headers")


def _unknown_option(
    options: Mapping[str, Any], known: tuple[str, ...] = _OPTIONS
) -> ConfigurationError:
    import difflib

    name = sorted(options)[0]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigurationError(f"unknown option {name!r}{hint}", field=name)


# Retries of a retryable error when the client is given none (as the official SDKs).
DEFAULT_MAX_RETRIES = 2
# The model calls use when they name none (client.chat(messages=...)).
MODEL_ENV = "LLMSWITCH_MODEL"


def _number(value: Any, name: str, lo: float, hi: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigurationError(f"{name} must be a number from {lo} to {hi}", field=name)
    return float(value)


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(s, str) and s for s in value):
        return tuple(value)
    raise ConfigurationError("stop must be a string or a list of non-empty strings", field="stop")


class _Core:
    """What the sync and async clients share: configuration and request validation."""

    def __init__(
        self,
        config: str | os.PathLike[str] | Config | None,
        providers: Iterable[Provider | ProviderConfig],
        timeout: Any,
        env: Mapping[str, str] | None,
        transport: Any,
        max_retries: Any = None,
        vault: VaultHandle | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.transport = transport
        if env is not None and not isinstance(env, Mapping):
            raise ConfigurationError("env must be a dict of environment variables", field="env")
        if config is not None and not isinstance(config, str | os.PathLike | Config):
            raise ConfigurationError(
                "config must be a path to llmswitch.toml or a Config", field="config"
            )
        providers = check_providers(providers)
        retries = check_max_retries(max_retries)
        # Read once, now, as the official SDKs do: a later change to the environment
        # does not move a client built before it (only the variables providers read).
        self.env: Mapping[str, str] = snapshot_env(os.environ if env is None else env)
        source = os.environ if env is None else env  # ${VAR} in the file: any variable
        self.config = config if isinstance(config, Config) else load_config(config, source)
        self.timeout = to_timeout(timeout)
        if retries is not None and self.config.retry is not None:
            # An explicit max_retries overrides [retry] attempts; 0 turns it off.
            policy = (
                dataclasses.replace(self.config.retry, attempts=retries + 1) if retries else None
            )
            self.config = dataclasses.replace(self.config, retry=policy)
        self.max_retries = DEFAULT_MAX_RETRIES if retries is None else retries
        # The default retry layer when the client has no other middleware: its first try
        # runs without it (see Client.chat), so the call path stays as cheap as before.
        self.retry: Retry | None = None
        self._providers: dict[str, Provider] = {}
        declared: dict[str, ProviderConfig] = {}
        for p in providers:
            if isinstance(p, ProviderConfig):
                declared[p.id] = p
            else:
                self._providers[p.id] = p
        # Providers given as objects (or registered): no built-in kind to go by.
        self._objects: set[str] = set(self._providers)
        # Client.register_provider's entries (id -> provider or factory): one dict shared
        # by every configuration of a client, so a reload keeps them (_reload.build_core).
        self.registered: dict[str, Any] = {}
        self._source = source  # the whole environment, for plugins' own variables
        # LLMSWITCH_MODEL: the model of calls that name none (read with the rest).
        self.default_model: str | None = source.get(MODEL_ENV, "").strip() or None
        # model -> the capabilities it is known to lack (_capabilities.py), and what
        # list_models reported per provider (pid -> model id -> ModelInfo).
        self._blocked: dict[Any, tuple[str, ...]] = {}
        # model -> (provider, its name there, blocked, the default CallContext): what
        # every call on that model works out first, once (cleared with _blocked).
        self._routes: dict[Any, tuple[Provider, str, tuple[str, ...], CallContext]] = {}
        self._discovered: dict[str, dict[str, ModelInfo]] = {}
        if declared:
            self.config = dataclasses.replace(
                self.config, providers={**self.config.providers, **declared}
            )
        self._lock = threading.Lock()
        self._contexts: dict[str, CallContext] = {}
        # The key vault, when the configuration names a KEK (_vault_wiring.py); ``vault``:
        # the previous configuration's, kept when its settings are the same.
        self.vault: VaultHandle | None = None
        # Providers whose only key may be in the vault -> why they were not configured.
        self._vault_only: dict[str, str] = {}
        # With a vault: the key choice of calls outside the pipeline (embed, list_models...).
        self.outside: OutsideCalls | None = None
        if self.config.kek or source.get("LLMSWITCH_KEK") or source.get("LLMSWITCH_MASTER_KEY"):
            from ._vault_wiring import VaultHandle, settings_key

            key = settings_key(self.config, source)
            self.vault = vault if vault is not None and vault.key == key else None
            if self.vault is None:
                self.vault = VaultHandle(self.config, source, key)
        # The model catalog: [catalog] overrides and the discovery cache (_catalog_wiring).
        from ._catalog_wiring import install_catalog

        install_catalog(self.config, source)
        # The usage ledger, when a database is configured or [usage] enabled
        # (_usage_wiring.py); ``ledger``: the previous configuration's, kept if unchanged.
        from ._usage_wiring import choose_ledger

        self.ledger: Ledger | None = choose_ledger(self.config, source, ledger)
        # The client's pipeline, kept here with everything else built from the
        # configuration, so a reload swaps all of it with one reference (_reload.py).
        self.pipe: Pipeline | None = None
        # The response cache [cache] made for this configuration (not a caller's own
        # ResponseCache): its connections are closed with the client.
        self.owned_cache: Any = None

    def provider(self, pid: str) -> Provider:
        provider = self._providers.get(pid)
        if provider is None:
            with self._lock:
                provider = self._providers.get(pid)
                if provider is None:
                    provider = self._providers[pid] = self._build(pid)
        return provider

    def _build(self, pid: str) -> Provider:
        from .providers.registry import build_provider

        entry = self.registered.get(pid)
        if entry is not None:
            from .providers._plugins import build_registered

            settings = self.config.providers.get(pid)
            return build_registered(entry, pid, settings, self.env, self._source)
        try:
            return build_provider(pid, self.config, self.env, self._source)
        except ConfigurationError as missing:
            if self.vault is None:
                raise
            # No key in the environment or the file: the vault may hold one. The vault's
            # key rotation layer binds a stored key to every attempt; StoredKey (the
            # newest stored key, or an error saying there is none) serves the rest.
            from ._vault_wiring import StoredKey
            from .providers.settings import ProviderConfig

            pc = self.config.providers.get(pid) or ProviderConfig(id=pid)
            stored = StoredKey(self.vault, pid, missing.message)
            stand_in = dataclasses.replace(pc, api_key=stored)
            with_key = dataclasses.replace(
                self.config, providers={**self.config.providers, pid: stand_in}
            )
            try:
                provider = build_provider(pid, with_key, self.env)
            except ConfigurationError:
                pass  # something else is missing: the original error says what
            else:
                self._vault_only[pid] = missing.message
                return provider
            raise

    def close(self) -> None:
        """Stop what this configuration runs in the background (the vault's refresh,
        the usage ledger's writer: its last rows are committed first)."""
        if self.vault is not None:
            self.vault.close()
        if self.ledger is not None:
            self.ledger.close()
        if self.owned_cache is not None:  # its Redis connections (a memory cache: nothing)
            self.owned_cache.close()

    async def aclose(self) -> None:
        if self.owned_cache is not None:
            await self.owned_cache.aclose()
        if self.vault is not None:
            await self.vault.aclose()
        if self.ledger is not None:
            import asyncio

            await asyncio.to_thread(self.ledger.close)  # its final commit: off the loop

    def default(self) -> str:
        """The default model (``$LLMSWITCH_MODEL``), for a call that names none."""
        model = self.default_model
        if model is None:
            raise ConfigurationError(
                f"no model given and no default model: pass the model (e.g. "
                f"'openai/gpt-4o-mini') or set {MODEL_ENV}",
                field="model",
            )
        config = self.config
        if "/" not in model and model not in config.aliases and model not in config.models:
            raise ConfigurationError(
                f"{MODEL_ENV}={model!r} must be '<provider>/<model>', an alias or a model "
                "group from llmswitch.toml",
                field=MODEL_ENV,
            )
        return model

    def register(self, pid: str, entry: Any) -> None:
        """Client.register_provider: ``entry`` serves ``pid`` from the next call on, in
        this configuration and every later one."""
        with self._lock:
            self.registered[pid] = entry
            self._providers.pop(pid, None)
            self._contexts.pop(pid, None)
            self._objects.add(pid)
            self._forget()

    def capabilities(self, model: Any) -> Capabilities:
        """What ``model`` can do, from what this configuration knows without a call."""
        from ._capabilities import combine

        if not isinstance(model, str) or not model:
            raise ConfigurationError("model must be a non-empty string", field="model")
        target = self.config.aliases.get(model, model)
        group = self.config.models.get(model) if "/" not in target else None
        if group is None:
            return self._model_caps(*self.resolve(model))
        each = []
        for d in group.deployments:
            pid, _, name = d.model.partition("/")
            try:
                provider = self.provider(d.endpoint or pid)
            except ConfigurationError:  # a deployment not set up says nothing
                from ._capabilities import Capabilities

                each.append(Capabilities())
                continue
            each.append(self._model_caps(provider, name))
        return combine(each)

    def provider_kind(self, pid: str) -> str | None:
        """The wire kind of provider ``pid`` (``"anthropic"``, ``"openai-compatible"``...);
        ``None`` for a provider given or registered as an object."""
        if pid in self._objects:
            return None
        from .providers.registry import builtin_kind

        pc = self.config.providers.get(pid)
        return (pc.kind if pc is not None else None) or builtin_kind(pid)

    def _model_caps(self, provider: Provider, name: str) -> Capabilities:
        from ._capabilities import model_caps
        from .providers.registry import builtin_kind

        pid = provider.id
        kind = None
        if pid not in self._objects:
            pc = self.config.providers.get(pid)
            kind = (pc.kind if pc is not None else None) or builtin_kind(pid)
        found = self._discovered.get(pid, {}).get(name)
        return model_caps(provider, kind, name, found)

    def blocked(self, model: Any) -> tuple[str, ...]:
        """The capabilities ``model`` is known to lack, cached per model name (cleared
        when a listing or a registration adds knowledge)."""
        found = self._blocked.get(model)
        if found is None:
            from ._capabilities import blockers

            found = blockers(self.capabilities(model))
            if len(self._blocked) >= 4096:  # model names built on the fly: stay bounded
                self._forget()
            self._blocked[model] = found
        return found

    def _forget(self) -> None:
        """Drop what was worked out per model (new knowledge or a new provider)."""
        self._blocked.clear()
        self._routes.clear()

    def route(self, model: Any) -> tuple[Provider, str, tuple[str, ...], CallContext]:
        """``(provider, name, blocked, context)`` of a call on ``model`` without its own
        timeout: resolved, checked and kept on the first call (a dict lookup after)."""
        try:
            found = self._routes.get(model)
        except TypeError:  # unhashable: resolve() names the problem
            found = None
        if found is None:
            provider, name = self.resolve(model)
            found = (provider, name, self.blocked(model), self.context(provider.id, None))
            if len(self._routes) >= 4096:  # as _blocked
                self._routes.clear()
            self._routes[model] = found
        return found

    def discovered(self, pid: str, models: Sequence[ModelInfo]) -> None:
        """What ``list_models(pid)`` returned, for :meth:`capabilities`."""
        self._discovered[pid] = {m.id: m for m in models}
        self._forget()
        from ._catalog_wiring import record_listing  # and the catalog's disk cache

        record_listing(self.config, self._source, pid, models)

    def unlisted(self, model: Any) -> list[str]:
        """The providers ``model`` runs on (each deployment's, for a group) whose models
        this configuration has not listed yet: what :meth:`Client.capabilities` asks."""
        if not isinstance(model, str) or not model:
            return []
        target = self.config.aliases.get(model, model)
        group = self.config.models.get(model) if "/" not in target else None
        if group is None:
            pids = [target.partition("/")[0]]
        else:
            pids = [d.endpoint or d.model.partition("/")[0] for d in group.deployments]
        return [p for p in dict.fromkeys(pids) if p not in self._discovered]

    def stream_request(
        self, model: Any, messages: Any, *args: Any, **options: Any
    ) -> tuple[Provider, ChatRequest, CallContext]:
        """:meth:`request` for a stream: also refuses a model known not to stream."""
        out = self.request(model, messages, *args, **options)
        blocked = self._blocked.get(model)
        if blocked and "streaming" in blocked:
            check_request(blocked, out[1], model, streaming=True)
        return out

    def resolve(self, model: Any) -> tuple[Provider, str]:
        if not isinstance(model, str) or not model:
            raise ConfigurationError("model must be a non-empty string", field="model")
        target = self.config.aliases.get(model, model)
        pid, sep, name = target.partition("/")
        if not sep or not pid or not name:
            group = self.config.models.get(model)
            if group is None:
                raise ConfigurationError(
                    f"model {model!r} must be '<provider>/<model>', an alias or a model group "
                    "from llmswitch.toml",
                    field="model",
                )
            # The router picks the deployment per call; the primary one stands in for
            # validation and anything that does not route (embed, count_tokens).
            pid, _, name = group.primary.model.partition("/")
            pid = group.primary.endpoint or pid  # its own base_url/api_key: derived provider
        return self.provider(pid), name

    def _default_retry(self, layers: Sequence[Middleware]) -> Retry | None:
        """A Retry of ``max_retries`` retries, unless retries are off or already there
        (the user's own Retry, or ``[retry]`` from llmswitch.toml): never two layers."""
        if self.max_retries == 0 or self.config.retry is not None:
            return None
        from .middleware.retry import Retry, RetryPolicy

        if any(isinstance(m, Retry) for m in layers):
            return None
        # The default retries stay within the call's total timeout, so
        # Client(timeout={"total": 3}) ends after about 3 s, retries included.
        return Retry(RetryPolicy(attempts=self.max_retries + 1), within_timeout=True)

    def pipeline(self, middleware: Any) -> Pipeline | None:
        """User middleware plus, when the config has model groups and the user brought
        no router, a Router placed just outside the first per-attempt layer (docs/architecture.md:
        router, then per attempt key pick -> breaker -> retry); ``None`` when there is
        nothing to wrap. With resilience settings in the config (``[retry]``, ``[breaker]``,
        ``[[limits]]``, ``[[quotas]]``, key pools, deployment ``rpm``/``tpm``) the whole
        default stack is built from them instead (see :mod:`llmswitch.middleware._stack`)."""
        middleware = check_middleware(middleware)
        if self.config.resilient:
            from .middleware._stack import build_stack

            layers = build_stack(self.config, self.provider, middleware)
        else:
            layers = list(middleware)
            if self.config.models:
                from .middleware.router import Router  # only clients with model groups need it

                if not any(isinstance(m, Router) for m in layers):
                    at = next((i for i, m in enumerate(layers) if m.per_attempt), len(layers))
                    layers.insert(at, Router(self.config.models, self.provider))
        if self.config.cache is not None or any(
            getattr(m, "is_response_cache", False) for m in layers
        ):
            from .cache._wiring import wire_cache

            groups = {
                name: [f"{d.endpoint or ''}:{d.model}" for d in g.deployments]
                for name, g in self.config.models.items()
            }
            ledger = self.ledger
            given = {id(m) for m in layers}
            layers = wire_cache(
                layers, self.config.cache, groups=groups, aliases=self.config.aliases,
                record=ledger.append if ledger is not None else None, core=self,
            )  # fmt: skip
            self.owned_cache = next((m for m in layers if id(m) not in given), None)
        if self.vault is not None:
            layers = self._with_vault(layers)
        retry = self._default_retry(layers)
        if retry is not None:
            if not layers and self.ledger is None:
                # the fast path: no pipeline, the client resumes with it on failure
                self.retry = retry
                return None
            layers.append(retry)  # innermost: the last per-attempt layer (docs/architecture.md)
        if self.ledger is not None:
            from .usage.middleware import UsageRecorder

            # Innermost of all: one row per attempt actually sent (usage/middleware.py).
            layers.append(UsageRecorder(self.ledger.append))
        return Pipeline(layers) if layers else None

    def _with_vault(self, layers: list[Middleware]) -> list[Middleware]:
        from ._vault_wiring import OutsideCalls, VaultKeyRotation, wire_layers
        from .keys.byok import UserKeys
        from .storage import open_store

        assert self.vault is not None
        config = self.config
        made: list[Any] = []

        def store() -> Any:  # the [state] store, for pools the vault's keys make
            if not made:
                secret = config.state_secret.get() if config.state_secret is not None else None
                made.append(open_store(config.state, secret=secret))
            return made[0]

        wired = wire_layers(
            layers, handle=self.vault, require_user_keys=config.require_user_keys,
            vault_only=self._vault_only, store=store,
        )  # fmt: skip
        # embed, count_tokens, list_models and health choose their key as these layers do.
        users = next(m for m in wired if isinstance(m, UserKeys))
        rotation = next(m for m in wired if isinstance(m, VaultKeyRotation))
        self.outside = OutsideCalls(users, rotation)
        return wired

    def context(self, pid: str, timeout: Any) -> CallContext:
        """Per-call settings: the call's timeout over the provider's over the client's."""
        if timeout is None:  # the common case: one shared context per provider
            ctx = self._contexts.get(pid)
            if ctx is None:
                ctx = self._contexts[pid] = self._context(pid, None)
            return ctx
        return self._context(pid, timeout)

    def _context(self, pid: str, timeout: Any) -> CallContext:
        pc = self.config.providers.get(pid)
        base = pc.timeout if pc is not None and pc.timeout is not None else self.timeout
        return CallContext(timeout=to_timeout(timeout, base), transport=self.transport)

    def request(
        self,
        model: Any,
        messages: Any,
        # Positional too: the clients pass the chat options in this order (_options.py's
        # CHAT_OPTIONS), which is cheaper than packing them into a dict and back.
        system: Any = None,
        tools: Any = None,
        tool_choice: Any = None,
        temperature: Any = None,
        max_tokens: Any = None,
        top_p: Any = None,
        stop: Any = None,
        response_format: Any = None,
        reasoning: Any = None,
        user: Any = None,
        metadata: Any = None,
        timeout: Any = None,
        extra_body: Any = None,
        extra_headers: Any = None,
        **unknown: Any,
    ) -> tuple[Provider, ChatRequest, CallContext]:
        if unknown:
            raise _unknown_option(unknown)
        # route()'s common answer inline: a model called before, by its name
        found = self._routes.get(model) if type(model) is str else None
        provider, name, blocked, ctx = found if found is not None else self.route(model)
        tool_list = to_tools(tools) if tools is not None else ()
        if system is not None and not isinstance(system, str):
            raise ConfigurationError("system must be a string", field="system")
        if (
            max_tokens is not None
            and (type(max_tokens) is not int or max_tokens < 1)  # a plain int passes here
            and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1)
        ):
            raise ConfigurationError("max_tokens must be a positive integer", field="max_tokens")
        if user is not None and not isinstance(user, str):
            raise ConfigurationError("user must be a string", field="user")
        if metadata is not None or extra_body is not None or extra_headers is not None:
            for field_name, value in (
                ("metadata", metadata), ("extra_body", extra_body), ("extra_headers", extra_headers)
            ):  # fmt: skip
                if value is not None and not isinstance(value, Mapping):
                    raise ConfigurationError(f"{field_name} must be a dict", field=field_name)
        request = make_request(  # every field, in ChatRequest's order
            provider.id,  # provider
            name,  # model
            to_messages(messages),
            system,
            tool_list,  # tools
            to_tool_choice(tool_choice, tool_list) if tool_choice is not None else None,
            _number(temperature, "temperature", 0, 2) if temperature is not None else None,
            max_tokens,
            _number(top_p, "top_p", 0, 1) if top_p is not None else None,
            _stop(stop) if stop is not None else (),
            to_format(response_format) if response_format is not None else None,
            to_reasoning(reasoning) if reasoning is not None else None,
            user,
            metadata,
            extra_body,
            extra_headers,
        )
        # Before anything is sent: a feature the model is known to lack.
        # check_request's conditions, the common request's answer first: a model known
        # to lack (say) reasoning refuses nothing that does not ask for it.
        if blocked and (
            request.tools
            or request.reasoning is not None
            or "chat" in blocked
            or "vision" in blocked
        ):
            check_request(blocked, request, model)
        return provider, request, ctx if timeout is None else self._context(provider.id, timeout)

    def embed_request(
        self,
        model: Any,
        input: Any,
        *,
        dimensions: Any = None,
        input_type: Any = None,
        user: Any = None,
        timeout: Any = None,
        extra_body: Any = None,
        extra_headers: Any = None,
        **unknown: Any,
    ) -> tuple[Any, EmbedRequest, CallContext]:
        if unknown:
            raise _unknown_option(unknown, _EMBED_OPTIONS)
        provider, name = self.resolve(model)
        inputs = (input,) if isinstance(input, str) else input
        if not isinstance(inputs, list | tuple) or not inputs:
            raise ConfigurationError("input must be a string or a non-empty list", field="input")
        for i, text in enumerate(inputs):
            if not isinstance(text, str) or not text:
                raise ConfigurationError("must be a non-empty string", field=f"input[{i}]")
        if dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
        ):
            raise ConfigurationError("dimensions must be a positive integer", field="dimensions")
        for field_name, value in (("input_type", input_type), ("user", user)):
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"{field_name} must be a string", field=field_name)
        # The capability first: a kind known to have no embeddings (Anthropic, Vertex)
        # is a CapabilityError naming "embeddings", whether or not it has embed().
        if "embeddings" in self.blocked(model):
            from ._capabilities import check_embed

            check_embed(self.blocked(model), model, provider.id)
        embedder = getattr(provider, "embed", None)
        if embedder is None:
            raise ConfigurationError(
                f"provider {provider.id!r} has no embeddings", field="model", provider=provider.id
            )
        request = EmbedRequest(
            provider=provider.id,
            model=name,
            inputs=tuple(inputs),
            dimensions=dimensions,
            input_type=input_type,
            user=user,
            extra_body=extra_body,
            extra_headers=extra_headers,
        )
        return provider, request, self.context(provider.id, timeout)


def _counter(provider: Provider, method: str, request: ChatRequest) -> Any:
    counter = getattr(provider, method, None)
    if counter is None:
        raise ConfigurationError(
            f"provider {provider.id!r} cannot count tokens",
            field="model",
            provider=provider.id,
            model=request.model,
        )
    return counter
