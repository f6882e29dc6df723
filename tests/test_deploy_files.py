"""The deployment recipe (deploy/): the compose file's shape and the environment it
hands the gateway, the Dockerfile's essentials, and the bundled llmswitch.toml checks.
(No image is built here: the test machine has no registry to pull the base from.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmswitch.config import load_config
from llmswitch.gateway._settings import GatewaySettings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_compose_runs_two_gateways_on_redis_and_postgres() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"gateway", "redis", "postgres", "migrate"} <= services.keys()
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] == 2
    env = gateway["environment"]
    assert env["LLMSWITCH_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["LLMSWITCH_DATABASE_URL"]
    assert env["LLMSWITCH_STATE_URL"] == "redis://redis:6379/0"
    for name in ("LLMSWITCH_ADMIN_KEY", "LLMSWITCH_MASTER_KEY"):
        assert env[name].startswith("${" + name + ":?"), env[name]  # required, no default
    assert gateway["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["entrypoint"] == ["llmswitch", "db", "upgrade"]
    # The grace the gateway gives streams is shorter than the one compose gives it.
    grace = int(gateway["stop_grace_period"].rstrip("s"))
    config = load_config(DEPLOY / "llmswitch.toml")
    settings = GatewaySettings.from_config(config.gateway)
    assert settings.shutdown_grace_seconds < grace


def test_bundled_config_shares_state_through_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMSWITCH_STATE_URL", raising=False)
    assert load_config(DEPLOY / "llmswitch.toml").state == "redis://redis:6379/0"
    monkeypatch.setenv("LLMSWITCH_STATE_URL", "redis://elsewhere:6379/2")
    assert load_config(DEPLOY / "llmswitch.toml").state == "redis://elsewhere:6379/2"


def test_dockerfile_essentials() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.count("FROM python:3.11-slim") == 2
    assert "--extra gateway --extra postgres" in text and "--frozen" in text
    user = re.search(r"^USER (\S+)$", text, re.M)
    assert user is not None and user.group(1) not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert 'ENTRYPOINT ["llmswitch", "serve"]' in text
