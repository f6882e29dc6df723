"""``[catalog]`` in ``llmswitch.toml`` (custom prices, limits, capabilities; errors with
file:line) and the discovery cache under ``$LLMSWITCH_HOME``, through a real Client."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from llmswitch import Client, catalog
from llmswitch._catalog_wiring import install_catalog, record_listing
from llmswitch.catalog import _discovery
from llmswitch.config import json_schema, load_config
from llmswitch.errors import ConfigurationError
from llmswitch.messages import ModelInfo, Usage
from llmswitch.providers.fake import FakeProvider
from tests.support.config import write

CUSTOM = """\
[catalog]
refresh = 3600

[catalog.models."fake/house-model"]
input_price = 0.5
output_price = 1.5
cached_input_price = 0.05
context_window = 32768
supports_tools = true

[catalog.models."openai/gpt-4o"]
input_price = 2.0
"""


def test_custom_prices_price_responses(tmp_path: Path) -> None:
    fake = FakeProvider(
        default={"text": "hi", "usage": {"input_tokens": 1000, "output_tokens": 100}}
    )
    with Client(config=write(tmp_path, CUSTOM), providers=[fake], env={}) as client:
        resp = client.chat("fake/house-model", [{"role": "user", "content": "hello"}])
    # 1000 * $0.50/M + 100 * $1.50/M = 500_000 + 150_000 nano-USD
    assert resp.cost == 650_000 / 1e9
    spec = catalog.lookup("fake", "house-model")
    assert spec is not None and spec.context_window == 32768 and spec.supports_tools is True
    assert spec.price_source == "llmswitch.toml"
    gpt = catalog.lookup("openai", "gpt-4o")
    assert gpt is not None and gpt.input_price == 2.0 and gpt.output_price == 10.0
    assert gpt.price_source is not None and gpt.price_source.startswith(
        "llmswitch.toml over genai-prices"
    )


def test_a_client_without_catalog_settings_restores_the_bundled_prices(tmp_path: Path) -> None:
    Client(config=write(tmp_path, CUSTOM), env={}).close()
    assert (
        catalog.cost_nano("openai", "gpt-4o", Usage(input_tokens=1000, output_tokens=0))
        == 2_000_000
    )
    Client(config=write(tmp_path, "[aliases]\nx = 'openai/gpt-4o'\n"), env={}).close()
    assert (
        catalog.cost_nano("openai", "gpt-4o", Usage(input_tokens=1000, output_tokens=0))
        == 2_500_000
    )


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        (
            '[catalog.models."gpt-4o"]\ninput_price = 1\n',
            1,
            "catalog.models.gpt-4o",
            "provider/model",
        ),
        (
            '[catalog.models."a/b"]\ninput_price = -1\n',
            2,
            'catalog.models."a/b".input_price',
            ">= 0",
        ),
        (
            '[catalog.models."a/b"]\ninput_prize = 1\n',
            2,
            'catalog.models."a/b".input_prize',
            "unknown",
        ),
        (
            '[catalog.models."a/b"]\ncontext_window = 1.5\n',
            2,
            'catalog.models."a/b".context_window',
            "integer",
        ),
        (
            '[catalog.models."a/b"]\nsupports_tools = "yes"\n',
            2,
            'catalog.models."a/b".supports_tools',
            "true or false",
        ),
        ("[catalog]\nrefresh = 0\n", 2, "catalog.refresh", "> 0"),
    ],
)
def test_errors_name_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {})
    shown = str(info.value)
    assert f"{path.name}:{line}:" in shown and key in shown and message in shown


def test_the_schema_describes_the_catalog() -> None:
    section = json_schema()["properties"]["catalog"]
    model = section["properties"]["models"]["additionalProperties"]
    assert model["properties"]["input_price"]["minimum"] == 0
    assert "supports_code_completion" in model["properties"]


def test_listed_models_are_cached_on_disk_and_fill_the_catalog(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"LLMSWITCH_HOME": str(home)}
    listing = [
        ModelInfo(id="llama3.2:3b", provider="ollama", context_window=131072, supports_tools=True)
    ]
    fake = FakeProvider("ollama", models=listing)
    with Client(providers=[fake], env=env) as client:
        assert catalog.lookup("ollama", "llama3.2:3b") is None  # nothing known before the listing
        client.list_models("ollama")
        spec = catalog.lookup("ollama", "llama3.2:3b")
        assert spec is not None and spec.context_window == 131072 and spec.supports_tools is True
        assert spec.input_price is None  # a local model has no price: unknown, not 0
    path = home / "models-cache.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_bytes())
    assert saved["providers"]["ollama"]["models"] == {
        "llama3.2:3b": {"context_window": 131072, "supports_tools": True}
    }
    assert time.time() - saved["providers"]["ollama"]["fetched_at"] < 600
    # a new process (here: the bundled catalog back, then a new client) reads it
    catalog.install(None)
    Client(env=env).close()
    found = catalog.lookup("ollama", "llama3.2:3b")
    assert found is not None and found.context_window == 131072 and "discovered" in found.sources


def test_a_stale_or_broken_cache_is_not_used(tmp_path: Path) -> None:
    env = {"LLMSWITCH_HOME": str(tmp_path)}
    config = load_config(write(tmp_path, "[catalog]\nrefresh = 60\n"), {})
    record_listing(config, env, "ollama", [ModelInfo(id="m", provider="ollama", context_window=5)])
    path = _discovery.cache_path(env)
    data = json.loads(path.read_bytes())
    data["providers"]["ollama"]["fetched_at"] -= 120  # two minutes old, refresh is one
    path.write_bytes(json.dumps(data).encode())
    catalog.install(None)
    assert install_catalog(config, env) is None and catalog.lookup("ollama", "m") is None
    path.write_bytes(b"{not json")
    assert install_catalog(config, env) is None
    off = load_config(write(tmp_path, "[catalog]\ndiscovery = false\n"), {})
    os.unlink(path)
    record_listing(off, env, "ollama", [ModelInfo(id="m", provider="ollama", context_window=5)])
    assert not path.exists()
