"""The admin API fuzzed by schemathesis from its own ``/admin/openapi.json``, in
process over ASGI, on a temporary SQLite database: every generated request (valid
ones, invalid ones the document rules out, and valid ones on the paths of records that
exist) must answer without a 5xx, with a status the document lists, and with a body
that conforms to the document's schema for it; each operation must refuse a request
without the admin key or with a wrong one."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from llmswitch.gateway.admin import OPERATIONS
from tests.support.admin import ADMIN, ADMIN_KEY, MASTER, admin_app
from tests.support.sql import sqlite_url

# Bounded: the whole file stays well under a minute on a busy 2-core machine.
EXAMPLES = 8
# Existing ids (filled by the fixture), so generated bodies reach real records too.
SEEDED: dict[str, str] = {"name": "seed", "label": "production", "experiment_id": "seed"}
# Deletions last, users and teams after keys (a user's deletion takes its keys), so
# the seeded records live through the other operations' runs.
CASES = [
    (op.method, op.path, mode)
    for op in sorted(
        OPERATIONS,
        key=lambda op: (
            op.method == "DELETE",
            op.path.startswith(("/admin/users", "/admin/teams")),
        ),
    )
    for mode in ("positive", "negative", "existing")
    if mode != "existing" or "{" in op.path
]


def _seed(url: str) -> dict[str, str]:
    """A team, a user, an access key, a provider key, a prompt with two versions and a
    label, and an experiment on it, all named ``seed``."""
    from llmswitch.gateway.tenancy.store import TenantStore
    from llmswitch.keys.vault import KeyVault
    from llmswitch.prompts import PromptStore
    from llmswitch.storage.sql import open_database

    async def tenants() -> str:
        store = TenantStore(open_database(url), actor="test")
        await store.add_user("seed", team="seed")
        record, _ = await store.issue_key("seed")
        await store.database.aclose()
        return record.id

    access_key = asyncio.run(tenants())
    with KeyVault(url, env={"LLMSWITCH_MASTER_KEY": MASTER}, refresh=0) as vault:
        provider_key = vault.add("openai", "sk-seed-0123456789abcdef").id
    database = open_database(url)
    prompts = PromptStore(database)
    prompts.add("seed", "Hello {{ name }}")
    prompts.add("seed", "Hi {{ name }}")
    prompts.label("seed", 1, "production")
    variants = [{"name": "a", "version": 1}, {"name": "b", "version": 2}]
    prompts.experiments.start("seed", variants, id="seed")
    database.close()
    return {"access": access_key, "provider": provider_key}


@pytest.fixture(scope="module")
def admin_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder: Path = tmp_path_factory.mktemp("admin-fuzz")
    url = sqlite_url(folder)
    ids = _seed(url)
    SEEDED["key_id"], SEEDED["provider_key_id"] = ids["access"], ids["provider"]
    built = admin_app(url)
    # The admin key as the document's own security scheme: schemathesis sends it, and its
    # auth checks probe each operation without it and with a wrong one (expecting 401).
    config = SchemathesisConfig.from_str(f'[auth.openapi.adminKey]\nbearer = "{ADMIN_KEY}"')
    yield schemathesis.openapi.from_asgi(
        "/admin/openapi.json", built.app, headers=ADMIN, config=config
    )
    from schemathesis.python.asgi import shutdown_lifespans

    shutdown_lifespans()  # the app's client closes (its ledger flushed) on its own loop


def _existing(path: str) -> dict[str, str]:
    values = dict(SEEDED)
    if path.startswith("/admin/provider-keys/"):
        values["key_id"] = SEEDED["provider_key_id"]
    return {name: values[name] for name in re.findall(r"\{(\w+)\}", path)}


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=lambda v: str(v))
def test_operation_conforms(admin_schema: Any, method: str, path: str, mode: str) -> None:
    operation = admin_schema[path][method]
    if mode == "existing":
        strategy = operation.as_strategy(path_parameters=_existing(path))
    else:
        strategy = operation.as_strategy(generation_mode=GenerationMode(mode))

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case: Any) -> None:
        # Not positive_data_acceptance: some rules are beyond a JSON Schema (a template
        # that does not compile, a provider not configured, a version that is not
        # saved) and answer 400/404 by design.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    run()
