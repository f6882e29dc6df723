"""Third-party providers: the ``llmswitch.providers`` entry point group (real
distributions: a dist-info directory on sys.path that importlib.metadata reads), and
``Client.register_provider`` at run time."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmswitch import (
    AsyncClient,
    Client,
    ConfigurationError,
    ProviderPlugin,
    ProviderPluginError,
)
from llmswitch.testing import FakeProvider
from tests.support.cli import run

HI = [{"role": "user", "content": "hi"}]

ACME = """
from llmswitch import ConfigurationError, ModelInfo, ProviderPlugin
from llmswitch.testing import FakeProvider

built = []

def build(pid, settings, env):
    key = env.get("ACME_API_KEY")
    if not key:
        raise ConfigurationError(f"provider {pid!r} is not configured: set ACME_API_KEY")
    built.append((pid, env.get("ACME_REGION")))
    fake = FakeProvider(id=pid, models=[ModelInfo(id="rocket-1", provider=pid, context_window=1000)])
    return fake.respond_with(lambda request: f"acme {request.model} says hi")

plugin = ProviderPlugin(id="acme", build=build, env=("ACME_API_KEY",), description="Acme")
"""

# A plain builder function is a plugin too.
ZETA = """
from llmswitch.testing import FakeProvider

def zeta(pid, settings, env):
    return FakeProvider(id=pid).respond_with(lambda request: "zeta")
"""


def _dist(root: Path, name: str, entry_points: str, module: str | None = None) -> None:
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[llmswitch.providers]\n" + textwrap.dedent(entry_points)
    )
    if module is not None:
        (root / f"{name}.py").write_text(module)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "site"
    root.mkdir()
    _dist(root, "acme_llm", "acme = acme_llm:plugin\n", ACME)
    _dist(root, "zeta_llm", "zeta = zeta_llm:zeta\n", ZETA)
    _dist(root, "broken_llm", "broken = broken_llm_not_installed:plugin\n")
    monkeypatch.syspath_prepend(str(root))
    yield root
    for module in ("acme_llm", "zeta_llm"):
        sys.modules.pop(module, None)
    from llmswitch.providers import _plugins

    _plugins._loaded.clear()  # the next test's distributions are other files


def test_a_plugin_provider_is_loaded_on_first_use(plugins: Path) -> None:
    client = Client(env={"ACME_API_KEY": "k", "ACME_REGION": "eu"})
    client.chat("fake/m", HI)
    assert "acme_llm" not in sys.modules  # nothing imported until the provider is used
    resp = client.chat("acme/rocket-1", HI)
    assert resp.text == "acme rocket-1 says hi" and resp.provider == "acme"
    assert sys.modules["acme_llm"].built == [("acme", "eu")]
    assert client.list_models("acme")[0].id == "rocket-1"
    assert client.chat("zeta/any", HI).text == "zeta"


def test_a_plugin_reads_its_variables_from_the_environment(
    plugins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_API_KEY", "from-env")
    monkeypatch.setenv("ACME_REGION", "us")
    assert Client().chat("acme/rocket-1", HI).text == "acme rocket-1 says hi"
    assert sys.modules["acme_llm"].built == [("acme", "us")]


def test_an_unconfigured_plugin_names_its_variable(plugins: Path) -> None:
    with pytest.raises(ConfigurationError, match="ACME_API_KEY") as info:
        Client(env={}).chat("acme/rocket-1", HI)
    assert not isinstance(info.value, ProviderPluginError) and info.value.provider == "acme"


def test_a_broken_plugin_names_its_entry_point_and_breaks_nothing_else(plugins: Path) -> None:
    client = Client(env={"ACME_API_KEY": "k"})
    for _ in range(2):  # the failure is remembered, and raised the same each time
        with pytest.raises(ProviderPluginError) as info:
            client.chat("broken/m", HI)
        err = info.value
        assert err.entry_point == "broken = broken_llm_not_installed:plugin"
        assert "broken = broken_llm_not_installed:plugin" in str(err)
        assert "ModuleNotFoundError" in str(err) and "broken_llm 1.0" in str(err)
    assert client.chat("acme/rocket-1", HI).text == "acme rocket-1 says hi"


def test_unknown_provider_lists_the_plugins(plugins: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        Client().chat("nobody/m", HI)
    assert "acme" in str(info.value) and "zeta" in str(info.value)


def test_plugins_appear_in_llmswitch_models_and_health(
    plugins: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACME_API_KEY", "k")
    code, out, err = run(capsys, "models", "--json")
    listed = {(m["provider"], m["id"]) for m in json.loads(out)}
    assert ("acme", "rocket-1") in listed
    # The broken plugin is reported, by entry point, and fails the command.
    assert code == 1 and "broken = broken_llm_not_installed:plugin" in err

    code, out, _ = run(capsys, "models", "acme")
    assert code == 0 and "acme/rocket-1" in out

    code, out, err = run(capsys, "health", "acme", "--json")
    assert code == 0 and json.loads(out)[0]["provider"] == "acme"


def test_a_plugin_whose_id_differs_from_its_entry_point(tmp_path: Path, monkeypatch: Any) -> None:
    root = tmp_path / "site"
    root.mkdir()
    module = (
        "from llmswitch import ProviderPlugin\nplugin = ProviderPlugin(id='other', build=print)\n"
    )
    _dist(root, "misnamed_llm", "misnamed = misnamed_llm:plugin\n", module)
    monkeypatch.syspath_prepend(str(root))
    try:
        with pytest.raises(ProviderPluginError, match="not the entry point's name 'misnamed'"):
            Client().chat("misnamed/m", HI)
    finally:
        sys.modules.pop("misnamed_llm", None)


# --------------------------------------------------------------------------- register_provider


def test_register_a_provider_object() -> None:
    client = Client()
    mine = FakeProvider(id="mine").default_reply("mine")
    client.register_provider("mine", mine)
    assert client.chat("mine/m", HI).text == "mine"
    assert mine.requests[0].model == "m"


def test_register_a_factory_called_on_first_use() -> None:
    calls: list[tuple[str, Any]] = []

    def build(pid: str, settings: Any, env: Any) -> FakeProvider:
        calls.append((pid, env.get("MINE_TOKEN")))
        return FakeProvider(id=pid).default_reply("built")

    client = Client(env={"MINE_TOKEN": "t"})
    client.register_provider("mine", build)
    assert calls == []
    assert client.chat("mine/m", HI).text == "built"
    assert client.chat("mine/m", HI).text == "built"
    assert calls == [("mine", "t")]
    client.register_provider("other", ProviderPlugin(id="other", build=build))
    assert client.chat("other/x", HI).text == "built"


def test_register_replaces_a_builtin_and_survives_reload() -> None:
    client = Client()
    stand_in = FakeProvider(id="openai").default_reply("not really openai")
    client.register_provider("openai", stand_in)
    assert client.chat("openai/gpt-4o-mini", HI).text == "not really openai"
    client.reload()
    assert client.chat("openai/gpt-4o-mini", HI).text == "not really openai"
    assert len(stand_in.requests) == 2


def test_register_refuses_what_is_not_a_provider() -> None:
    client = Client()
    with pytest.raises(ConfigurationError, match="'mine', not 'x'"):
        client.register_provider("x", FakeProvider(id="mine"))
    with pytest.raises(ConfigurationError, match="provider id"):
        client.register_provider("a/b", FakeProvider(id="a/b"))
    with pytest.raises(ConfigurationError, match="register_provider"):
        client.register_provider("x", 42)


def test_a_factory_that_fails_is_a_plugin_error() -> None:
    def build(pid: str, settings: Any, env: Any) -> Any:
        raise RuntimeError("no socket for you")

    client = Client()
    client.register_provider("bad", build)
    with pytest.raises(ProviderPluginError, match="no socket for you"):
        client.chat("bad/m", HI)
    client.register_provider("bad", lambda pid, s, e: object())
    with pytest.raises(ProviderPluginError, match="not a provider"):
        client.chat("bad/m", HI)


def test_async_client_register_provider() -> None:
    async def main() -> str:
        async with AsyncClient() as client:
            client.register_provider("mine", FakeProvider(id="mine").default_reply("async"))
            return (await client.chat("mine/m", HI)).text

    assert asyncio.run(main()) == "async"


EMPTY = """
from llmswitch.testing import FakeProvider

def build(pid, settings, env):
    return FakeProvider(id=pid, models=[])
"""


def test_llmswitch_models_with_a_plugin_that_lists_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A configured provider answering with no models is an empty listing (exit 0),
    not "no provider is configured"."""
    root = tmp_path / "site"
    root.mkdir()
    _dist(root, "empty_llm", "hollow = empty_llm:build\n", EMPTY)
    monkeypatch.syspath_prepend(str(root))
    try:
        code, out, err = run(capsys, "models")
        assert code == 0 and out == ""
        assert "no provider is configured" not in err
        assert "llmswitch: hollow listed no models" in err.splitlines()
        code, out, err = run(capsys, "models", "--json")
        assert code == 0 and json.loads(out) == []
    finally:
        sys.modules.pop("empty_llm", None)
        from llmswitch.providers import _plugins

        _plugins._loaded.clear()
