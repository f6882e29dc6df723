"""Module paths from before the wire layer keep working, as the same module objects:
the README tells users to set ``llmswitch.transport.limits.MAX_LINE_BYTES``."""

from __future__ import annotations

import importlib

import pytest

from llmswitch import ProviderError
from llmswitch.wire import limits


@pytest.mark.parametrize("name", ["limits", "sse", "ndjson"])
def test_old_transport_paths_are_the_wire_modules(name: str) -> None:
    old = importlib.import_module(f"llmswitch.transport.{name}")
    assert old is importlib.import_module(f"llmswitch.wire.{name}")


def test_setting_a_cap_through_the_documented_path_takes_effect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import llmswitch.transport.limits as documented
    from llmswitch.transport.sse import SSEDecoder

    monkeypatch.setattr(documented, "MAX_LINE_BYTES", 64)
    assert limits.MAX_LINE_BYTES == 64
    decoder = SSEDecoder()
    with pytest.raises(ProviderError, match="stream line exceeds 64 bytes"):
        decoder.feed(b"data: " + b"x" * 100)
