"""The tables as they are after the latest migration, for the code that queries them.

SQLAlchemy Core ``Table``s on one ``metadata``. Timestamps are ``BigInteger`` unix
epoch milliseconds, UTC (:func:`~llmswitch.storage.sql.now_ms`). This module describes
the schema; it never creates it: the migrations in ``migrations/`` do, each with its
own frozen copy of the DDL, so a later change here cannot alter what an old migration
does. ``tests/test_sql_migrations.py`` checks that a migrated database matches these
definitions.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "MIGRATIONS_TABLE",
    "access_keys",
    "audit_log",
    "metadata",
    "prompt_experiments",
    "prompt_feedback",
    "prompt_labels",
    "prompt_versions",
    "provider_keys",
    "schema_migrations",
    "teams",
    "usage_ledger",
    "users",
]

metadata = MetaData()

# Encrypted provider keys (the vault, llmswitch.keys). The secret itself is only ever
# stored as AES-GCM ciphertext under a data key wrapped by the KEK named in kek_id.
provider_keys = Table(
    "provider_keys",
    metadata,
    Column("id", String(40), primary_key=True),  # "key_" + 20 hex chars
    Column("provider", String(64), nullable=False),
    Column("owner", String(200), nullable=True),  # user id; NULL = a shared key
    Column("label", String(200), nullable=True),
    Column("fingerprint", String(64), nullable=False),  # hex SHA-256 of the secret
    Column("kek_id", String(500), nullable=False),  # which KEK (and version) wrapped it
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("retire_at", BigInteger, nullable=True),  # end of a replacement's window
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_provider_keys_provider_owner", "provider", "owner"),
)

# Who changed what and when: configuration applies, key additions/removals/rotations.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(500), nullable=True),
    Column("detail", Text, nullable=False),  # JSON, secrets masked
    Index("ix_audit_log_at", "at"),
)

# The usage ledger (llmswitch.usage): one row per billed attempt. Money is integer
# nano-USD; NULL cost = a price was unknown (never 0). (request_id, attempt) is unique
# so the writer and the journal replay can both insert with ON CONFLICT DO NOTHING.
usage_ledger = Table(
    "usage_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("at", BigInteger, nullable=False),  # epoch ms, when the attempt started
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
    Column("status", String(16), nullable=False),  # ok|error|cancelled|broken|cached
    Column("error", String(200), nullable=True),  # the error's class name
    Column("cost_nano", BigInteger, nullable=True),
    Column("saved_nano", BigInteger, nullable=True),  # what a cache hit saved
    Column("stream", Boolean, nullable=False),
    UniqueConstraint("request_id", "attempt", name="uq_usage_ledger_request_attempt"),
    Index("ix_usage_ledger_at", "at"),
    Index("ix_usage_ledger_user_at", "user", "at"),
    Index("ix_usage_ledger_team_at", "team", "at"),
    Index("ix_usage_ledger_provider_model_at", "provider", "model", "at"),
)

# Prompt experiments (llmswitch.prompts.experiments): one prompt's traffic split between
# versions/models; ``variants`` is JSON [{name, version, weight, model?}].
prompt_experiments = Table(
    "prompt_experiments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("prompt_name", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # running|paused|stopped
    Column("variants", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("created_by", String(200), nullable=True),
    Column("winner", String(100), nullable=True),
    Column("promoted_label", String(100), nullable=True),
    Index("ix_prompt_experiments_prompt_status", "prompt_name", "status"),
)

# User feedback on one answer (client.feedback): the last score given for a request
# id wins; joined to usage_ledger.request_id by the prompt analytics.
prompt_feedback = Table(
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

# Stored prompts (llmswitch.prompts): every save is an immutable version; a label
# (production, staging, ...) is a movable pointer to one. ``content`` is the prompt's
# JSON (system, messages, model, options, variables, defaults), ``content_hash`` its
# hex SHA-256 over sorted keys.
prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("name", String(200), nullable=False),
    Column("version", Integer, nullable=False),  # 1, 2, ... per name
    Column("content", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("author", String(200), nullable=True),
    Column("message", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("name", "version", name="pk_prompt_versions"),
)

prompt_labels = Table(
    "prompt_labels",
    metadata,
    Column("name", String(200), nullable=False),
    Column("label", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(200), nullable=True),
    PrimaryKeyConstraint("name", "label", name="pk_prompt_labels"),
)

# Gateway tenancy (llmswitch.gateway.tenancy): teams, users and their access keys.
# ``allowed_models`` is a JSON array (NULL: every configured model), ``limits`` a JSON
# object of TenantLimits (NULL: none at this level).
teams = Table(
    "teams",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("allowed_models", Text, nullable=True),
    Column("limits", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

users = Table(
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

# Only the SHA-256 of an access key is stored: keys carry 256 random bits, so an
# unsalted fast hash cannot be brute-forced and allows an indexed lookup by hash.
access_keys = Table(
    "access_keys",
    metadata,
    Column("id", String(16), primary_key=True),  # "key_" + 12 hex chars
    Column("hash", String(64), nullable=False, unique=True),  # hex SHA-256 of the key
    Column("prefix", String(8), nullable=False),  # first 8 characters after "lsk-"
    Column(
        "user", String(64), ForeignKey("users.name", name="fk_access_keys_user"), nullable=False
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

MIGRATIONS_TABLE = "llmswitch_migrations"

# Bookkeeping of the migration runner (_migrate.py): one row per applied version.
schema_migrations = Table(
    MIGRATIONS_TABLE,
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)
