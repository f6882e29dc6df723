"""Where Bedrock lives (region, runtime and control-plane URLs) and how requests are
authorised: a Bedrock API key as ``Authorization: Bearer``, or SigV4 (docs/providers.md §6).

botocore does the signing and the credential chain (environment, shared profile, SSO,
container and instance roles); it is imported when a provider is built or a request
signed, never by ``import llmswitch``. Credentials are resolved on first use and the
resolved object is kept: botocore's refreshable credentials renew themselves, and each
signature takes a frozen copy so a refresh never mixes a new key with an old token.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from ...errors import ConfigurationError
from ...wire import HttpRequest
from ..base import Endpoint

# botocore ships no type information: its objects are Any here.
__all__ = [
    "SIGNING_NAME",
    "AwsCredentialChain",
    "BedrockEndpoint",
    "control_url_for",
    "quote_model",
    "runtime_url_for",
]

SIGNING_NAME = "bedrock"  # the credential scope of both runtime and control plane
_REGION_RE = re.compile(r"^[a-z0-9-]+$")
NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "choose a shared profile with AWS_PROFILE, or set AWS_BEARER_TOKEN_BEDROCK "
    "(a Bedrock API key)"
)


@lru_cache(maxsize=256)  # on every request; quote() costs ~2.5 us, a hit ~0.1
def quote_model(model: str) -> str:
    """A model id, inference-profile id or ARN as one path segment: everything but
    ``-_.~`` percent-encoded, as botocore does (``v1:0`` -> ``v1%3A0``, ``/`` -> ``%2F``)."""
    return quote(model, safe="")


def runtime_url_for(region: str) -> str:
    return f"https://bedrock-runtime.{region}.amazonaws.com"


def control_url_for(region: str) -> str:
    return f"https://bedrock.{region}.amazonaws.com"


class AwsCredentialChain:
    """The standard AWS credential chain, resolved once on first use.

    Static keys found in ``env`` win (so ``Client(env={...})`` works without touching
    ``os.environ``); otherwise botocore's chain runs with the profile and config file
    paths from ``env``. Never shows a key in its repr.
    """

    __slots__ = ("_env", "_last", "_lock", "_provider", "_session")

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = {
            k: env[k]
            for k in (
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
                "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE",
                "AWS_SHARED_CREDENTIALS_FILE",
                "AWS_CONFIG_FILE",
            )
            if env.get(k)
        }
        self._lock = threading.Lock()
        self._session: Any = None  # botocore.session.Session
        self._provider: Any = None  # botocore.credentials.Credentials (maybe refreshable)
        self._last: Any = None  # the ReadOnlyCredentials of the latest signature

    def __repr__(self) -> str:
        profile = self.profile
        return f"AwsCredentialChain(profile={profile!r})" if profile else "AwsCredentialChain()"

    @property
    def profile(self) -> str | None:
        return self._env.get("AWS_PROFILE") or self._env.get("AWS_DEFAULT_PROFILE")

    def session(self) -> Any:
        """A botocore session with this environment's profile and file locations."""
        if self._session is None:
            from botocore.session import Session  # type: ignore[import-untyped]

            session = Session(profile=self.profile)
            for var, name in (
                ("credentials_file", "AWS_SHARED_CREDENTIALS_FILE"),
                ("config_file", "AWS_CONFIG_FILE"),
            ):
                if name in self._env:
                    session.set_config_variable(var, self._env[name])
            self._session = session
        return self._session

    def region(self) -> str | None:
        """The region of the shared profile (``region =`` in the config file)."""
        try:
            value = self.session().get_config_variable("region")
        except Exception as exc:  # botocore.exceptions.ProfileNotFound and kin
            raise self._config_error(exc) from None
        return value if isinstance(value, str) and value else None

    def _config_error(self, exc: Exception) -> ConfigurationError:
        name = type(exc).__name__
        if name == "ProfileNotFound":
            return ConfigurationError(
                f"AWS profile {self.profile!r} not found: check AWS_PROFILE and "
                "~/.aws/config (or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE)",
                field="AWS_PROFILE",
            )
        # botocore's messages name files and profiles, never secrets.
        return ConfigurationError(f"could not load AWS credentials: {exc}", field="AWS_PROFILE")

    def _load(self) -> Any:
        env = self._env
        if "AWS_ACCESS_KEY_ID" in env and "AWS_SECRET_ACCESS_KEY" in env:
            from botocore.credentials import Credentials  # type: ignore[import-untyped]

            return Credentials(
                env["AWS_ACCESS_KEY_ID"],
                env["AWS_SECRET_ACCESS_KEY"],
                env.get("AWS_SESSION_TOKEN"),
                method="env",
            )
        try:
            creds = self.session().get_credentials()
        except Exception as exc:  # botocore.exceptions.BotoCoreError and kin
            raise self._config_error(exc) from None
        if creds is None:
            raise ConfigurationError(NO_CREDENTIALS, field="AWS_ACCESS_KEY_ID")
        return creds

    def frozen(self) -> Any:
        """Credentials for one signature (refreshed first when they are about to expire)."""
        provider = self._provider
        if provider is None:
            with self._lock:
                if self._provider is None:
                    self._provider = self._load()
                provider = self._provider
        try:
            frozen = provider.get_frozen_credentials()
        except Exception as exc:  # a failed refresh (expired SSO session, role gone)
            raise self._config_error(exc) from None
        if not frozen.access_key or not frozen.secret_key:
            raise ConfigurationError(NO_CREDENTIALS, field="AWS_ACCESS_KEY_ID")
        self._last = frozen
        return frozen

    def secrets(self) -> tuple[str, ...]:
        """The credentials used so far, for scrubbing from error messages."""
        last = self._last
        if last is None:
            return ()
        return tuple(s for s in (last.access_key, last.secret_key, last.token) if s)


@dataclass(frozen=True, slots=True, kw_only=True)
class BedrockEndpoint(Endpoint):
    """Bedrock runtime (``base_url``) and control plane (``control_url``) in ``region``.

    With ``api_key`` set (a Bedrock API key), requests carry ``Authorization: Bearer``;
    otherwise :meth:`prepare` signs each attempt with SigV4 using ``credentials``.
    """

    region: str
    control_url: str
    credentials: AwsCredentialChain | None = None

    def control(self, path: str) -> str:
        """URL of ``path`` (``/foundation-models``) on the control plane."""
        return self.control_url.rstrip("/") + path

    def secrets(self) -> tuple[str, ...]:
        own = Endpoint.secrets(self)
        return own + self.credentials.secrets() if self.credentials is not None else own

    def prepare(self, request: HttpRequest) -> HttpRequest:
        if self.api_key or self.credentials is None:
            return request
        return sign(request, self.credentials.frozen(), self.region)


def sign(request: HttpRequest, credentials: Any, region: str) -> HttpRequest:
    """A SigV4-signed copy of ``request`` (fresh ``X-Amz-Date`` each call).

    Every header we send is signed; the transport adds only unsigned ones (Host comes
    from the URL, which SigV4 signs the same way). The URL goes out byte for byte as
    signed: the transports do not re-encode it.
    """
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    aws = AWSRequest(method=request.method, url=request.url, headers=headers, data=request.body)
    SigV4Auth(credentials, SIGNING_NAME, region).add_auth(aws)
    return HttpRequest(
        method=request.method, url=request.url, headers=dict(aws.headers.items()), body=request.body
    )


def resolve_region(env: Mapping[str, str], chain: AwsCredentialChain | None) -> str | None:
    """``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the shared profile's region."""
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region and chain is not None:
        region = chain.region()
    if region and not _REGION_RE.match(region):
        raise ConfigurationError(f"AWS region {region[:40]!r} is not valid", field="AWS_REGION")
    return region or None
