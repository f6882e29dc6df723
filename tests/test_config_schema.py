"""``llmswitch config schema``'s JSON Schema: a valid draft 2020-12 schema that accepts
the example files and rejects unknown keys, and that agrees with the validator key for
key: every key the schema lists, the validator accepts, and at every table the schema
describes, a key it does not list is one the validator rejects."""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from llmswitch.config import _spec, json_schema, load_config
from llmswitch.config._validate import Validator
from tests import test_config_platform, test_config_resilience

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json_schema()
CHECKER = jsonschema.Draft202012Validator(SCHEMA)
# The name a probe gives an entry of a table of user-chosen names.
SAMPLE_NAMES = {"providers": "openai", "models": "g", "env": "prod"}
PROBE = "zz_probe"


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    json.dumps(SCHEMA)  # plain JSON


def _readme_toml_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```toml\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert blocks, "the README has toml blocks"
    return blocks


EXAMPLES = [
    test_config_platform.PLATFORM,
    test_config_platform.OVERLAID,
    test_config_resilience.FULL,
    *_readme_toml_blocks(),
]


@pytest.mark.parametrize("text", EXAMPLES, ids=range(len(EXAMPLES)))
def test_example_files_are_valid_against_the_schema(text: str) -> None:
    errors = [e.message for e in CHECKER.iter_errors(tomllib.loads(text))]
    assert errors == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version = 2\n", "'version' was unexpected"),
        ("[providers.openai]\napi_base = 'x'\n", "'api_base' was unexpected"),
        ("[retry]\nattempts = 'three'\n", "is not of type 'integer'"),
        ("[breaker]\non_state_error = 'ignore'\n", "is not one of"),
        ("[[limits]]\nrequests_per_minute = 5\n", "'scope' is a required property"),
        ("[keys]\ncache_ttl = 0\n", "less than or equal to the minimum"),
        ("[config]\nwatch = 'yes'\n", "is not of type 'boolean'"),
        ("[env.prod.retry]\ntries = 1\n", "'tries' was unexpected"),
        ("[env.prod.env.dev]\n", "'env' was unexpected"),
        ("[models.g]\nstrategy = 'ordered'\n", "'deployments' is a required property"),
        ("[providers.openai]\ntimeout = { read = 3 }\n", "is not valid under any of the given schemas"),
        ("[queue]\nmax_wait = 1e9\n", "is greater than the maximum"),
        # what the loader rejects and the schema once let through (R1 #11)
        ("[retry]\nattempts = 0\n", "less than the minimum"),
        ("[breaker]\nfailure_rate = 2\n", "is greater than the maximum"),
        ("[breaker]\nmin_calls = 0\n", "less than the minimum"),
        ("[breaker]\nhalf_open_probes = 0\n", "less than the minimum"),
        ("[providers.openai]\ntimeout = 1e300\n", "is not valid under any of the given schemas"),
        ("[providers.x]\nkind = 'nope'\n", "is not valid under any of the given schemas"),
    ],
)  # fmt: skip
def test_the_schema_rejects_what_the_validator_rejects(text: str, fragment: str) -> None:
    messages = " | ".join(e.message for e in CHECKER.iter_errors(tomllib.loads(text)))
    assert fragment in messages


def test_a_reference_may_stand_for_an_enumerated_value() -> None:
    doc = tomllib.loads(
        '[models.g]\nstrategy = "${STRATEGY}"\n[[models.g.deployments]]\nmodel = "openai/x"\n'
    )
    assert list(CHECKER.iter_errors(doc)) == []


# --------------------------------------------------------------------------- key for key

Step = str | int  # a key, or the first element of an array


def _tables(
    schema: dict[str, Any], at: tuple[Step, ...]
) -> Iterator[tuple[tuple[Step, ...], tuple[str, ...]]]:
    """Every table the schema describes with fixed keys: its path in a document and
    its keys."""
    if "$ref" in schema:
        assert schema["$ref"] == "#/$defs/settings"
        yield from _tables(SCHEMA["$defs"]["settings"], at)
        return
    for option in schema.get("anyOf", ()):
        yield from _tables(option, at)
    if schema.get("type") == "object":
        props = schema.get("properties")
        if props is not None:
            assert schema["additionalProperties"] is False
            yield at, tuple(props)
            for key, sub in props.items():
                yield from _tables(sub, (*at, key))
        elif isinstance(schema.get("additionalProperties"), dict):
            name = SAMPLE_NAMES.get(str(at[-1]), "name")
            yield from _tables(schema["additionalProperties"], (*at, name))
    if schema.get("type") == "array":
        yield from _tables(schema["items"], (*at, 0))


# What an element of these arrays needs before the validator looks at its other keys
# (and to be valid on its own: a limit or a quota counts something).
SIBLINGS: dict[str, dict[str, Any]] = {
    "deployments": {"model": "openai/gpt-4o"},
    "limits": {"scope": "user", "requests_per_minute": 1},
    "quotas": {"requests": 1},
}


def _nest(at: tuple[Step, ...], leaf: dict[str, Any]) -> dict[str, Any]:
    value: Any = leaf
    for i in range(len(at) - 1, -1, -1):
        step = at[i]
        if isinstance(step, int):
            if isinstance(value, dict):
                value = {**SIBLINGS.get(str(at[i - 1]), {}), **value}
            value = [value]
        else:
            value = {step: value}
    assert isinstance(value, dict)
    return value


def _shown(at: tuple[Step, ...]) -> str:
    """A document path as the validator's errors spell it, overlay prefix dropped."""
    if at[:1] == ("env",) and len(at) > 3:  # an overlay's own keys keep the env. prefix
        at = at[2:]
    return ".".join(f"[{s}]" if isinstance(s, int) else s for s in at).replace(".[", "[")


class _Probe(Validator):
    """The validator over a document given as data (no TOML text to write)."""

    def __init__(self, doc: dict[str, Any], overlay: str | None) -> None:
        super().__init__("probe.toml", b"", {}, overlay=overlay)
        self.doc = doc

    def parse(self) -> dict[str, Any]:
        return self.doc


def _problems(doc: dict[str, Any], at: tuple[Step, ...]) -> list[str]:
    overlay = str(at[1]) if at[:1] == ("env",) and len(at) > 1 else None
    return [str(p) for p in _Probe(doc, overlay).check(Path("probe.toml"))]


ALL_TABLES = list(_tables(SCHEMA, ()))


def test_the_probe_walks_every_kind_of_table() -> None:
    shown = {_shown(at) for at, _ in ALL_TABLES}
    for table in ("", "providers.openai", "providers.openai.timeout", "models.g",
                  "models.g.deployments[0]", "limits[0]", "quotas[0]", "retry", "storage",
                  "keys", "config"):  # fmt: skip
        assert table in shown
    assert any(at[:2] == ("env", "prod") and len(at) == 2 for at, _ in ALL_TABLES)


@pytest.mark.parametrize(
    ("at", "keys"), ALL_TABLES, ids=[".".join(map(str, a)) or "root" for a, _ in ALL_TABLES]
)
def test_the_validator_accepts_exactly_the_schema_keys(
    at: tuple[Step, ...], keys: tuple[str, ...]
) -> None:
    for key in keys:
        where = _shown((*at, key))
        problems = _problems(_nest(at, {key: "x"}), at)
        assert not [
            p for p in problems if re.search(rf": {re.escape(where)}: unknown ([\w ]+ )?setting", p)
        ], (
            key,
            problems,
        )
    where = _shown((*at, PROBE))
    problems = _problems(_nest(at, {PROBE: "x"}), at)
    assert any(f": {where}: unknown" in p for p in problems), problems


def test_the_schema_reaches_the_validator_through_load_config(tmp_path: Path) -> None:
    # Every example that validates against the schema also loads (given its variables).
    path = tmp_path / "llmswitch.toml"
    path.write_text(test_config_platform.OVERLAID)
    assert load_config(path, {}).providers["vllm"].kind == "openai-compatible"


# --------------------------------------------------------------------------- value for value


def _values(
    node: _spec.Node, at: tuple[Step, ...]
) -> Iterator[tuple[tuple[Step, ...], _spec.Value]]:
    """Every scalar the description of the file holds, with its path in a document."""
    if isinstance(node, _spec.Ref):
        yield from _values(_spec.SETTINGS, at)
    elif isinstance(node, _spec.Value):
        yield at, node
    elif isinstance(node, _spec.Table):
        for key, sub in node.keys.items():
            yield from _values(sub, (*at, key))
    elif isinstance(node, _spec.Named):
        yield from _values(node.value, (*at, SAMPLE_NAMES.get(str(at[-1]), "name")))
    elif isinstance(node, _spec.ArrayOf):
        yield from _values(node.item, (*at, 0))
    else:
        for option in node.options:
            yield from _values(option, at)


VALUES = list(_values(_spec.ROOT, ()))
NUMBERS = [(at, v) for at, v in VALUES if v.type in ("integer", "number") and at[-1] != 0]
ENUMS = [(at, v) for at, v in VALUES if v.enum and at[-1] != 0]


# Rules across keys are the validator's alone: what makes each enumerated key apply.
# By (table, key); a provider's table is "openai".
ENUM_CONTEXT: dict[tuple[Step, Step], dict[str, Any]] = {
    ("openai", "kind"): {"base_url": "http://127.0.0.1:9/v1"},  # openai-compatible needs one
    ("openai", "key_strategy"): {"keys": ["k"]},  # a pool's settings need a pool
    ("openai", "on_state_error"): {"keys": ["k"]},
    ("openai", "fim"): {"kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1"},
    ("g", "strategy"): {"deployments": [{"model": "openai/gpt-4o"}]},
    # a budget needs its scope and limit (keyed by its array: the element step between is 0)
    ("budgets", "period"): {"scope": "global", "limit_usd": 1},
    ("budgets", "action"): {"scope": "global", "limit_usd": 1},
}


def _edges(value: _spec.Value) -> list[float]:
    """Each bound of ``value`` and the nearest number beyond it, both sides."""
    integer = value.type == "integer"
    below = (lambda x: x - 1) if integer else (lambda x: math.nextafter(x, -math.inf))
    above = (lambda x: x + 1) if integer else (lambda x: math.nextafter(x, math.inf))
    edges: list[float] = [0, 1, -1]
    if value.minimum is not None:
        edges += [value.minimum, below(value.minimum)]
    if value.exclusive_minimum is not None:
        edges += [value.exclusive_minimum, above(value.exclusive_minimum)]
    if value.maximum is not None:
        edges += [value.maximum, above(value.maximum)]
        if not integer:
            edges.append(math.inf)
    return [int(x) if integer else float(x) for x in edges]


def _agree(at: tuple[Step, ...], leaf: dict[str, Any]) -> tuple[bool, bool, list[str]]:
    doc = _nest(at, leaf)
    valid = CHECKER.is_valid(doc)  # first: the validator drops a value it reported
    problems = _problems(doc, at)
    return valid, not problems, problems


def test_every_number_the_file_holds_has_both_bounds_or_says_why_not() -> None:
    # Without an upper bound a number can overflow a timer or a sleep; the ones left
    # open count things (calls, probes, tokens) or order them.
    unbounded = {str(at[-1]) for at, v in NUMBERS if v.maximum is None}
    assert unbounded == {
        "min_calls",
        "half_open_probes",
        "requests_per_minute",
        "tokens_per_minute",
        "requests",
        "tokens",
        "priority",
        "rpm",
        "tpm",
    }
    assert all(
        v.minimum is not None or v.exclusive_minimum is not None
        for at, v in NUMBERS if at[-1] != "priority"
    )  # fmt: skip


@pytest.mark.parametrize(("at", "value"), NUMBERS, ids=[_shown(at) for at, _ in NUMBERS])
def test_schema_and_validator_agree_on_every_bound(
    at: tuple[Step, ...], value: _spec.Value
) -> None:
    # At each bound and just past it, the schema accepts exactly what the file loads.
    disagree = []
    for number in _edges(value):
        schema_ok, loads, problems = _agree(at[:-1], {str(at[-1]): number})
        if schema_ok != loads:
            disagree.append((number, schema_ok, problems))
    assert disagree == []


@pytest.mark.parametrize(("at", "value"), ENUMS, ids=[_shown(at) for at, _ in ENUMS])
def test_schema_and_validator_agree_on_every_enumeration(
    at: tuple[Step, ...], value: _spec.Value
) -> None:
    leaf = str(at[-1])
    extra = ENUM_CONTEXT.get((at[-2], at[-1])) or (
        ENUM_CONTEXT.get((at[-3], at[-1]), {}) if len(at) > 2 else {}
    )
    for member in value.enum:
        assert _agree(at[:-1], {**extra, leaf: member})[:2] == (True, True), member
    assert _agree(at[:-1], {**extra, leaf: "zz-not-one-of-them"})[:2] == (False, False)
