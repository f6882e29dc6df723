"""The masked structural diff of two configurations (what a reload reports and the audit
log stores): keys as the file spells them, secrets never shown."""

from __future__ import annotations

import json
from pathlib import Path

from llmswitch.config import diff_configs, load_config
from llmswitch.config._diff import masked_config
from tests.support.config import write

SECRETS = {
    "API_KEY": "sk-live-APIKEY-0123456789abcdef",
    "POOL_A": "sk-live-POOLA-0123456789abcdef",
    "POOL_B": "sk-live-POOLB-0123456789abcdef",
    "DEPLOY_KEY": "sk-live-DEPLOY-0123456789abcdef",
    "TOKEN": "hdr-TOKEN-0123456789abcdef",
    "STATE_SECRET": "state-SECRET-0123456789abcdef",
    "REDIS_PW": "redisPW-0123456789",
    "HOST": "internal-host-name.corp",
}
BASE = """\
[providers.openai]
keys = ["${POOL_A}", "${POOL_B}"]

[providers.vllm]
kind = "openai-compatible"
base_url = "https://${HOST}/v1"
api_key = "${API_KEY}"
headers = { authorization = "Bearer ${TOKEN}", x-team = "search" }

[state]
url = "redis://:${REDIS_PW}@localhost:6379/0"
secret = "${STATE_SECRET}"

[[models.smart.deployments]]
model = "vllm/qwen"
api_key = "${DEPLOY_KEY}"
"""


def _load(tmp_path: Path, text: str, env: dict[str, str], name: str = "llmswitch.toml"):  # type: ignore[no-untyped-def]
    return load_config(write(tmp_path, text, name), env)


def test_nothing_changed_is_no_change_even_when_lines_move(tmp_path: Path) -> None:
    old = _load(tmp_path, BASE, SECRETS)
    new = _load(tmp_path, "# a new first line\n\n" + BASE, SECRETS, "moved.toml")
    assert old.providers["vllm"].source != new.providers["vllm"].source
    assert diff_configs(old, new) == ()


def test_every_secret_is_masked_but_its_change_shows(tmp_path: Path) -> None:
    old = _load(tmp_path, BASE, SECRETS)
    changed = {k: v.replace("0123456789", "9876543210") for k, v in SECRETS.items()}
    changed["HOST"] = "other-host-name.corp"
    new = _load(tmp_path, BASE, changed)
    shown = {c.key: (c.kind, c.old, c.new) for c in diff_configs(old, new)}
    masked = ("changed", "***", "***")
    assert shown["providers.openai.keys"] == ("changed", ["***", "***"], ["***", "***"])
    assert shown["providers.openai.api_key"] == masked  # the pool's first key
    assert shown["providers.vllm.api_key"] == masked
    assert shown["providers.vllm.headers.authorization"] == masked
    assert shown["providers.vllm.base_url"] == ("changed", "https://***/v1", "https://***/v1")
    assert shown["state.url"] == (
        "changed", "redis://:****@localhost:6379/0", "redis://:****@localhost:6379/0",
    )  # fmt: skip
    assert shown["state.secret"] == masked
    assert shown["providers.vllm@smart#0.api_key"] == masked
    text = json.dumps([c.as_dict() for c in diff_configs(old, new)])
    for value in (*SECRETS.values(), *changed.values()):
        assert value not in text


def test_sections_added_and_removed(tmp_path: Path) -> None:
    old = _load(tmp_path, BASE, SECRETS)
    new = _load(
        tmp_path,
        BASE.replace(
            '[state]\nurl = "redis://:${REDIS_PW}@localhost:6379/0"\nsecret = "${STATE_SECRET}"\n',
            "",
        )
        + '\n[retry]\nattempts = 4\n[keys]\nkek = "local:"\n[aliases]\nfast = "openai/gpt-4o-mini"\n',
        SECRETS,
    )
    shown = {c.key: c.as_dict() for c in diff_configs(old, new)}
    assert shown["retry"]["kind"] == "added" and shown["retry"]["new"]["attempts"] == 4
    assert "old" not in shown["retry"]
    assert shown["state.url"] == {
        "key": "state.url",
        "kind": "removed",
        "old": "redis://:****@localhost:6379/0",
    }
    assert shown["state.secret"] == {"key": "state.secret", "kind": "removed", "old": "***"}
    assert shown["keys.kek"] == {"key": "keys.kek", "kind": "added", "new": "local:"}
    assert shown["aliases.fast"] == {
        "key": "aliases.fast",
        "kind": "added",
        "new": "openai/gpt-4o-mini",
    }


def test_a_whole_configuration_shown_masked(tmp_path: Path) -> None:
    shown = masked_config(_load(tmp_path, BASE, SECRETS))
    text = json.dumps(shown)
    for value in SECRETS.values():
        assert value not in text
    assert shown["providers"]["vllm"]["headers"] == {"authorization": "***", "x-team": "***"}
    assert shown["models"]["smart"]["deployments"][0]["model"] == "vllm/qwen"
    assert "source" not in shown["providers"]["vllm"]
