"""The admin API fuzzed by schemathesis from its own ``/admin/openapi.json``, in
process over ASGI, on a temporary SQLite database: every generated request (valid
ones, and invalid ones the document rules out) must answer without a 5xx, with a status
the document lists, and with a body that conforms to the document's schema for it."""

from __future__ import annotations

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
from tests.support.admin import ADMIN, ADMIN_KEY, admin_app
from tests.support.sql import sqlite_url

# Bounded: the whole file stays well under a minute on a busy 2-core machine.
EXAMPLES = 8


@pytest.fixture(scope="module")
def admin_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder: Path = tmp_path_factory.mktemp("admin-fuzz")
    built = admin_app(sqlite_url(folder))
    # The admin key as the document's own security scheme: schemathesis sends it, and its
    # auth checks probe each operation without it and with a wrong one (expecting 401).
    config = SchemathesisConfig.from_str(f'[auth.openapi.adminKey]\nbearer = "{ADMIN_KEY}"')
    yield schemathesis.openapi.from_asgi(
        "/admin/openapi.json", built.app, headers=ADMIN, config=config
    )
    from schemathesis.python.asgi import shutdown_lifespans

    shutdown_lifespans()  # the app's client closes (its ledger flushed) on its own loop


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(
    ("method", "path"), [(op.method, op.path) for op in OPERATIONS], ids=lambda v: str(v)
)
def test_operation_conforms(
    admin_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = admin_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case: Any) -> None:
        # Not positive_data_acceptance: some rules are beyond a JSON Schema (a template
        # that does not compile, a provider not configured, a version that is not
        # saved) and answer 400/404 by design.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    run()
