"""v0004: stored prompts (llmswitch.prompts): immutable versions and movable labels.

Frozen copy of the DDL, as in v0001: ``schema.py`` may change, this may not.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

VERSION = 4
DESCRIPTION = "prompt_versions and prompt_labels"


def upgrade(conn: Connection) -> None:
    metadata = MetaData()
    Table(
        "prompt_versions",
        metadata,
        Column("name", String(200), nullable=False),
        Column("version", Integer, nullable=False),
        Column("content", Text, nullable=False),
        Column("content_hash", String(64), nullable=False),
        Column("author", String(200), nullable=True),
        Column("message", Text, nullable=True),
        Column("created_at", BigInteger, nullable=False),
        PrimaryKeyConstraint("name", "version", name="pk_prompt_versions"),
    )
    Table(
        "prompt_labels",
        metadata,
        Column("name", String(200), nullable=False),
        Column("label", String(100), nullable=False),
        Column("version", Integer, nullable=False),
        Column("updated_at", BigInteger, nullable=False),
        Column("updated_by", String(200), nullable=True),
        PrimaryKeyConstraint("name", "label", name="pk_prompt_labels"),
    )
    metadata.create_all(conn, checkfirst=False)
