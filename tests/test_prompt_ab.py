"""The A/B loop end to end on SQLite and PostgreSQL: two versions, an experiment,
calls through Client/AsyncClient (sticky per user, the arm's version and model, the
ledger row's variant), resp.request_id and feedback, the analytics and promote."""

from __future__ import annotations

import asyncio

from llmswitch import AsyncClient, Client
from llmswitch.config import Config
from llmswitch.prompts.analytics import analyze
from llmswitch.prompts.experiments import Variant
from llmswitch.prompts.recommend import better_variant
from llmswitch.storage.sql import open_database
from llmswitch.testing import FakeProvider

USAGE = {"input_tokens": 100, "output_tokens": 20}


def _client(database_url: str) -> tuple[Client, FakeProvider]:
    fake = FakeProvider("openai", default={"text": "hi", "usage": USAGE})
    return Client(config=Config(database_url=database_url), providers=[fake]), fake


def test_experiment_calls_feedback_report_promote(database_url: str) -> None:
    client, fake = _client(database_url)
    with client:
        store = client.prompts
        store.add("greet", {"system": "Be formal.", "messages": [
            {"role": "user", "content": "Greet {{ name }}."}]})  # fmt: skip
        store.add("greet", {"system": "Be brief.", "messages": [
            {"role": "user", "content": "Hi to {{ name }}."}]})  # fmt: skip
        experiments = store.experiments
        experiments.start(
            "greet",
            [Variant(name="formal", version=1),
             Variant(name="brief", version=2, model="openai/gpt-4o-mini")],
            id="tone",
        )  # fmt: skip

        seen: dict[str, set[str]] = {}
        for i in range(60):
            user = f"u{i % 20}"
            resp = client.chat("openai/gpt-4o", prompt="greet", variables={"name": "Ada"},
                               user=user)  # fmt: skip
            assert resp.prompt is not None and resp.prompt.variant is not None
            assert resp.request_id is not None
            seen.setdefault(user, set()).add(resp.prompt.variant)
            arm = resp.prompt.variant.rpartition(":")[2]
            sent = fake.requests[-1]
            if arm == "brief":
                assert (resp.prompt.version, sent.model) == (2, "gpt-4o-mini")
                client.feedback(resp.request_id, 1.0)
            else:
                assert (resp.prompt.version, sent.model) == (1, "gpt-4o")
                client.feedback(resp.request_id, 0.0, "too stiff")
        assert all(len(arms) == 1 for arms in seen.values())  # sticky per user
        assert client.usage_ledger is not None
        client.usage_ledger.flush(30)

        db = open_database(database_url)
        try:
            found = analyze(db, "greet", experiment=experiments.get("tone"))
        finally:
            db.close()
        arms = {a.label: a for a in found.arms}
        assert set(arms) == {"formal", "brief"}
        assert sum(a.calls for a in found.arms) == 60
        assert arms["brief"].models == ("openai/gpt-4o-mini",)
        assert arms["brief"].score_mean == 1.0 and arms["formal"].score_mean == 0.0
        assert arms["formal"].feedback + arms["brief"].feedback == 60
        score = next(c for c in found.comparisons if c.metric == "score")
        # Zero variance on both sides: Welch cannot run, so no verdict on the score.
        assert score.test is None

        experiments.promote("tone", "brief", label="production")  # the store moves it
        assert store.get("greet:production").version == 2
        assert experiments.get("tone").status == "stopped"
        resp = client.chat("openai/gpt-4o", prompt="greet", variables={"name": "Ada"},
                           user="u1")  # fmt: skip
        assert resp.prompt is not None and resp.prompt.variant is None  # experiment over


def test_pinned_versions_stay_out_of_the_experiment(database_url: str) -> None:
    client, _ = _client(database_url)
    with client:
        store = client.prompts
        store.add("p", "one {{ x }}")
        store.add("p", "two {{ x }}")
        store.experiments.start("p", [Variant(name="a", version=1, weight=0),
                                      Variant(name="b", version=2)], id="e")  # fmt: skip
        resp = client.chat("openai/gpt-4o", prompt="p@1", variables={"x": 1}, user="z")
        assert resp.prompt is not None
        assert (resp.prompt.version, resp.prompt.variant) == (1, None)
        resp = client.chat("openai/gpt-4o", prompt="p", variables={"x": 1}, user="z")
        assert resp.prompt is not None
        assert (resp.prompt.version, resp.prompt.variant) == (2, "e:b")


def test_stream_and_async_carry_request_id_and_variant(database_url: str) -> None:
    client, _ = _client(database_url)
    with client:
        client.prompts.add("s", "say {{ w }}")
        client.prompts.add("s", "shout {{ w }}")
        client.prompts.experiments.start("s", [Variant(name="a", version=1),
                                               Variant(name="b", version=2)], id="se")  # fmt: skip
        with client.stream("openai/gpt-4o", prompt="s", variables={"w": "x"}, user="q") as s:
            for _ in s:
                pass
        streamed = s.response
        assert streamed.request_id is not None
        assert streamed.prompt is not None and streamed.prompt.variant in ("se:a", "se:b")
        client.feedback(streamed.request_id, 4, "good")

    async def main() -> tuple[str | None, str | None]:
        fake = FakeProvider("openai", default={"text": "hi", "usage": USAGE})
        async with AsyncClient(config=Config(database_url=database_url),
                               providers=[fake]) as aclient:  # fmt: skip
            resp = await aclient.chat("openai/gpt-4o", prompt="s", variables={"w": "x"},
                                      user="q")  # fmt: skip
            assert resp.request_id is not None
            await aclient.feedback(resp.request_id, 5)
            assert aclient.usage_ledger is not None
            aclient.usage_ledger.flush(30)
            return resp.request_id, None if resp.prompt is None else resp.prompt.variant

    request_id, variant = asyncio.run(main())
    assert variant == (streamed.prompt.variant)  # the same user, the same arm
    db = open_database(database_url)
    try:
        found = analyze(db, "s")
    finally:
        db.close()
    assert sum(a.calls for a in found.arms) == 2
    assert [a.feedback for a in found.arms] == [2]  # one arm, both answers scored
    assert better_variant(found) is None  # one arm in the data: nothing to compare
    assert request_id is not None
