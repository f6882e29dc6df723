"""The README's "Configuration reference" table has a row for every section of
``llmswitch.toml`` (the loader's own description of the file), naming each key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmswitch.config._spec import SETTINGS, ArrayOf, Table

README = Path(__file__).resolve().parent.parent / "README.md"


def _rows() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    table = text.split("### Configuration reference", 1)[1].split("\n\n")[2]
    rows: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        section, keys = line.strip("|").split("|", 1)
        for name in re.findall(r"`\[\[?([a-z_.]+)", section):
            rows[name.rstrip(".")] = keys
    return rows


def _sections() -> list[tuple[str, Table | None]]:
    found: list[tuple[str, Table | None]] = []
    for name, value in SETTINGS.keys.items():
        if isinstance(value, ArrayOf):
            value = value.item
        found.append((name, value if isinstance(value, Table) else None))
        if isinstance(value, Table):
            found += [(f"{name}.{k}", v) for k, v in value.keys.items() if isinstance(v, Table)]
    return found


@pytest.mark.parametrize(("section", "table"), _sections(), ids=lambda s: str(s))
def test_every_section_has_a_row_naming_its_keys(section: str, table: Table | None) -> None:
    rows = _rows()
    assert section in rows, f"README Configuration reference: no [{section}] row"
    if table is not None:
        row = rows[section]
        missing = [k for k in table.keys if f"`{k}`" not in row and f"[{section}.{k}" not in row]
        assert missing == [], f"[{section}] row lacks {missing}"


def test_the_cache_row_names_what_the_brief_lists() -> None:
    keys = _rows()["cache"]
    for key in ("url", "ttl", "max_entries", "max_bytes", "cache_sampled", "replay_pace",
                "coalesce", "lock_timeout", "prefix", "semantic"):  # fmt: skip
        assert f"`{key}`" in keys
