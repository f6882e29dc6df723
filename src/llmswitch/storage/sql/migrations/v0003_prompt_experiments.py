"""v0003: prompt experiments and user feedback on answers (llmswitch.prompts).

Frozen copy of the DDL, as in v0001: ``schema.py`` may change, this may not.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

VERSION = 3
DESCRIPTION = "prompt_experiments and prompt_feedback"


def upgrade(conn: Connection) -> None:
    metadata = MetaData()
    Table(
        "prompt_experiments",
        metadata,
        Column("id", String(64), primary_key=True),
        Column("prompt_name", String(200), nullable=False),
        Column("status", String(16), nullable=False),
        Column("variants", Text, nullable=False),
        Column("created_at", BigInteger, nullable=False),
        Column("updated_at", BigInteger, nullable=False),
        Column("created_by", String(200), nullable=True),
        Column("winner", String(100), nullable=True),
        Column("promoted_label", String(100), nullable=True),
        Index("ix_prompt_experiments_prompt_status", "prompt_name", "status"),
    )
    Table(
        "prompt_feedback",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("request_id", String(64), nullable=False),
        Column("score", Float, nullable=False),
        Column("comment", Text, nullable=True),
        Column("user", String(200), nullable=True),
        Column("at", BigInteger, nullable=False),
        UniqueConstraint("request_id", name="uq_prompt_feedback_request_id"),
    )
    metadata.create_all(conn, checkfirst=False)
