"""Provider keys in the encrypted vault, write-only: ``/admin/provider-keys``.

A stored secret never leaves the vault through this API: creating one answers its
record (id, provider, owner, label, fingerprint), listing shows fingerprints, and a
key is replaced by adding the new one and deleting the old. Unlike ``llmswitch keys
add`` the key is not probed against its provider first (an admin call should not
wait on, or fail with, a provider's API); ``llmswitch keys validate`` does that.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import StringConstraints

from ...errors import KeyVaultError
from ._api import Operation
from ._call import AdminCall, conflict, invalid, not_found
from ._models import ProviderKey, ProviderKeyCreate, Text, _In

if TYPE_CHECKING:
    from ...keys.vault import KeyRecord, KeyVault

__all__ = ["OPERATIONS"]


class ProviderKeyPath(_In):
    key_id: Annotated[str, StringConstraints(pattern=r"^key_[0-9a-f]{20}$")]


class ProviderKeysQuery(_In):
    provider: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] | None
    ) = None
    user: Text | None = None


def _when(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def record_out(record: KeyRecord) -> ProviderKey:
    fields: dict[str, Any] = {
        "id": record.id, "provider": record.provider, "user": record.user,
        "label": record.label, "fingerprint": record.fingerprint, "status": record.status,
        "created_at": _when(record.created_at), "retire_at": _when(record.retire_at),
    }  # fmt: skip
    return ProviderKey.model_validate(fields)


async def _vault(call: AdminCall) -> KeyVault:
    return await call.services.vault()


def _known_providers(call: AdminCall) -> list[str]:
    from ...providers.registry import known_provider_ids

    return [p for p in known_provider_ids(call.services.config) if p != "fake"]


async def list_provider_keys(call: AdminCall) -> list[ProviderKey]:
    vault = await _vault(call)
    records = await vault.alist(provider=call.query.provider, user=call.query.user)
    return [record_out(r) for r in records]


async def add_provider_key(call: AdminCall) -> ProviderKey:
    body: ProviderKeyCreate = call.body
    known = _known_providers(call)
    if body.provider not in known:
        raise invalid(
            f"provider is not a known provider (expected one of {', '.join(known)}, or one "
            "declared in llmswitch.toml under [providers.NAME])",
            "provider",
        )
    vault = await _vault(call)
    if vault.ring.current is None:
        raise conflict(
            "the key vault has no key-encryption key ([keys] kek, LLMSWITCH_KEK or "
            "LLMSWITCH_MASTER_KEY): nothing can be stored",
            code="vault_not_configured",
        )
    try:
        record = await vault.aadd(
            body.provider, body.secret.get_secret_value(), user=body.user, label=body.label
        )
    except KeyVaultError as exc:  # never echo the secret: the vault's message has none
        raise invalid(exc.message, "secret") from None
    return record_out(record)


async def delete_provider_key(call: AdminCall) -> None:
    vault = await _vault(call)
    key_id = call.params.key_id
    known = {r.id for r in await vault.alist()}
    if key_id not in known:
        raise not_found(f"no stored provider key {key_id}", "key_id")
    try:
        await vault.aremove(key_id)
    except KeyVaultError:  # removed meanwhile
        raise not_found(f"no stored provider key {key_id}", "key_id") from None


_T = "provider keys"
OPERATIONS = [
    Operation(method="GET", path="/admin/provider-keys",
              summary="List stored provider keys (fingerprints, never the secrets)", tag=_T,
              handler=list_provider_keys, query=ProviderKeysQuery, response=list[ProviderKey]),
    Operation(method="POST", path="/admin/provider-keys",
              summary="Store a provider key, encrypted (write-only: never returned)", tag=_T,
              handler=add_provider_key, body=ProviderKeyCreate, response=ProviderKey,
              status=201, description=__doc__),
    Operation(method="DELETE", path="/admin/provider-keys/{key_id}",
              summary="Delete a stored provider key", tag=_T,
              handler=delete_provider_key, params=ProviderKeyPath, status=204),
]  # fmt: skip
