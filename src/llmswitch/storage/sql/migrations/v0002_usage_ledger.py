"""v0002: the usage ledger, one row per billed attempt (llmswitch.usage).

Frozen copy of the DDL, as in v0001: ``schema.py`` may change, this may not.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

VERSION = 2
DESCRIPTION = "usage_ledger"


def upgrade(conn: Connection) -> None:
    metadata = MetaData()
    Table(
        "usage_ledger",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("request_id", String(64), nullable=False),
        Column("attempt", Integer, nullable=False, server_default="1"),
        Column("at", BigInteger, nullable=False),
        Column("user", String(200), nullable=True),
        Column("team", String(200), nullable=True),
        Column("access_key", String(64), nullable=True),
        Column("provider", String(64), nullable=False),
        Column("model", String(200), nullable=False),
        Column("deployment", String(200), nullable=True),
        Column("prompt_name", String(200), nullable=True),
        Column("prompt_version", Integer, nullable=True),
        Column("prompt_variant", String(100), nullable=True),
        Column("input_tokens", BigInteger, nullable=True),
        Column("output_tokens", BigInteger, nullable=True),
        Column("total_tokens", BigInteger, nullable=True),
        Column("cached_input_tokens", BigInteger, nullable=True),
        Column("cache_write_tokens", BigInteger, nullable=True),
        Column("reasoning_tokens", BigInteger, nullable=True),
        Column("latency_ms", Integer, nullable=True),
        Column("ttft_ms", Integer, nullable=True),
        Column("status", String(16), nullable=False),
        Column("error", String(200), nullable=True),
        Column("cost_nano", BigInteger, nullable=True),
        Column("saved_nano", BigInteger, nullable=True),
        Column("stream", Boolean, nullable=False),
        UniqueConstraint("request_id", "attempt", name="uq_usage_ledger_request_attempt"),
        Index("ix_usage_ledger_at", "at"),
        Index("ix_usage_ledger_user_at", "user", "at"),
        Index("ix_usage_ledger_team_at", "team", "at"),
        Index("ix_usage_ledger_provider_model_at", "provider", "model", "at"),
    )
    metadata.create_all(conn, checkfirst=False)
