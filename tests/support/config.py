"""Writing the config files tests load."""

from __future__ import annotations

from pathlib import Path


def write(tmp_path: Path, text: str, name: str = "llmswitch.toml") -> Path:
    """``text`` as ``tmp_path/name``; its path."""
    path = tmp_path / name
    path.write_text(text)
    return path
