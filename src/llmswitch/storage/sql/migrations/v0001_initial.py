"""v0001: the key vault's ``provider_keys`` and the ``audit_log``.

The tables are defined here again, not taken from ``schema.py``: an applied migration
must keep creating exactly what it created the first time, whatever ``schema.py``
becomes later.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

VERSION = 1
DESCRIPTION = "provider_keys and audit_log"


def upgrade(conn: Connection) -> None:
    metadata = MetaData()
    Table(
        "provider_keys",
        metadata,
        Column("id", String(40), primary_key=True),
        Column("provider", String(64), nullable=False),
        Column("owner", String(200), nullable=True),
        Column("label", String(200), nullable=True),
        Column("fingerprint", String(64), nullable=False),
        Column("kek_id", String(500), nullable=False),
        Column("wrapped_key", LargeBinary, nullable=False),
        Column("nonce", LargeBinary, nullable=False),
        Column("ciphertext", LargeBinary, nullable=False),
        Column("status", String(16), nullable=False, server_default="active"),
        Column("retire_at", BigInteger, nullable=True),
        Column("created_at", BigInteger, nullable=False),
        Column("updated_at", BigInteger, nullable=False),
        Index("ix_provider_keys_provider_owner", "provider", "owner"),
    )
    Table(
        "audit_log",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", BigInteger, nullable=False),
        Column("actor", String(200), nullable=False),
        Column("action", String(64), nullable=False),
        Column("subject", String(500), nullable=True),
        Column("detail", Text, nullable=False),
        Index("ix_audit_log_at", "at"),
    )
    metadata.create_all(conn, checkfirst=False)
