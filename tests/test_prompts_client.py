"""``client.chat``/``stream`` with ``prompt=``: rendering into the call, defaults the
caller can override, ``resp.prompt``, the usage ledger's prompt columns, experiments'
arms, and nothing of it on calls without a prompt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from llmswitch import AsyncClient, Client
from llmswitch.errors import PromptError
from llmswitch.messages import PromptRef
from llmswitch.storage.sql.schema import usage_ledger
from llmswitch.testing import FakeProvider

SUPPORT = {
    "system": "You are a support agent for {{ product }}.",
    "model": "openai/gpt-4o-mini",
    "options": {"temperature": 0.2, "max_tokens": 300},
    "messages": [
        {"role": "user", "content": "Order {{ order }}: where is it?"},
        {"role": "assistant", "content": "Let me check order {{ order }}."},
    ],
}
USAGE = {"input_tokens": 100, "output_tokens": 20}


def env_for(url: str, tmp_path: Path) -> dict[str, str]:
    return {"LLMSWITCH_DATABASE_URL": url, "LLMSWITCH_HOME": str(tmp_path / "home")}


def ledger_rows(client: Any) -> list[tuple[Any, ...]]:
    ledger = client.usage_ledger
    assert ledger is not None and ledger.flush(10)
    t = usage_ledger
    query = select(t.c.prompt_name, t.c.prompt_version, t.c.prompt_variant, t.c.stream, t.c.user)
    return ledger.database.read(
        lambda conn: [tuple(r) for r in conn.execute(query.order_by(t.c.id))]
    )


def test_a_prompt_call_sends_the_rendered_prompt_with_its_defaults(
    database_url: str, tmp_path: Path
) -> None:
    fake = FakeProvider("openai").default_reply("On its way.", usage=USAGE)
    with Client(providers=[fake], env=env_for(database_url, tmp_path)) as client:
        client.prompts.add("support", SUPPORT, author="ana")
        client.prompts.label("support", 1, "production")
        resp = client.chat(
            prompt="support:production", variables={"product": "Acme", "order": "A-1"}
        )
        sent = fake.last_request
        assert resp.text == "On its way." and resp.prompt == PromptRef("support", 1, None)
        assert sent.model == "gpt-4o-mini"  # the prompt's model: the call named none
        assert sent.system == "You are a support agent for Acme."
        assert [(m.role, m.content) for m in sent.messages] == [
            ("user", "Order A-1: where is it?"), ("assistant", "Let me check order A-1."),
        ]  # fmt: skip
        assert (sent.temperature, sent.max_tokens) == (0.2, 300)
        assert ledger_rows(client) == [("support", 1, None, False, None)]


def test_the_callers_own_arguments_win_and_messages_are_appended(
    database_url: str, tmp_path: Path
) -> None:
    fake = FakeProvider("openai").default_reply("ok")
    other = FakeProvider("anthropic").default_reply("ok")
    with Client(providers=[fake, other], env=env_for(database_url, tmp_path)) as client:
        client.prompts.add("support", SUPPORT)
        resp = client.chat(
            "anthropic/claude-sonnet-4-5",
            [{"role": "user", "content": "It is urgent."}],
            prompt="support@1",
            variables={"product": "Acme", "order": "B-2"},
            system="Answer in French.",
            temperature=0.9,
            user="alice",
        )
        sent = other.last_request
        assert fake.calls == 0 and resp.prompt == PromptRef("support", 1, None)
        assert sent.system == "Answer in French." and sent.temperature == 0.9
        assert sent.max_tokens == 300  # not given: the prompt's
        assert [m.content for m in sent.messages][-1] == "It is urgent."
        assert len(sent.messages) == 3
        assert ledger_rows(client) == [("support", 1, None, False, "alice")]


def test_streams_carry_the_prompt_and_record_it(database_url: str, tmp_path: Path) -> None:
    fake = FakeProvider("openai").default_reply("a b c d", usage=USAGE, chunk_size=1)
    with Client(providers=[fake], env=env_for(database_url, tmp_path)) as client:
        client.prompts.add("support", SUPPORT)
        client.prompts.add("support", {**SUPPORT, "system": "Be brief about {{ product }}."})
        with client.stream(prompt="support", variables={"product": "Acme", "order": "1"}) as stream:
            assert "".join(stream.text_stream) == "a b c d"
        assert stream.response.prompt == PromptRef("support", 2, None)
        assert stream.response.text == "a b c d"
        assert fake.last_request.system == "Be brief about Acme."
        # Closed early: a cancelled row, still tagged with the prompt.
        with client.stream(
            prompt="support@1", variables={"product": "Acme", "order": "1"}
        ) as early:
            next(iter(early))
        rows = ledger_rows(client)
        assert rows == [("support", 2, None, True, None), ("support", 1, None, True, None)]


async def test_async_chat_and_stream(database_url: str, tmp_path: Path) -> None:
    fake = FakeProvider("openai").default_reply("fine", usage=USAGE)
    async with AsyncClient(providers=[fake], env=env_for(database_url, tmp_path)) as client:
        await client.prompts.aadd("support", SUPPORT)
        await client.prompts.alabel("support", 1, "production")
        resp = await client.chat(
            prompt="support:production", variables={"product": "A", "order": "9"}
        )
        assert resp.prompt == PromptRef("support", 1, None)
        async with client.stream(
            prompt="support", variables={"product": "A", "order": "9"}
        ) as stream:
            texts = [e.text async for e in stream if e.kind == "text"]  # type: ignore[union-attr]
        assert "".join(texts) == "fine" and stream.response.prompt == PromptRef("support", 1, None)
        stream2 = client.stream(prompt="support", variables={"product": "A", "order": "9"})
        async with stream2:
            assert (await stream2.get_response()).prompt == PromptRef("support", 1, None)
        assert ledger_rows(client) == [
            ("support", 1, None, stream, None) for stream in (False, True, True)
        ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": "support", "variables": {"product": "A"}}, "missing variable 'order'"),
        (
            {"prompt": "support", "variables": {"product": "A", "order": 1, "x": 2}},
            "unknown variable 'x'",
        ),
        ({"prompt": "nope"}, "no prompt 'nope'"),
        ({"prompt": "support:canary", "variables": {}}, "has no label 'canary'"),
        ({"variables": {"product": "A"}}, "variables= is for a stored prompt"),
        ({"prompt": "support", "variables": ["product"]}, "variables must be a dict"),
    ],
)
def test_a_bad_prompt_call_fails_before_anything_is_sent(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    fake = FakeProvider("openai").default_reply("never")
    with Client(providers=[fake], env={"LLMSWITCH_HOME": str(tmp_path)}) as client:
        client.prompts.add("support", SUPPORT)
        with pytest.raises(PromptError, match=message):
            client.chat("openai/gpt-4o-mini", **kwargs)
        with pytest.raises(PromptError, match=message):
            client.stream("openai/gpt-4o-mini", **kwargs)
        assert fake.calls == 0


class Arms:
    """A stand-in for the experiment store: every call of ``support`` is arm B."""

    class Arm:
        version, model, tag = 1, "anthropic/claude-sonnet-4-5", "exp-1:B"

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []

    def choose(self, prompt: str, user: str | None) -> Any:
        self.asked.append((prompt, user))
        return self.Arm() if prompt == "support" else None

    async def achoose(self, prompt: str, user: str | None) -> Any:
        return self.choose(prompt, user)


def test_an_experiment_arm_picks_version_and_model_and_is_recorded(
    database_url: str, tmp_path: Path
) -> None:
    openai = FakeProvider("openai").default_reply("a")
    anthropic = FakeProvider("anthropic").default_reply("b")
    with Client(providers=[openai, anthropic], env=env_for(database_url, tmp_path)) as client:
        client.prompts.add("support", SUPPORT)
        client.prompts.add("support", {**SUPPORT, "system": "v2 {{ product }}"})
        arms = client.prompts.experiments = Arms()
        variables = {"product": "A", "order": "1"}
        resp = client.chat("openai/gpt-4o-mini", prompt="support", variables=variables, user="u7")
        assert resp.prompt == PromptRef("support", 1, "exp-1:B")
        assert anthropic.calls == 1 and openai.calls == 0  # the arm's model, whatever the call said
        pinned = client.chat(prompt="support@2", variables=variables)  # pinning opts out
        assert pinned.prompt == PromptRef("support", 2, None)
        assert arms.asked == [("support", "u7")]
        assert ledger_rows(client) == [
            ("support", 1, "exp-1:B", False, "u7"),
            ("support", 2, None, False, None),
        ]


def test_calls_without_a_prompt_load_nothing_of_it(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from llmswitch import Client\n"
        "from llmswitch.testing import FakeProvider\n"
        "fake = FakeProvider('openai').default_reply('hi')\n"
        "with Client(providers=[fake]) as client:\n"
        "    resp = client.chat('openai/gpt-4o-mini', [{'role': 'user', 'content': 'x'}])\n"
        "    with client.stream('openai/gpt-4o-mini', [{'role': 'user', 'content': 'x'}]) as s:\n"
        "        list(s)\n"
        "assert resp.prompt is None and s.response.prompt is None\n"
        "loaded = [m for m in ('jinja2', 'llmswitch.prompts', 'llmswitch.prompts.store') if m in sys.modules]\n"
        "print(loaded)\n"
    )
    env = {"LLMSWITCH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
