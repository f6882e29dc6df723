"""The schema migrations, oldest first: one line per migration module.

A schema change is a NEW module ``vNNNN_name.py`` (``VERSION: int``, ``DESCRIPTION:
str``, ``upgrade(conn)`` running in the runner's transaction) added to the end of
this list. An applied migration is never edited: databases out there already ran it.
"""

from __future__ import annotations

from types import ModuleType

from . import (
    v0001_initial,
    v0002_usage_ledger,
    v0003_prompt_experiments,
    v0004_prompts,
    v0005_tenancy,
)

MIGRATIONS: tuple[ModuleType, ...] = (
    v0001_initial,
    v0002_usage_ledger,
    v0003_prompt_experiments,
    v0004_prompts,
    v0005_tenancy,
)  # fmt: skip
