"""KMS servers on loopback for the vault's tests.

- :class:`FakeGcpKms`: the Cloud KMS REST ``encrypt``/``decrypt`` methods
  (``POST /v1/{name}:encrypt``, ``POST /v1/{name}:decrypt``; JSON with base64 bytes and
  int64-as-string CRC32C fields), enough for the real ``google-cloud-kms`` client
  pointed at it (``LLMSWITCH_GCP_KMS_ENDPOINT=http://127.0.0.1:PORT``). Keys have
  versions; :meth:`FakeGcpKms.rotate` adds a new primary one, as a KMS key rotation
  does. It checks the request CRC32Cs like the service does, and can be told to fail
  (``status``) or to corrupt its answers' checksums (``corrupt_crc``).
- :func:`moto_kms`: moto in server mode (``ThreadedMotoServer``) on a free loopback
  port, with a symmetric key created there; never moto's in-process mock.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import google_crc32c
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

GCP_KEY = "projects/p1/locations/global/keyRings/ring/cryptoKeys/vault"


def _crc(data: bytes) -> str:
    return str(google_crc32c.value(data))


@dataclass
class _Key:
    versions: list[bytes] = field(default_factory=list)  # AES keys, version n = index n-1
    primary: int = 1


class FakeGcpKms:
    """A loopback stand-in for ``cloudkms.googleapis.com``'s encrypt/decrypt."""

    def __init__(self, *keys: str) -> None:
        self.keys: dict[str, _Key] = {}
        for name in keys or (GCP_KEY,):
            self.keys[name] = _Key([AESGCM.generate_key(256)])
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.status: int | None = None  # answer every call with this error status
        self.corrupt_crc = False
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                status, reply = fake.handle(self.path, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def uri(self, name: str = GCP_KEY) -> str:
        return "gcp-kms://" + name

    def rotate(self, name: str = GCP_KEY) -> int:
        """A new primary version; the old ones still decrypt. Returns its number."""
        with self._lock:
            key = self.keys[name]
            key.versions.append(AESGCM.generate_key(256))
            key.primary = len(key.versions)
            return key.primary

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- the API

    @staticmethod
    def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
        return status, {"error": {"code": status, "message": message, "status": code}}

    def handle(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if not path.startswith("/v1/") or ":" not in path:
            return self._error(404, "NOT_FOUND", "no such method")
        name, _, method = path[len("/v1/") :].partition("?")[0].rpartition(":")
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self._error(400, "INVALID_ARGUMENT", "bad JSON")
        with self._lock:
            self.requests.append((method, request))
        if self.status is not None:
            return self._error(self.status, "UNAVAILABLE", "the service is unavailable")
        key = self.keys.get(name)
        if key is None:
            return self._error(404, "NOT_FOUND", f"CryptoKey {name} not found")
        aad = base64.b64decode(request.get("additionalAuthenticatedData", ""))
        if "additionalAuthenticatedDataCrc32c" in request and str(
            request["additionalAuthenticatedDataCrc32c"]
        ) != _crc(aad):
            return self._error(400, "INVALID_ARGUMENT", "AAD checksum mismatch")
        if method == "encrypt":
            return self._encrypt(name, key, request, aad)
        if method == "decrypt":
            return self._decrypt(key, request, aad)
        return self._error(404, "NOT_FOUND", f"no method {method}")

    def _encrypt(
        self, name: str, key: _Key, request: dict[str, Any], aad: bytes
    ) -> tuple[int, dict[str, Any]]:
        plaintext = base64.b64decode(request.get("plaintext", ""))
        if "plaintextCrc32c" in request and str(request["plaintextCrc32c"]) != _crc(plaintext):
            return self._error(400, "INVALID_ARGUMENT", "plaintext checksum mismatch")
        version = key.primary
        nonce = os.urandom(12)
        sealed = AESGCM(key.versions[version - 1]).encrypt(nonce, plaintext, aad)
        ciphertext = version.to_bytes(4, "big") + nonce + sealed
        crc = _crc(ciphertext) if not self.corrupt_crc else str(int(_crc(ciphertext)) ^ 1)
        return 200, {
            "name": f"{name}/cryptoKeyVersions/{version}",
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "ciphertextCrc32c": crc,
            "verifiedPlaintextCrc32c": "plaintextCrc32c" in request,
            "verifiedAdditionalAuthenticatedDataCrc32c": (
                "additionalAuthenticatedDataCrc32c" in request
            ),
            "protectionLevel": "SOFTWARE",
        }

    def _decrypt(
        self, key: _Key, request: dict[str, Any], aad: bytes
    ) -> tuple[int, dict[str, Any]]:
        ciphertext = base64.b64decode(request.get("ciphertext", ""))
        if "ciphertextCrc32c" in request and str(request["ciphertextCrc32c"]) != _crc(ciphertext):
            return self._error(400, "INVALID_ARGUMENT", "ciphertext checksum mismatch")
        version = int.from_bytes(ciphertext[:4], "big")
        bad = self._error(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
        if not 1 <= version <= len(key.versions) or len(ciphertext) < 4 + 12 + 16:
            return bad
        try:
            plaintext = AESGCM(key.versions[version - 1]).decrypt(
                ciphertext[4:16], ciphertext[16:], aad
            )
        except Exception:
            return bad
        crc = _crc(plaintext) if not self.corrupt_crc else str(int(_crc(plaintext)) ^ 1)
        return 200, {
            "plaintext": base64.b64encode(plaintext).decode(),
            "plaintextCrc32c": crc,
            "usedPrimary": version == key.primary,
            "protectionLevel": "SOFTWARE",
        }


@contextmanager
def fake_gcp_kms(*keys: str) -> Iterator[FakeGcpKms]:
    server = FakeGcpKms(*keys)
    try:
        yield server
    finally:
        server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MotoKms:
    endpoint: str
    arn: str
    region: str

    @property
    def uri(self) -> str:
        return "aws-kms://" + self.arn

    def client(self) -> Any:
        import boto3

        return boto3.session.Session().client(
            "kms", region_name=self.region, endpoint_url=self.endpoint
        )

    def create_key(self) -> str:
        return str(self.client().create_key()["KeyMetadata"]["Arn"])


AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@contextmanager
def moto_kms(region: str = "us-east-1") -> Iterator[MotoKms]:
    """moto's KMS on loopback with one symmetric key; the caller sets AWS_TEST_ENV."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        kms = MotoKms(endpoint=endpoint, arn="", region=region)
        kms.arn = kms.create_key()
        yield kms
    finally:
        server.stop()
