"""``llmswitch models --details`` (prices and capabilities from the catalog merged into the
live listing) and ``--catalog`` (the catalog alone, offline): unknown is ``-`` / ``null``,
never 0."""

from __future__ import annotations

import json

import pytest

import llmswitch
from llmswitch.messages import ModelInfo
from llmswitch.providers.fake import FakeProvider
from tests.support.cli import run
from tests.support.config import write


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """A FakeProvider serving as "openai" in every Client the CLI builds."""
    provider = FakeProvider("openai")
    real = llmswitch.Client
    monkeypatch.setattr(llmswitch, "Client", lambda **kw: real(providers=[provider], **kw))
    return provider


def test_details_json_merges_the_listing_with_catalog_prices(
    fake_openai: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_openai.models[:] = [
        ModelInfo(id="gpt-4o-2024-08-06", provider="openai"),
        ModelInfo(id="my-finetune", provider="openai", context_window=4096),
    ]
    code, out, err = run(capsys, "models", "openai", "--details", "--json")
    assert code == 0 and err == ""
    gpt, mine = json.loads(out)
    assert gpt["id"] == "gpt-4o-2024-08-06" and gpt["context_window"] == 128000
    assert gpt["prices"]["input"] == 2.5 and gpt["prices"]["output"] == 10.0
    assert gpt["prices"]["cached_input"] == 1.25 and gpt["prices"]["cache_write"] is None
    assert gpt["prices"]["source"].startswith("genai-prices ")
    assert gpt["supports_tools"] is True and gpt["supports_streaming"] is True
    # a model nobody prices: null, never 0; its own reported limit is kept
    assert mine["context_window"] == 4096
    assert all(mine["prices"][k] is None for k in ("input", "output", "cached_input"))
    assert mine["supports_tools"] is None


def test_catalog_table_shows_tiers_cache_writes_and_dashes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "models", "--catalog", "anthropic")
    assert code == 0
    header, *rows, footer = out.splitlines()
    assert header.split()[:6] == ["MODEL", "CONTEXT", "MAX", "OUT", "INPUT", "OUTPUT"]
    sonnet = next(r for r in rows if r.startswith("anthropic/claude-sonnet-4-5 "))
    # $3 in, $15 out, $0.30 read, $3.75 5-minute write, $6 1-hour write; >200k: $6 / $22.50
    assert sonnet.split()[1:8] == ["200000", "64000", "3", "15", "0.3", "3.75", "6"]
    assert ">200k: 6/22.5" in sonnet
    assert footer.startswith("prices: USD per million tokens, from genai-prices")


def test_catalog_json_includes_custom_models_of_the_config(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,  # type: ignore[arg-type]
        '[catalog.models."ollama/llama3.2"]\ninput_price = 0\noutput_price = 0\n'
        "context_window = 131072\n",
    )
    code, out, _ = run(capsys, "models", "--catalog", "ollama", "--json", "--config", str(path))
    assert code == 0
    [llama] = json.loads(out)
    # a configured price of 0 is a known price (free), shown as 0, not unknown
    assert llama["id"] == "llama3.2" and llama["prices"]["input"] == 0.0
    assert llama["context_window"] == 131072 and llama["prices"]["source"] == "llmswitch.toml"
