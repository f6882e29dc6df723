"""The local master-key KEK: where the key comes from, what it refuses, previous keys."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from llmswitch.errors import ConfigurationError, KeyDecryptionError, KeyVaultError
from llmswitch.keys.envelope import RecordRef, open_envelope, seal
from llmswitch.keys.kek import KeyRing, keyring, resolve_kek_uri
from llmswitch.keys.kek.local import LocalKEK

REF = RecordRef(id="key_00000000000000000001", provider="openai", owner="alice")


def b64key(seed: int) -> str:
    return base64.b64encode(bytes([seed]) * 32).decode()


def test_master_key_alone_implies_local() -> None:
    assert resolve_kek_uri(None, {"LLMSWITCH_MASTER_KEY": b64key(1)}) == "local:"
    assert resolve_kek_uri(None, {}) is None
    # The config file's [keys] kek wins over the environment's LLMSWITCH_KEK.
    env = {"LLMSWITCH_KEK": "local:/from/env"}
    assert resolve_kek_uri("local:/from/config", env) == "local:/from/config"
    assert resolve_kek_uri(None, env) == "local:/from/env"


def test_no_kek_refuses_to_store() -> None:
    ring = keyring(None, {})
    with pytest.raises(KeyVaultError, match="LLMSWITCH_MASTER_KEY"):
        seal("sk-secret-value", REF, ring)


@pytest.mark.parametrize(
    ("value", "why"),
    [("not base64 !!", "not valid base64"), (base64.b64encode(b"short").decode(), "5 bytes")],
)
def test_bad_master_key_names_the_variable_not_the_value(value: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        keyring(None, {"LLMSWITCH_MASTER_KEY": value})
    assert "LLMSWITCH_MASTER_KEY" in str(info.value) and why in str(info.value)
    assert value not in str(info.value)


def test_bad_previous_key_names_its_entry() -> None:
    env = {"LLMSWITCH_MASTER_KEY": b64key(1), "LLMSWITCH_MASTER_KEY_PREVIOUS": f"{b64key(2)},xx"}
    with pytest.raises(ConfigurationError, match=r"PREVIOUS \(entry 2\)"):
        keyring(None, env)


def test_url_safe_base64_and_whitespace_are_accepted() -> None:
    raw = bytes(range(32))
    text = "  " + base64.urlsafe_b64encode(raw).decode() + "\n"
    ring = keyring(None, {"LLMSWITCH_MASTER_KEY": text})
    assert ring.current is not None
    assert ring.current.current_id() == LocalKEK(raw).current_id()


@pytest.mark.parametrize("encode", [base64.urlsafe_b64encode, base64.b64encode])
def test_unpadded_base64_is_accepted(encode: object) -> None:
    # secrets.token_urlsafe(32) and friends drop the "=" padding.
    raw = bytes(range(100, 132))
    text = encode(raw).decode().rstrip("=")  # type: ignore[operator]
    ring = keyring(None, {"LLMSWITCH_MASTER_KEY": text})
    assert ring.current is not None
    assert ring.current.current_id() == LocalKEK(raw).current_id()


def test_key_id_names_the_key_without_revealing_it() -> None:
    kek = LocalKEK(bytes([7]) * 32)
    kek_id = kek.current_id()
    assert kek_id.startswith("local:") and len(kek_id) == len("local:") + 16
    assert base64.b64encode(bytes([7]) * 32).decode() not in repr(kek) + kek_id
    assert LocalKEK(bytes([8]) * 32).current_id() != kek_id


def write_key_file(path: Path, mode: int) -> Path:
    path.write_text(b64key(3) + "\n")
    os.chmod(path, mode)
    return path


def test_key_file(tmp_path: Path) -> None:
    path = write_key_file(tmp_path / "master.key", 0o600)
    ring = keyring(f"local:{path}", {})
    envelope = seal("sk-file-key", REF, ring)
    assert open_envelope(envelope, REF, ring, _fp("sk-file-key")) == "sk-file-key"
    assert envelope.kek_id == LocalKEK(bytes([3]) * 32).current_id()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = write_key_file(tmp_path / "master.key", mode)
    with pytest.raises(ConfigurationError, match="chmod 600") as info:
        keyring(f"local:{path}", {})
    assert oct(stat.S_IMODE(mode))[2:] in str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read key file"):
        keyring(f"local:{tmp_path / 'absent'}", {})


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_as_key_file_is_refused_without_blocking(tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "master.key"
    os.mkfifo(fifo, 0o600)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            keyring(f"local:{fifo}", {})
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(timeout=30)
    if thread.is_alive():  # unblock the reader so the test run does not hang
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(timeout=30)
        pytest.fail("opening a FIFO key file blocked")
    [exc] = outcome
    assert isinstance(exc, ConfigurationError) and "not a regular file" in str(exc)
    assert exc.field == "kek"


def test_key_file_with_garbage(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(os.urandom(64))
    os.chmod(path, 0o600)
    with pytest.raises(ConfigurationError, match="key file"):
        keyring(f"local:{path}", {})


def test_previous_keys_unwrap_until_rewrapped() -> None:
    old_env = {"LLMSWITCH_MASTER_KEY": b64key(1)}
    envelope = seal("sk-old-wrapped", REF, keyring(None, old_env))
    new_only = keyring(None, {"LLMSWITCH_MASTER_KEY": b64key(2)})
    with pytest.raises(KeyDecryptionError, match=REF.id) as info:
        open_envelope(envelope, REF, new_only, _fp("sk-old-wrapped"))
    assert "LLMSWITCH_MASTER_KEY_PREVIOUS" in str(info.value)
    both = keyring(
        None, {"LLMSWITCH_MASTER_KEY": b64key(2), "LLMSWITCH_MASTER_KEY_PREVIOUS": b64key(1)}
    )
    assert open_envelope(envelope, REF, both, _fp("sk-old-wrapped")) == "sk-old-wrapped"
    # New records use the current key only.
    assert seal("sk-new", REF, both).kek_id == LocalKEK(bytes([2]) * 32).current_id()


def test_unknown_kek_uri() -> None:
    with pytest.raises(ConfigurationError, match="unknown KEK"):
        keyring("vault://x", {})


def test_ring_refuses_unknown_kek_ids() -> None:
    ring = KeyRing(LocalKEK(bytes([1]) * 32), {})
    with pytest.raises(KeyDecryptionError, match="unknown KEK id"):
        ring.unwrap(b"x" * 60, "rot13:abc", REF)


def _fp(secret: str) -> str:
    from llmswitch.keys.envelope import fingerprint

    return fingerprint(secret)


def test_records_of_a_former_key_file_open_from_previous_keys_under_another_kek(
    tmp_path: Path,
) -> None:
    path = write_key_file(tmp_path / "master.key", 0o600)  # the key of seed 3
    envelope = seal("sk-from-key-file", REF, keyring(f"local:{path}", {}))

    class OtherKek:  # the new current KEK (a KMS, in real life): owns nothing local
        name = "other"

        def owns(self, kek_id: str) -> bool:
            return False

    only_previous = KeyRing(OtherKek(), {"LLMSWITCH_MASTER_KEY_PREVIOUS": b64key(3)})  # type: ignore[arg-type]
    assert (
        open_envelope(envelope, REF, only_previous, _fp("sk-from-key-file")) == "sk-from-key-file"
    )
    nothing = KeyRing(OtherKek(), {})  # type: ignore[arg-type]
    with pytest.raises(KeyDecryptionError, match="LLMSWITCH_MASTER_KEY_PREVIOUS"):
        open_envelope(envelope, REF, nothing, _fp("sk-from-key-file"))
