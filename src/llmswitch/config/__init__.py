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

The package: ``_types`` (:class:`Config`), ``_loading`` (finding the file, ``${VAR}``),
``_validate`` (the validator), ``_values`` (single values: numbers against their bounds,
the KEK URI), ``_spec`` (the file's shape and bounds, also the JSON Schema's),
``_toml_lines`` (where each key is written). The settings types come from the layers
they configure and are re-exported here: ``ProviderConfig``
(:mod:`llmswitch.providers.settings`), ``Deployment``/``ModelGroup``
(:mod:`llmswitch.middleware.groups`). Built-in provider ids, kinds and environment
prefixes come from the provider registry (:mod:`llmswitch.providers.registry`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..middleware.groups import FALLBACK_ON, STRATEGIES, Deployment, ModelGroup
from ..providers import registry
from ..providers.settings import ProviderConfig
from ._loading import (
    CONFIG_ENV,
    DEFAULT_CONFIG_FILE,
    OVERLAY_ENV,
    env_prefixes,
    read_config,
    snapshot_env,
)
from ._toml_lines import key_lines
from ._types import Config

if TYPE_CHECKING:
    from ._diff import ConfigChange, ConfigDiff, diff_configs

__all__ = [
    "BUILTIN_PROVIDERS",
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIXES",
    "FALLBACK_ON",
    "KINDS",
    "OVERLAY_ENV",
    "STRATEGIES",
    "Config",
    "ConfigChange",
    "ConfigDiff",
    "Deployment",
    "ModelGroup",
    "ProviderConfig",
    "check_config",
    "diff_configs",
    "json_schema",
    "key_lines",
    "load_config",
    "platform_config",
    "snapshot_env",
    "storage_url",
]


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    overlay: str | None = None,
) -> Config:
    """Load ``path``; else ``$LLMSWITCH_CONFIG``; else ``./llmswitch.toml`` if it exists;
    else an empty :class:`Config`. ``env`` (default ``os.environ``) feeds ``${VAR}``.
    ``overlay`` (default ``$LLMSWITCH_ENV``) names the ``[env.NAME]`` table merged over
    the file."""
    env = os.environ if env is None else env
    found = read_config(path, env)
    if found is None:
        return Config()
    # The validator (and the middleware settings it builds) loads only when a file is read.
    from ._validate import Validator

    file, data = found
    return Validator(str(file), data, env, overlay=overlay).load(file)


def check_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    overlay: str | None = None,
) -> tuple[Path | None, list[ConfigurationError]]:
    """The file :func:`load_config` would read (``None``: none found) and every problem
    in it with the selected overlay, in file order (empty: it loads). Problems that are
    independent of each other (two providers, a provider and ``[retry]``) are all
    reported; within one table, the first. Beyond what loading checks, the key file of
    ``[keys] kek = "local:PATH"`` must exist here (and be a regular file)."""
    env = os.environ if env is None else env
    found = read_config(path, env)
    if found is None:
        return None, []
    from ._validate import Validator

    file, data = found
    try:
        validator = Validator(str(file), data, env, overlay=overlay)
    except ConfigurationError as exc:  # not UTF-8
        return file, [exc]
    return file, validator.check(file, files=True)


def platform_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    overlay: str | None = None,
    sections: tuple[str, ...] = ("storage", "keys", "config"),
) -> Config:
    """A :class:`Config` holding only the ``[storage]``, ``[keys]`` and ``[config]``
    settings of the file :func:`load_config` would read (with the selected overlay;
    ``Config()`` when there is no file), read also when other sections do not validate:
    a command that only needs the database or the vault (``db``, ``config history``,
    ``keys``) must not need every provider's key in its environment. A problem in one of
    ``sections``, in the TOML syntax or in the overlay selection is raised."""
    env = os.environ if env is None else env
    found = read_config(path, env)
    if found is None:
        return Config()
    from ._validate import Validator

    file, data = found
    validator = Validator(str(file), data, env, overlay=overlay)
    for problem in validator.check(file):
        field = problem.field
        if field is None or field == "env" or field.startswith(sections):
            raise problem
    return Config(path=file.resolve(), **validator.platform_values)


def storage_url(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    overlay: str | None = None,
) -> str | None:
    """``[storage] database_url`` of the file :func:`load_config` would read (``None``:
    none set), read as :func:`platform_config` does; only a problem in ``[storage]``
    itself, the TOML syntax or the overlay selection is raised."""
    return platform_config(path, env, overlay=overlay, sections=("storage",)).database_url


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``llmswitch.toml``, overlays included,
    generated from the same description of the file the validator reads."""
    from ._schema import json_schema as generate

    return generate()


def __getattr__(name: str) -> Any:
    # Derived from the provider registry on first use: computing them loads every
    # provider package, which ``import llmswitch`` does not pay for.
    if name == "BUILTIN_PROVIDERS":  # built-in provider id -> its wire kind
        return registry.builtin_kinds()
    if name == "KINDS":
        return registry.kinds()
    if name == "ENV_PREFIXES":
        return env_prefixes()
    if name in ("ConfigChange", "ConfigDiff", "diff_configs"):  # loaded when a reload needs it
        from . import _diff

        return getattr(_diff, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
