"""Hostile or careless llmswitch.toml files fail at load time with a file:line:key
ConfigurationError, never later at the first call (issue 7, item 10)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from llmswitch import Client, ConfigurationError
from llmswitch.config import load_config
from llmswitch.testing import FakeProvider
from tests.support.config import write

HI = [{"role": "user", "content": "hi"}]


GROUP = '[models.g]\nstrategy = "weighted"\n[[models.g.deployments]]\nmodel = "openai/x"\n'


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        (GROUP + "weight = nan\n", 5, "models.g.deployments[0].weight"),
        (GROUP + "weight = inf\n", 5, "models.g.deployments[0].weight"),
        ("[breaker]\nwindow = inf\n", 2, "breaker.window"),
        ("[breaker]\ncooldown = nan\n", 2, "breaker.cooldown"),
        ("[queue]\nmax_wait = inf\n", 2, "queue.max_wait"),
        ("[queue]\nmax_wait = nan\n", 2, "queue.max_wait"),
        ("[retry]\ndeadline = inf\n", 2, "retry.deadline"),
        ("[providers.openai]\ntimeout = { total = inf }\n", 2, "providers.openai.timeout.total"),
    ],
)
def test_non_finite_numbers_are_rejected_at_load(
    tmp_path: Path, text: str, line: int, key: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {})
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {key}: ")
    assert "finite" in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[queue]\nmax_wait = 1e300\n", "queue.max_wait"),
        ("[breaker]\nwindow = 1e300\n", "breaker.window"),
        (GROUP + "weight = 1e300\n", "models.g.deployments[0].weight"),
        ("[retry]\nattempts = 100000000\n", "retry.attempts"),
    ],
)
def test_absurdly_large_numbers_are_rejected_at_load(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {})
    assert str(info.value).startswith(f"{path}:")
    assert f": {key}: must be at most " in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("[providers.openai]\ntimeout = 1e300\n", 2, "providers.openai.timeout"),
        ("[providers.openai]\ntimeout = 40000000\n", 2, "providers.openai.timeout"),
        (GROUP + "timeout = 1e300\n", 5, "models.g.deployments[0].timeout"),
        (GROUP + "timeout = { first_token = 4e7 }\n", 5,
         "models.g.deployments[0].timeout.first_token"),
    ],
)  # fmt: skip
def test_a_timeout_over_a_year_is_an_error_at_its_line(
    tmp_path: Path, text: str, line: int, key: str
) -> None:
    path = write(tmp_path, text)
    expected = f"{path}:{line}: {key}: must be at most 31536000"
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {})
    assert str(info.value) == expected
    with pytest.raises(ConfigurationError) as info:
        Client(config=path, env={})
    assert str(info.value) == expected


def test_a_weighted_group_with_finite_weights_still_routes(tmp_path: Path) -> None:
    path = write(tmp_path, GROUP + "weight = 2.5\n")
    fake = FakeProvider(id="openai").default_reply("ok")
    with Client(config=path, providers=[fake], env={}) as client:
        assert client.chat("g", HI).text == "ok"


@pytest.mark.parametrize(
    "url", ["http://[::1/v1", "http://api.example:99999/v1", "https://api.example:port/v1"]
)
def test_a_malformed_base_url_is_an_error_at_its_line(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f'[aliases]\nf = "openai/x"\n[providers.openai]\nbase_url = "{url}"\n')
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {})
    assert (
        str(info.value)
        == f"{path}:4: providers.openai.base_url: must be an http:// or https:// URL"
    )


@pytest.mark.parametrize("opener", ["{b = ", "["])
def test_deep_nesting_is_a_configuration_error_not_recursion(tmp_path: Path, opener: str) -> None:
    closer = "}" if opener.startswith("{") else "]"
    path = write(tmp_path, "a = " + opener * 5000 + "1" + closer * 5000 + "\n")
    with pytest.raises(ConfigurationError, match="nested too deeply") as info:
        load_config(path, {})
    assert str(path) in str(info.value)


def test_nesting_beyond_the_depth_limit_is_rejected_even_when_tomllib_copes(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "a = " + "{b = " * 150 + "1" + "}" * 150 + "\n")
    with pytest.raises(ConfigurationError, match=rf"^{path}:1: a: nested deeper than 100 levels"):
        load_config(path, {})


def test_moderate_nesting_still_loads_with_line_numbers(tmp_path: Path) -> None:
    # Within the limit the key-line scanner still finds keys inside inline tables.
    path = write(tmp_path, "[providers.openai]\ntimeout = { total = 5, bogus = 1 }\n")
    with pytest.raises(ConfigurationError, match=rf"^{path}:2: providers.openai.timeout.bogus"):
        load_config(path, {})


def test_eight_thousand_deployments_load_and_route_in_bounded_memory(tmp_path: Path) -> None:
    n = 8000
    parts = ['[models.big]\nstrategy = "weighted"\n']
    for i in range(n):
        parts.append(f'[[models.big.deployments]]\nmodel = "openai/m{i}"\nweight = 2\n')
    path = write(tmp_path, "".join(parts))
    fake = FakeProvider(id="openai").default_reply("ok")
    tracemalloc.start()
    try:
        client = Client(config=path, providers=[fake], env={})
        assert client.chat("big", HI).text == "ok"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Quadratic bookkeeping (a fallback list per deployment) took > 500 MB here.
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    client.close()


def test_the_key_line_scanner_does_not_recurse_without_bound() -> None:
    from llmswitch.config import key_lines

    lines = key_lines("a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\nc = 2\n")
    assert lines[("a",)] == 1 and lines[("c",)] == 2
