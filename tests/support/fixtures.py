"""Provider fixtures: exact bytes recorded from (or written to match) each provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(provider: str, name: str) -> bytes:
    """The bytes of ``tests/fixtures/<provider>/<name>``."""
    return (ROOT / provider / name).read_bytes()


def fixture_json(provider: str, name: str) -> Any:
    return json.loads(fixture(provider, name))


class Fixtures:
    """One provider's fixtures: ``fixture = Fixtures("gemini")``, then ``fixture("text.sse")``."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.dir = ROOT / provider

    def __call__(self, name: str) -> bytes:
        return fixture(self.provider, name)

    def json(self, name: str) -> Any:
        return fixture_json(self.provider, name)

    def names(self, pattern: str, *, exclude: tuple[str, ...] = ()) -> list[str]:
        """Sorted file names matching ``pattern``, without those in ``exclude``."""
        return sorted(p.name for p in self.dir.glob(pattern) if p.name not in exclude)
