"""A Google OAuth token endpoint and Vertex AI settings on a loopback server.

:class:`GoogleAccount` is a service account with a freshly generated RSA key whose JSON
file points ``token_uri`` at the loopback server: google-auth signs a JWT assertion with
the key and posts it there, and :meth:`GoogleAccount.token_reply` checks the signature
and the claims before handing out ``ya29.test-token-N`` (``issued`` counts them).
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.loopback import Loopback, Recorded, Reply

TOKEN_PATH = "/token"
PROJECT = "proj-vertex-1"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
EMAIL = "llmswitch-test@proj-vertex-1.iam.gserviceaccount.com"
GEMINI_ROOT = f"/v1/projects/{PROJECT}/locations/global/publishers/google/models"
CLAUDE_ROOT = f"/v1/projects/{PROJECT}/locations/global/publishers/anthropic/models"

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # once per session


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class GoogleAccount:
    """A service account served by ``loopback``; write its file with :meth:`write`."""

    loopback: Loopback
    expires_in: int = 3600
    delay: float = 0.0  # before the token endpoint answers
    issued: int = 0
    assertions: list[dict[str, Any]] = field(default_factory=list)
    refuse: bool = False  # answer 400 invalid_grant
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.loopback.route("POST", TOKEN_PATH, handler=self.token_reply)

    def write(self, directory: Path, **changes: str) -> Path:
        return write_service_account(directory, self.loopback.url + TOKEN_PATH, **changes)

    def token(self, n: int) -> str:
        return f"ya29.test-token-{n}"

    def token_reply(self, request: Recorded) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        head, claims, signature = form["assertion"].split(".")
        # The assertion must be signed with the account's key (RS256) ...
        _KEY.public_key().verify(
            _b64decode(signature),
            f"{head}.{claims}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
        header = json.loads(_b64decode(head))
        payload = json.loads(_b64decode(claims))
        # ... name the account and the cloud-platform scope (the audience is Google's
        # token endpoint whatever token_uri the request goes to, as google-auth signs it).
        assert header["alg"] == "RS256" and header["kid"] == "0123456789abcdef"
        assert payload["iss"] == EMAIL and payload["scope"] == SCOPE
        assert payload["aud"] == "https://oauth2.googleapis.com/token"
        assert payload["exp"] > payload["iat"]
        self.assertions.append(payload)
        if self.refuse:
            body = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            return Reply(status=400, body=json.dumps(body).encode(), delay=self.delay)
        with self._lock:
            self.issued += 1
            n = self.issued
        body = {
            "access_token": self.token(n),
            "expires_in": self.expires_in,
            "token_type": "Bearer",
        }
        return Reply(body=json.dumps(body).encode(), delay=self.delay)


def service_account_info(token_uri: str) -> dict[str, str]:
    """A service account's JSON with the session's key, minting tokens at ``token_uri``."""
    pem = _KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    }


def write_service_account(directory: Path, token_uri: str, **changes: str) -> Path:
    path = directory / "service-account.json"
    path.write_text(json.dumps({**service_account_info(token_uri), **changes}))
    return path


def vertex_env(loopback: Loopback, credentials: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """A client environment for Vertex at ``loopback`` with the account's file (and no
    gcloud configuration of this machine's user)."""
    return {
        "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
        "VERTEX_BASE_URL": loopback.url,
        "CLOUDSDK_CONFIG": str(tmp / "gcloud"),
        **extra,
    }
