"""The settings a provider is built from: one ``[providers.<id>]`` entry of
``llmswitch.toml`` (or a ``ProviderConfig`` passed to a client), read by the builders the
provider packages declare (see :mod:`llmswitch.providers.registry`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..wire import Secret, Timeout
from .registry import builtin_kind

__all__ = ["PROVIDER_ID", "ProviderConfig", "is_http_url"]

# What a provider id may be: it is the part before "/" in "provider/model".
PROVIDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def is_http_url(url: str) -> bool:
    """Whether ``url`` is an http:// or https:// URL with a host (a base URL's shape).
    A malformed URL (``http://[::1/v1``, a port out of range) is not one: ``False``."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderConfig:
    """One ``[providers.<id>]`` entry. ``kind=None`` means the built-in kind of a built-in id."""

    id: str
    kind: str | None = None
    base_url: str | None = None
    api_key: Secret | None = None
    api_version: str | None = None
    organization: str | None = None
    # kind vertex: the Google Cloud project, location and credentials file (JSON).
    project: str | None = None
    location: str | None = None
    credentials_file: str | None = None
    # kind openai-compatible: the code-completion route ("completions", "infill", "chat").
    fim: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: Timeout | None = None
    keys: tuple[Secret, ...] = ()
    key_strategy: str = "round-robin"
    on_state_error: str = "fail_open"  # the key pool's, when the state store fails
    source: str | None = None

    @property
    def effective_kind(self) -> str | None:
        """``kind``, else the built-in kind of this id."""
        return self.kind or builtin_kind(self.id)

    def __repr__(self) -> str:
        # Header values may carry credentials too ("authorization = ${TOKEN}").
        shown = {
            "id": self.id, "kind": self.kind, "base_url": self.base_url,
            "api_key": self.api_key, "api_version": self.api_version,
            "organization": self.organization,
            "project": self.project, "location": self.location,
            "credentials_file": self.credentials_file,
            "fim": self.fim,
            "headers": dict.fromkeys(self.headers, "***"),
            "timeout": self.timeout, "keys": self.keys, "key_strategy": self.key_strategy,
            "source": self.source,
        }  # fmt: skip
        return f"ProviderConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"
