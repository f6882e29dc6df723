from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_middleware_example_runs_and_redacts() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "middleware_redaction.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "the provider saw: My card is [card], can you keep it?" in out
    assert "Streaming works through the same layers." in out
    assert "audit: ['fake/demo:" in out
