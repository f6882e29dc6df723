"""``[models.<group>]`` in llmswitch.toml: deployments, strategies, fallbacks, and errors
that name the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmswitch.config import Deployment, ModelGroup, load_config
from llmswitch.errors import ConfigurationError
from tests.support.config import write

FULL = """\
[aliases]
cheap = "openai/gpt-4o-mini"

[models.smart]
strategy = "weighted"
fallback_on = ["retryable", "context_length", "content_filter"]

[[models.smart.deployments]]
model = "anthropic/claude-sonnet-4-5"
weight = 3
priority = 1

[[models.smart.deployments]]
model = "openai/gpt-4o"
timeout = { first_token = 10 }

[[models.smart.deployments]]
model = "cheap"
timeout = 20

[models.plain]
deployments = [{ model = "openai/gpt-4o" }, { model = "openai/gpt-4o" }]
"""


def test_groups_load_with_their_deployments_in_file_order(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL), env={})
    smart = cfg.models["smart"]
    assert isinstance(smart, ModelGroup)
    assert smart.strategy == "weighted"
    assert smart.fallback_on == {"retryable", "context_length", "content_filter"}
    assert smart.deployments == (
        Deployment(model="anthropic/claude-sonnet-4-5", weight=3.0, priority=1),
        Deployment(model="openai/gpt-4o", timeout={"first_token": 10}),
        # an alias as a deployment's model resolves to its target
        Deployment(model="openai/gpt-4o-mini", timeout=20.0),
    )
    assert [d.id for d in smart.deployments] == [
        "anthropic/claude-sonnet-4-5", "openai/gpt-4o", "openai/gpt-4o-mini",
    ]  # fmt: skip
    # ordered's first pick: lowest priority, then file order
    assert smart.primary.model == "openai/gpt-4o"


def test_group_defaults_and_repeated_models_get_distinct_ids(tmp_path: Path) -> None:
    plain = load_config(write(tmp_path, FULL), env={}).models["plain"]
    assert plain.strategy == "ordered" and plain.fallback_on == {"retryable"}
    assert [d.id for d in plain.deployments] == ["openai/gpt-4o", "openai/gpt-4o#1"]
    assert all(d.weight == 1.0 and d.priority == 0 and d.timeout is None for d in plain.deployments)


def test_explicit_ids_must_be_unique(tmp_path: Path) -> None:
    text = (
        '[models.g]\n[[models.g.deployments]]\nmodel = "a/x"\nid = "one"\n'
        '[[models.g.deployments]]\nmodel = "b/y"\nid = "one"\n'
    )
    with pytest.raises(ConfigurationError) as info:
        load_config(write(tmp_path, text), env={})
    assert str(info.value).endswith(":7: models.g.deployments[1].id: duplicate id 'one'")


def test_no_models_table_means_no_groups(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, '[aliases]\nx = "openai/y"\n'), env={}).models == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[aliases]\nsmart = "openai/x"\n[models.smart]\n'
            'deployments = [{ model = "openai/y" }]\n',
            ":3: models.smart: 'smart' is already an alias",
        ),
        (
            '[models.smart]\nstrategy = "fastest"\ndeployments = [{ model = "a/b" }]\n',
            ":2: models.smart.strategy: unknown strategy 'fastest' (expected one of ordered, "
            "weighted, least-busy, lowest-latency, lowest-cost)",
        ),
        (
            '[models.smart]\nfallback_on = ["retryable", "auth"]\n'
            'deployments = [{ model = "a/b" }]\n',
            ":2: models.smart.fallback_on: unknown value 'auth' (expected any of retryable, "
            "context_length, content_filter)",
        ),
        (
            '[models.smart]\nfallback_on = "retryable"\ndeployments = [{ model = "a/b" }]\n',
            ":2: models.smart.fallback_on: expected an array, got a string",
        ),
        ('[models.smart]\nstrategy = "ordered"\n', ":1: models.smart: a model group needs"),
        (
            "[models.smart]\ndeployments = []\n",
            ":2: models.smart.deployments: expected a non-empty",
        ),
        (
            '[models.smart]\nrpm = 10\ndeployments = [{ model = "a/b" }]\n',
            ":2: models.smart.rpm: unknown model group setting",
        ),
        (
            '[models."a/b"]\ndeployments = [{ model = "a/b" }]\n',
            ":1: models.\"a/b\": a model group name must not be empty or contain '/'",
        ),
        (
            # the second deployment's line, not the first's
            '[models.g]\n[[models.g.deployments]]\nmodel = "a/x"\n'
            '[[models.g.deployments]]\nmodel = "b/y"\nweight = 0\n',
            ":6: models.g.deployments[1].weight: must be a number > 0",
        ),
        (
            '[models.g]\n[[models.g.deployments]]\nmodel = "a/x"\nregion = "eu"\n',
            ":4: models.g.deployments[0].region: unknown deployment setting (expected one of "
            "model, id, weight, priority, timeout, rpm, tpm, base_url, api_key)",
        ),
        (
            '[models.g]\n[[models.g.deployments]]\nmodel = "nowhere"\n',
            ":3: models.g.deployments[0].model: 'nowhere' is neither 'provider/model' nor an alias",
        ),
        (
            "[models.g]\n[[models.g.deployments]]\nweight = 2\n",
            ":2: models.g.deployments[0]: a deployment needs model",
        ),
        (
            '[models.g]\n[[models.g.deployments]]\nmodel = "a/x"\npriority = 1.5\n',
            ":4: models.g.deployments[0].priority: expected an integer, got a number",
        ),
        (
            '[models.g]\n[[models.g.deployments]]\nmodel = "a/x"\n'
            "timeout = { first_token = 10, read = 3 }\n",
            ":4: models.g.deployments[0].timeout.read: unknown timeout setting",
        ),
        (
            '[models.g]\n[[models.g.deployments]]\nmodel = "a/x"\ntimeout = -1\n',
            ":4: models.g.deployments[0].timeout: must be seconds > 0",
        ),
        (
            '[models.g]\ndeployments = ["a/x"]\n',
            ":2: models.g.deployments[0]: expected a table, got a string",
        ),
    ],
)
def test_invalid_groups_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(str(path) + ":"), message
    assert expected in message, message


def test_deployment_model_reads_the_environment(tmp_path: Path) -> None:
    text = '[models.g]\n[[models.g.deployments]]\nmodel = "${PROVIDER:-openai}/${MODEL}"\n'
    cfg = load_config(write(tmp_path, text), env={"MODEL": "gpt-4o"})
    assert cfg.models["g"].deployments[0].model == "openai/gpt-4o"
