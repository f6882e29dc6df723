"""v0005: gateway tenancy (llmswitch.gateway.tenancy): teams, users and access keys.

Frozen copy of the DDL, as in v0001: ``schema.py`` may change, this may not.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
)

VERSION = 5
DESCRIPTION = "teams, users and access_keys"


def upgrade(conn: Connection) -> None:
    metadata = MetaData()
    Table(
        "teams",
        metadata,
        Column("name", String(64), primary_key=True),
        Column("allowed_models", Text, nullable=True),
        Column("limits", Text, nullable=True),
        Column("created_at", BigInteger, nullable=False),
    )
    Table(
        "users",
        metadata,
        Column("name", String(64), primary_key=True),
        Column("team", String(64), ForeignKey("teams.name", name="fk_users_team"), nullable=True),
        Column("allowed_models", Text, nullable=True),
        Column("limits", Text, nullable=True),
        Column("created_at", BigInteger, nullable=False),
        Column("disabled", Boolean, nullable=False, server_default="0"),
        Index("ix_users_team", "team"),
    )
    Table(
        "access_keys",
        metadata,
        Column("id", String(16), primary_key=True),
        Column("hash", String(64), nullable=False, unique=True),
        Column("prefix", String(8), nullable=False),
        Column(
            "user",
            String(64),
            ForeignKey("users.name", name="fk_access_keys_user"),
            nullable=False,
        ),
        Column("name", String(200), nullable=True),
        Column("allowed_models", Text, nullable=True),
        Column("limits", Text, nullable=True),
        Column("expires_at", BigInteger, nullable=True),
        Column("revoked_at", BigInteger, nullable=True),
        Column("created_at", BigInteger, nullable=False),
        Column("last_used_at", BigInteger, nullable=True),
        Index("ix_access_keys_user", "user"),
    )
    metadata.create_all(conn, checkfirst=False)
