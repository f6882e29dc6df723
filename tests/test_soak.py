"""Soak: 10,000 async calls through real loopback HTTP with ~20% injected faults.

Runs in the default ``uv run pytest`` (about 10 s on 2 cores); select or skip it with
``-k soak``. Every call must end in a response or a typed error, every try is
accounted for, and no connection outlives the client.

The accounting is per try, not a count: each try carries its own id in a header, the
server notes which reply it chose for each id it read, and the client notes how each
try ended. On a busy machine the in-process server thread can be starved long enough
for a try to hit the client's total timeout before the server has read it (CI once
saw 3 such tries; 50 at once under 8 busy loops), so "server requests == tries" is
not an invariant. What is: every try the server read was made once by the client,
every try that got an HTTP answer got the reply the server chose for it, and every
try the server never read ended in a client timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
from collections import Counter, defaultdict

from llmswitch import AsyncClient
from llmswitch.errors import (
    LLMError,
    LLMTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    TransportError,
)
from llmswitch.messages import ChatResponse
from llmswitch.middleware import Middleware, Retry, RetryPolicy
from llmswitch.middleware.base import AsyncChatHandler, Call
from llmswitch.wire import Timeout
from tests.support.loopback import Loopback, Recorded, Reply
from tests.test_faults import assert_no_leaks, fixture, sockets

CALLS = 10_000
CONCURRENCY = 50
ATTEMPTS = 3
MODEL = "openai/gpt-4o-mini"
HI = [{"role": "user", "content": "Hi"}]
OK = fixture("openai", "chat_text.json")
CALL_HEADER = "x-soak-call"
TRY_HEADER = "x-soak-try"
# The faults a provider really sends, each a few percent of the traffic (~20% in all),
# with the outcome the client must see for a try that got the reply in time.
FAULTS = [
    (0.07, Reply(status=429, headers={"retry-after": "0"}, body=b'{"error":{"message":"slow"}}')),
    (0.07, Reply(status=503, body=b'{"error":{"message":"overloaded","type":"server_error"}}')),
    (0.05, Reply(body=OK, chunks=[OK], drop_after=0)),  # reset after the headers
    (0.01, Reply(body=OK, delay=2.0)),  # first byte after the client's total timeout
]
FAULT_OUTCOMES = ["RateLimitError", "ProviderUnavailableError", "TransportError", "LLMTimeoutError"]
OK_REPLY = len(FAULTS)  # the index noted for a normal answer
EXPECTED_ERRORS = (RateLimitError, ProviderUnavailableError, TransportError, LLMTimeoutError)
# The watchdog for the whole soak: about 5 s idle, 25 s with 8 busy loops on 2 cores.
WATCHDOG = 120.0


class FaultyUpstream:
    """Picks each reply from a seeded RNG (the same fault mix on every run) and notes,
    per try id, which reply it chose."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: Counter[int] = Counter()
        self.replies: dict[str, int] = {}  # try id -> index into FAULTS, or OK_REPLY
        self.repeated: list[str] = []  # try ids read more than once (must stay empty)

    def __call__(self, recorded: Recorded) -> Reply:
        with self._lock:
            draw = self._rng.random()
            chosen = OK_REPLY
            for i, (share, _) in enumerate(FAULTS):
                if draw < share:
                    chosen = i
                    self.injected[i] += 1
                    break
                draw -= share
            try_id = recorded.headers.get(TRY_HEADER, "")
            if try_id in self.replies:
                self.repeated.append(try_id)
            self.replies[try_id] = chosen
        return Reply(body=OK) if chosen == OK_REPLY else FAULTS[chosen][1]


class TagTries(Middleware):
    """Inside the retry layer: gives each try the id ``<call>.<attempt>`` in a header
    and notes how the try ended (``ok`` or the error's class name)."""

    per_attempt = True

    def __init__(self) -> None:
        self.tries: dict[str, list[tuple[str, str]]] = defaultdict(list)  # call -> tries

    async def achat(self, call: Call, next: AsyncChatHandler) -> ChatResponse:
        headers = dict(call.request.extra_headers or {})
        call_id = headers.pop(CALL_HEADER)
        try_id = f"{call_id}.{call.attempt}"
        headers[TRY_HEADER] = try_id
        request = dataclasses.replace(call.request, extra_headers=headers)
        outcome = "ok"
        try:
            return await next(call.replace(request=request))
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            self.tries[call_id].append((try_id, outcome))


def test_soak_10k_async_calls_with_faults_account_for_every_call(loopback: Loopback) -> None:
    upstream = FaultyUpstream(seed=4)
    loopback.route("POST", "/v1/chat/completions", handler=upstream)
    env = {"OPENAI_API_KEY": "sk-soak0123456789abcdef", "OPENAI_BASE_URL": loopback.url + "/v1"}
    retry = Retry(RetryPolicy(attempts=ATTEMPTS, deadline=30.0), sleep=False)
    tag = TagTries()
    outcomes: dict[str, str] = {}  # call id -> "ok" or the error's class name
    unexpected: list[BaseException] = []
    before = sockets()

    async def soak() -> None:
        gate = asyncio.Semaphore(CONCURRENCY)
        timeout = Timeout(connect=2.0, first_token=0.5, total=0.5)
        # The retry layer is this Retry alone: a client adds its default retries only
        # when no Retry is among its middleware, so a try stays one request.
        async with AsyncClient(env=env, timeout=timeout, middleware=[retry, tag]) as client:

            async def one(call_id: str) -> None:
                async with gate:
                    try:
                        resp = await client.chat(MODEL, HI, extra_headers={CALL_HEADER: call_id})
                        ok = isinstance(resp, ChatResponse) and resp.text.startswith("Hello")
                        outcomes[call_id] = "ok" if ok else "bad response"
                    except LLMError as exc:
                        outcomes[call_id] = type(exc).__name__
                    except BaseException as exc:  # counted, then the test fails on it
                        unexpected.append(exc)

            await asyncio.wait_for(asyncio.gather(*(one(str(k)) for k in range(CALLS))), WATCHDOG)

    start = time.monotonic()
    asyncio.run(soak())
    took = time.monotonic() - start
    with upstream._lock:  # a starved server thread may still be reading a timed-out try
        replies = dict(upstream.replies)
        repeated = list(upstream.repeated)
    tries = {try_id: outcome for per_call in tag.tries.values() for try_id, outcome in per_call}
    unread = Counter(outcome for try_id, outcome in tries.items() if try_id not in replies)
    summary = Counter(outcomes.values())
    print(
        f"\nsoak: {CALLS} calls in {took:.1f} s: {dict(summary)}; {len(tries)} tries, "
        f"{len(replies)} read by the server, unread: {dict(unread)}"
    )

    # Every call ended, in a response or one of the typed errors its faults cause.
    assert unexpected == []
    assert len(outcomes) == CALLS, len(outcomes)
    assert set(summary) <= {"ok", *(e.__name__ for e in EXPECTED_ERRORS)}, summary
    # Every call's tries: failures until the last, which is the call's outcome; a call
    # fails only once all its tries have failed; the retry layer re-tried each failure.
    assert set(tag.tries) == set(outcomes)
    for call_id, per_call in tag.tries.items():
        ends = [outcome for _, outcome in per_call]
        assert [t for t, _ in per_call] == [f"{call_id}.{n}" for n in range(len(per_call))]
        assert "ok" not in ends[:-1] and ends[-1] == outcomes[call_id], (call_id, ends)
        assert len(ends) == ATTEMPTS or ends[-1] == "ok", (call_id, ends)
    assert len(tries) == CALLS + len(retry.sleeps)
    # Every try the server read was made by the client, once, and every try that got an
    # HTTP answer got the reply the server chose for it.
    assert repeated == []
    assert set(replies) <= set(tries), set(replies) - set(tries)
    for try_id, chosen in replies.items():
        outcome = tries[try_id]
        if outcome != "LLMTimeoutError":  # a starved client may time out on any reply
            assert outcome == ("ok" if chosen == OK_REPLY else FAULT_OUTCOMES[chosen]), try_id
    # A try the server never read ended in the client's timeout: nothing else is lost.
    assert set(unread) <= {"LLMTimeoutError"}, unread
    assert all(upstream.injected[i] > 0 for i in range(len(FAULTS))), upstream.injected
    assert_no_leaks([loopback], before)
