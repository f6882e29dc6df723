"""Prompt experiments: sticky assignment, the split, start/pause/stop/promote in SQL
(SQLite and PostgreSQL), the cached lookup and feedback storage."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmswitch.errors import ConfigurationError
from llmswitch.prompts import PromptStore
from llmswitch.prompts.experiments import (
    Experiment,
    ExperimentError,
    ExperimentStore,
    Variant,
    assign,
    bucket,
    parse_variant,
)
from llmswitch.prompts.feedback import feedback, get_feedback
from llmswitch.storage.sql import Database


@pytest.fixture
def database(database: Database) -> Database:
    """The SQL database with prompt ``greet`` at versions 1-3 (variants name them)."""
    prompts = PromptStore(database)
    for text in ("one {{ x }}", "two {{ x }}", "three {{ x }}"):
        prompts.add("greet", text)
    return database


def _experiment(*weights: float, id: str = "exp-1") -> Experiment:
    variants = tuple(Variant(name=f"v{i}", version=i + 1, weight=w) for i, w in enumerate(weights))
    return Experiment(id=id, prompt="greet", status="running", variants=variants,
                      created_at=0, updated_at=0)  # fmt: skip


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_assignment_is_a_pure_function_of_experiment_and_user(exp_id: str, user: str) -> None:
    # The same on every replica and after restarts: nothing but the two ids goes in.
    experiment = _experiment(30, 70, id=exp_id)
    first = assign(experiment, user)
    assert all(assign(experiment, user) == first for _ in range(3))
    assert 0.0 <= bucket(exp_id, user) < 1.0


def test_bucket_is_sha256_of_the_ids() -> None:
    import hashlib

    digest = hashlib.sha256(b"exp-1\x00alice").digest()
    assert bucket("exp-1", "alice") == int.from_bytes(digest[:8], "big") / 2**64


@pytest.mark.parametrize("weights", [(50, 50), (90, 10), (1, 2, 7), (0, 1)])
def test_many_users_split_by_the_weights(weights: tuple[float, ...]) -> None:
    experiment = _experiment(*weights)
    n = 20_000
    counts = Counter(assign(experiment, f"user-{i}").name for i in range(n))
    total = sum(weights)
    for i, weight in enumerate(weights):
        p = weight / total
        expected = n * p
        # Six standard deviations of the binomial: a failure is not bad luck.
        margin = 6 * math.sqrt(n * p * (1 - p)) + 1
        assert abs(counts.get(f"v{i}", 0) - expected) <= margin


def test_users_without_an_id_are_assigned_per_request_at_random() -> None:
    experiment = _experiment(50, 50)
    picks = iter([0.1, 0.9, 0.4, 0.6])
    names = [assign(experiment, None, rand=lambda: next(picks)).name for _ in range(4)]
    assert names == ["v0", "v1", "v0", "v1"]


def test_parse_variant() -> None:
    assert parse_variant("control=1") == Variant(name="control", version=1)
    assert parse_variant("b=2,weight=30,model=ollama/llama3.2:3b") == Variant(
        name="b", version=2, weight=30.0, model="ollama/llama3.2:3b"
    )
    for bad in ("b", "b=x", "b=2,weight=lots", "b=2,colour=red"):
        with pytest.raises(ConfigurationError, match="--variant"):
            parse_variant(bad)


def test_bad_experiments_are_refused_before_anything_is_stored(database: Database) -> None:
    store = ExperimentStore(database)
    cases = [
        ([Variant(name="a", version=1)], "at least two"),
        ([Variant(name="a", version=1), Variant(name="a", version=2)], "named twice"),
        ([Variant(name="a", version=1, weight=0), Variant(name="b", version=2, weight=0)],
         "weight above 0"),
        ([Variant(name="a", version=1, weight=-1), Variant(name="b", version=2)], ">= 0"),
        ([Variant(name="a", version=0), Variant(name="b", version=2)], "positive integer"),
        ([Variant(name="a b", version=1), Variant(name="b", version=2)], "variant name"),
    ]  # fmt: skip
    for variants, message in cases:
        with pytest.raises(ExperimentError, match=message):
            store.start("greet", variants)
    with pytest.raises(ExperimentError, match="'greet' has no version 7"):
        store.start("greet", [Variant(name="a", version=1), Variant(name="b", version=7)])
    with pytest.raises(ExperimentError, match="'nope' has no version 1"):
        store.start("nope", [Variant(name="a", version=1), Variant(name="b", version=2)])
    assert store.list() == []


def test_versions_taking_different_variables_cannot_be_compared(database: Database) -> None:
    # One set of variables= goes to whichever arm a user lands on: an arm taking
    # others would fail every call it gets with PromptError.
    prompts = PromptStore(database)
    prompts.add("greet", "Hi {{ product }}: {{ question }}")  # greet@4
    prompts.add("greet", {"messages": [{"role": "user", "content": "{{ x }} {{ lang }}"}],
                          "defaults": {"lang": "en"}})  # greet@5: x, and lang optional  # fmt: skip
    store = ExperimentStore(database)
    for other, differing in ((4, "product, question, x differ"), (5, "lang differ")):
        with pytest.raises(ExperimentError, match=f"versions 1 and {other} take different "
                           f"variables \\({differing}") as info:  # fmt: skip
            store.start("greet", [Variant(name="a", version=1), Variant(name="b", version=other)])
        assert info.value.field == "variants"
    assert store.list() == []
    # Versions that take the same ones (or one version with two models) still start.
    store.start("greet", [Variant(name="a", version=1), Variant(name="b", version=3)])


def test_lifecycle_start_pause_resume_stop(database: Database) -> None:
    store = ExperimentStore(database, ttl=0)
    started = store.start(
        "greet",
        [{"name": "control", "version": 1}, {"name": "short", "version": 2, "weight": 3}],
        id="greet-tone",
        author="ana",
    )
    assert started.status == "running"
    assert store.get("greet-tone") == started
    assert store.choose("greet", "alice") is not None
    with pytest.raises(ExperimentError, match="already has experiment 'greet-tone'"):
        store.start("greet", [Variant(name="a", version=1), Variant(name="b", version=2)])

    paused = store.pause("greet-tone")
    assert paused.status == "paused"
    assert store.choose("greet", "alice") is None  # paused: the prompt as usual
    assert store.resume("greet-tone").status == "running"
    stopped = store.stop("greet-tone", winner="short")
    assert (stopped.status, stopped.winner) == ("stopped", "short")
    assert store.choose("greet", "alice") is None
    with pytest.raises(ExperimentError, match="stopped already"):
        store.resume("greet-tone")
    # Stopped: a new experiment on the same prompt may start.
    store.start("greet", [Variant(name="a", version=1), Variant(name="b", version=2)], id="next")
    assert [e.id for e in store.list("greet")] == ["greet-tone", "next"]
    with pytest.raises(ExperimentError, match="no experiment 'nope'"):
        store.get("nope")


def test_choose_reports_the_ledger_tag_and_the_variant_model(database: Database) -> None:
    store = ExperimentStore(database)
    store.start(
        "greet",
        [Variant(name="a", version=1, weight=0),
         Variant(name="b", version=3, model="openai/gpt-4o-mini")],
        id="e1",
    )  # fmt: skip
    chosen = store.choose("greet", "bob")
    assert chosen is not None
    assert (chosen.variant, chosen.version, chosen.model, chosen.tag) == (
        "b",
        3,
        "openai/gpt-4o-mini",
        "e1:b",
    )
    assert store.choose("other-prompt", "bob") is None  # no experiment there


def test_promote_moves_the_label_and_stops(database: Database) -> None:
    store = ExperimentStore(database)
    store.start("greet", [Variant(name="a", version=1), Variant(name="b", version=2)], id="e1")
    moved: list[tuple[str, int, str]] = []
    done = store.promote("e1", "b", label="production",
                         move_label=lambda n, v, lbl: moved.append((n, v, lbl)))  # fmt: skip
    assert moved == [("greet", 2, "production")]
    assert (done.status, done.winner, done.promoted_label) == ("stopped", "b", "production")
    with pytest.raises(ExperimentError, match="stopped already"):
        store.promote("e1", "b", move_label=lambda *a: None)
    store.start("greet", [Variant(name="a", version=1), Variant(name="b", version=2)], id="e2")
    with pytest.raises(ExperimentError, match="no variant 'c'"):
        store.promote("e2", "c", move_label=lambda *a: None)
    with pytest.raises(ExperimentError, match="promote needs move_label="):
        store.promote("e2", "b")  # a bare store does not know how labels move
    prompts = PromptStore(database)  # its experiments move labels through it
    prompts.experiments.promote("e2", "a", label="canary")
    assert prompts.get("greet:canary").version == 1


def test_a_pause_elsewhere_is_seen_within_the_ttl(database: Database) -> None:
    now = [100.0]
    replica = ExperimentStore(database, ttl=2.0, clock=lambda: now[0])
    admin = ExperimentStore(database)
    admin.start("greet", [Variant(name="a", version=1), Variant(name="b", version=2)], id="e1")
    assert replica.choose("greet", "u") is not None
    admin.pause("e1")
    now[0] += 1.0
    assert replica.choose("greet", "u") is not None  # cached: at most ttl old
    now[0] += 1.5
    assert replica.choose("greet", "u") is None


async def test_async_lookup(database: Database) -> None:
    store = ExperimentStore(database)
    store.start("greet", [Variant(name="a", version=1), Variant(name="b", version=2)], id="e1")
    chosen = await store.achoose("greet", "carol")
    assert chosen is not None and chosen == store.choose("greet", "carol")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=2, max_size=5).filter(lambda w: sum(w) > 0),
       st.text(max_size=20))  # fmt: skip
def test_assignment_never_picks_an_arm_without_weight(weights: list[float], user: str) -> None:
    experiment = _experiment(*weights)
    assert assign(experiment, user).weight > 0


def test_feedback_is_stored_and_the_last_score_wins(database: Database) -> None:
    feedback(database, "req-1", 1, "helpful", user="alice")
    feedback(database, "req-2", 0.5)
    feedback(database, "req-1", 0, "changed my mind")
    first = get_feedback(database, "req-1")
    assert first is not None
    assert (first.score, first.comment, first.user) == (0.0, "changed my mind", None)
    assert get_feedback(database, "req-3") is None
    for bad_id, score, field in (("", 1, "request_id"), ("r", math.nan, "score"),
                                  ("r", True, "score"), ("r", "5", "score")):  # fmt: skip
        with pytest.raises(ConfigurationError) as info:
            feedback(database, bad_id, score)  # type: ignore[arg-type]
        assert info.value.field == field


def test_the_store_assigns_as_assign_does(database: Database) -> None:
    # The store's precomputed arms and the plain function agree for every user.
    store = ExperimentStore(database)
    experiment = store.start(
        "greet",
        [Variant(name="a", version=1, weight=2), Variant(name="z", version=2, weight=0),
         Variant(name="b", version=3, weight=5)],
        id="same",
    )  # fmt: skip
    for i in range(500):
        chosen = store.choose("greet", f"user-{i}")
        assert chosen is not None
        assert chosen.variant == assign(experiment, f"user-{i}").name != "z"
