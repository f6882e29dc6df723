"""Cost of stored prompts (budget: rendering a cached prompt version < 50 µs; nothing on
calls that use no prompt).

    uv run python bench/prompts.py

Figures, best of 5 runs of many calls each:

- ``render``: a compiled version's ``render(variables)`` (a system part and two
  messages, five variables, one loop): the template work alone;
- ``store.render (label, cached)``: ``PromptStore.render("support:production", ...)``
  with the label and the version in the store's cache (the case of every call but
  one per label TTL): parsing the reference, the TTL check, the variable check and
  the render. This is the budgeted figure;
- ``chat(prompt=) overhead``: ``client.chat(prompt=..., variables=...)`` minus the same
  call with the rendered messages passed directly, on a FakeProvider that answers at
  once: what a prompt adds to a call end to end (the store, the tags, the response's
  ``prompt`` field);
- ``chat() without prompt``: a plain call on a client whose store was never touched,
  against the same call on a client that has used prompts: the ``prompt=`` check alone.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable

from llmswitch import Client
from llmswitch.prompts import CompiledPrompt, PromptStore, PromptTemplate
from llmswitch.storage.sql import open_database
from llmswitch.testing import FakeProvider

BUDGET_US = 50.0
SUPPORT = {
    "system": "You are a support agent for {{ product }}. Answer in {{ language }}.",
    "messages": [
        {
            "role": "user",
            "content": "Order {{ order.id }} ({% for i in order.lines %}{{ i }}, {% endfor %})",
        },
        {"role": "assistant", "content": "Let me look at order {{ order.id }}."},
    ],
    "defaults": {"language": "English"},
    "model": "openai/gpt-4o-mini",
    "options": {"temperature": 0.2},
}
VARIABLES = {
    "product": "Acme",
    "order": {"id": "A-17", "lines": ["pen", "ink", "paper"]},
    "language": "French",
}


def best_us(fn: Callable[[], object], n: int, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def main() -> int:
    compiled = CompiledPrompt(PromptTemplate.from_content(SUPPORT))
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{tmp}/bench.db")
        store = PromptStore(db, label_ttl=3600)  # the label stays cached for the whole run
        store.add("support", SUPPORT)
        store.label("support", 1, "production")
        store.render("support:production", VARIABLES)
        render = best_us(lambda: compiled.render(VARIABLES), 20_000)
        cached = best_us(lambda: store.render("support:production", VARIABLES), 20_000)

        fake = FakeProvider("openai").default_reply("ok")
        env = {"LLMSWITCH_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "LLMSWITCH_HOME": tmp}
        with (
            Client(providers=[fake], env=env) as client,
            Client(providers=[fake], env=env) as plain,
        ):
            # (The client's store has the default 2 s label TTL: one label read per 2 s.)
            call = store.render("support:production", VARIABLES)
            direct = dict(system=call.system, messages=call.messages, temperature=0.2)
            with_prompt = best_us(
                lambda: client.chat(prompt="support:production", variables=VARIABLES), 5_000
            )
            without = best_us(lambda: client.chat("openai/gpt-4o-mini", **direct), 5_000)
            untouched = best_us(lambda: plain.chat("openai/gpt-4o-mini", **direct), 5_000)
        db.close()

    print(f"render (compiled version)         {render:7.1f} µs")
    print(f"store.render (label, cached)      {cached:7.1f} µs   budget < {BUDGET_US:.0f} µs")
    print(
        f"chat(prompt=) overhead            {with_prompt - without:7.1f} µs   ({with_prompt:.1f} vs {without:.1f})"
    )
    print(f"chat() without prompt, 2 clients  {untouched:7.1f} / {without:.1f} µs")
    ok = cached < BUDGET_US
    print("OK" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
