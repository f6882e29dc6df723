"""The client's model catalog (:mod:`llmswitch.catalog`): built from the configuration's
``[catalog]`` overrides and the on-disk discovery cache, installed as the process's
default catalog (what ``resp.cost`` and ``catalog.lookup`` use), and refreshed with what
``list_models`` reports (the cache file is written here: the catalog layer only reads).

One process has one default catalog: with several clients, the last one built (or
reloaded) with ``[catalog]`` settings or a discovery cache is the one in force.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence

from . import catalog
from .catalog import Catalog
from .catalog import _discovery as discovery
from .config import Config
from .messages import ModelInfo

__all__ = ["install_catalog", "record_listing"]

_write_lock = threading.Lock()


def _settings(config: Config) -> catalog.CatalogSettings:
    return config.catalog if config.catalog is not None else catalog.CatalogSettings()


def install_catalog(config: Config, env: Mapping[str, str]) -> Catalog | None:
    """Install the catalog of ``config`` when it has overrides or a fresh discovery cache
    exists; None (the default stays) otherwise, so a plain client reads nothing more."""
    settings = _settings(config)
    found: dict[str, dict[str, Mapping[str, object]]] = {}
    if settings.discovery:
        path = discovery.cache_path(env)
        if path.exists():
            found = discovery.fresh(discovery.read_cache(path), settings.refresh)
    if not settings.models and not found:
        catalog.install(None)  # the bundled data alone (also after a reload dropped [catalog])
        return None
    built = Catalog(overrides=settings.models, discovered=found)
    catalog.install(built)
    return built


def record_listing(
    config: Config, env: Mapping[str, str], provider: str, models: Sequence[ModelInfo]
) -> None:
    """Keep what ``list_models(provider)`` reported: in the disk cache (atomically, 0600)
    and in the default catalog. A cache that cannot be written is skipped: it only saves
    a listing."""
    settings = _settings(config)
    if not settings.discovery:
        return
    facts = discovery.facts_of(models)
    path = discovery.cache_path(env)
    with _write_lock, contextlib.suppress(OSError):
        cached = discovery.read_cache(path)
        cached[provider] = {"fetched_at": time.time(), "models": facts}
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".models-cache.")
        try:
            with os.fdopen(fd, "wb") as out:  # mkstemp: mode 0600
                out.write(discovery.encode(cached))
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    catalog.discover(provider, facts)
