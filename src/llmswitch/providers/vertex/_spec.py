"""The Vertex AI provider, configured from the environment and ``llmswitch.toml``.

Credentials (the first found): ``credentials_file`` in llmswitch.toml,
``GOOGLE_APPLICATION_CREDENTIALS`` (a service-account or other google-auth JSON file),
gcloud's application-default file (``gcloud auth application-default login``, under
``CLOUDSDK_CONFIG`` or ``~/.config/gcloud``), else the metadata server when running on
Google Cloud (``GCE_METADATA_HOST`` or ``K_SERVICE`` set, or a ``[providers.<id>]``
entry of kind ``vertex``, which lets ``google.auth.default`` look). Without any of these
the provider is not configured.

Project: ``project`` in llmswitch.toml, ``GOOGLE_CLOUD_PROJECT`` (google-genai's),
``GCLOUD_PROJECT``, ``ANTHROPIC_VERTEX_PROJECT_ID`` (the anthropic SDK's), else the
credentials file's own (a service account's ``project_id``, user credentials'
``quota_project_id``). Location: ``location``, ``GOOGLE_CLOUD_LOCATION``,
``CLOUD_ML_REGION``, else ``global`` (google-genai's default; Claude and current Gemini
models are served there). Base URL: ``base_url`` or ``VERTEX_BASE_URL`` (a proxy or a
test server: the host root, without ``/v1``), else the location's host.

Nothing here sends a request: google-auth is imported, and the token minted, on the
first call (off the event loop on the async path).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ...errors import ConfigurationError
from .._build import base_url, headers, missing
from ..registry import ProviderSettings, ProviderSpec
from ..runtime import Provider
from ._auth import TokenSource, require_google_auth
from ._endpoint import VertexEndpoint, base_url_for, valid_location

_PROJECT_VARIABLES = ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "ANTHROPIC_VERTEX_PROJECT_ID")
_LOCATION_VARIABLES = ("GOOGLE_CLOUD_LOCATION", "CLOUD_ML_REGION")
_ON_GOOGLE_CLOUD = ("GCE_METADATA_HOST", "K_SERVICE")  # the metadata server is there
_ADC_FILE = "application_default_credentials.json"
_MAX_FILE = 1 << 20  # a credentials file is a few KB
NOT_CONFIGURED = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service-account JSON file (or credentials_file "
    "in llmswitch.toml, or run 'gcloud auth application-default login') and "
    "GOOGLE_CLOUD_PROJECT"
)


def _setting(pc: ProviderSettings | None, name: str) -> str | None:
    value = getattr(pc, name, None) if pc is not None else None
    return value if isinstance(value, str) and value else None


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[n] for n in names if env.get(n)), None)


def gcloud_adc_file(env: Mapping[str, str]) -> str:
    """Where ``gcloud auth application-default login`` writes its credentials."""
    config = env.get("CLOUDSDK_CONFIG") or os.path.join(
        os.path.expanduser("~"), ".config", "gcloud"
    )
    return os.path.join(config, _ADC_FILE)


def read_credentials_file(pid: str, path: str, field: str) -> dict[str, Any]:
    """The JSON of a credentials file (for its project), or a ConfigurationError naming
    ``field``. Never shows the file's content."""
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_FILE + 1)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the Google credentials file {path!r} ({exc.strerror or exc}): "
            f"check {field}",
            field=field,
            provider=pid,
        ) from None
    try:
        data = json.loads(raw) if len(raw) <= _MAX_FILE else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ConfigurationError(
            f'{path!r} is not a Google credentials JSON file (no "type"): check {field}',
            field=field,
            provider=pid,
        )
    return data


def _file_project(data: Mapping[str, Any]) -> str | None:
    for key in ("project_id", "quota_project_id"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def build_provider(pid: str, pc: ProviderSettings | None, env: Mapping[str, str]) -> Provider:
    """The Vertex provider ``pid`` from ``llmswitch.toml`` overrides (``pc``) and ``env``."""
    from . import VertexAdapter
    from ._provider import VertexProvider

    explicit = _setting(pc, "credentials_file")
    field = "credentials_file" if explicit else "GOOGLE_APPLICATION_CREDENTIALS"
    path = explicit or env.get("GOOGLE_APPLICATION_CREDENTIALS") or None
    file_data: Mapping[str, Any] = {}
    if path is not None:
        file_data = read_credentials_file(pid, path, field)
    elif os.path.isfile(gcloud_adc_file(env)):
        try:
            file_data = read_credentials_file(pid, gcloud_adc_file(env), "CLOUDSDK_CONFIG")
        except ConfigurationError:
            file_data = {}  # let google.auth.default say what is wrong with it
    elif pc is None and not _first(env, _ON_GOOGLE_CLOUD):
        raise missing(pid, NOT_CONFIGURED, field="GOOGLE_APPLICATION_CREDENTIALS")

    project = _setting(pc, "project") or _first(env, _PROJECT_VARIABLES) or _file_project(file_data)
    if project is None:
        raise missing(
            pid, "set GOOGLE_CLOUD_PROJECT (or project in llmswitch.toml)", "GOOGLE_CLOUD_PROJECT"
        )
    location = _setting(pc, "location") or _first(env, _LOCATION_VARIABLES) or "global"
    if not valid_location(location):
        raise ConfigurationError(
            f"Vertex AI location {location[:40]!r} is not valid (e.g. global, us-central1, "
            "europe-west4): check GOOGLE_CLOUD_LOCATION or location in llmswitch.toml",
            field="location",
            provider=pid,
        )
    require_google_auth(pid)
    root = base_url(pc, env, "VERTEX_BASE_URL") or base_url_for(location)
    endpoint = VertexEndpoint(
        provider=pid,
        base_url=root.rstrip("/").removesuffix("/v1"),
        headers=headers(pc),
        project=project,
        location=location,
        tokens=TokenSource(pid, path),
    )
    return VertexProvider(pid, VertexAdapter(), endpoint)


SPECS = (
    ProviderSpec(
        id="vertex",
        kind="vertex",
        build=build_provider,
        # GOOGLE_*/CLOUDSDK_*/GCE_*: google-auth's default chain reads more of those families.
        env=(
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_CLOUD_PROJECT",
            "GCLOUD_PROJECT",
            "ANTHROPIC_VERTEX_PROJECT_ID",
            "GOOGLE_CLOUD_LOCATION",
            "CLOUD_ML_REGION",
            "VERTEX_BASE_URL",
            "CLOUDSDK_CONFIG",
            "GCE_METADATA_HOST",
            "K_SERVICE",
        ),
        base_url_env="VERTEX_BASE_URL",
    ),
)
