"""Property: no request body, however wrong, makes the OpenAI routes answer a 5xx; a
bad one is a 400 in OpenAI's error shape."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmswitch import AsyncClient
from llmswitch.gateway import create_app
from llmswitch.gateway.openai.routes import ROUTES
from llmswitch.testing import FakeProvider
from tests.support.gateway import gateway_client

_scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(
    allow_nan=False, allow_infinity=False
) | st.text(max_size=12)  # fmt: skip
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = ("model", "messages", "tools", "tool_choice", "temperature", "top_p", "max_tokens",
           "max_completion_tokens", "stop", "response_format", "reasoning_effort", "reasoning",
           "user", "metadata", "stream", "stream_options", "n", "seed", "input", "prompt",
           "suffix", "dimensions", "encoding_format", "parallel_tool_calls", "echo")  # fmt: skip
_ROLES = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "x"])
_parts = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "refusal", "input_audio", "file", "?"])},
    optional={"text": _json, "image_url": _json, "refusal": _json},
)
_message = st.fixed_dictionaries(
    {"role": _ROLES},
    optional={
        "content": st.text(max_size=8) | st.lists(_parts, max_size=3) | _json,
        "tool_calls": st.lists(st.fixed_dictionaries({"id": _json, "type": _json,
                               "function": st.fixed_dictionaries({}, optional={
                                   "name": _json, "arguments": _json})}), max_size=2) | _json,
        "tool_call_id": _json,
        "reasoning_content": _json,
        "name": _json,
    },
)  # fmt: skip
_near_valid = st.fixed_dictionaries(
    {"model": st.sampled_from(["openai/gpt-4o-mini", "openai/text-embedding-3-small", "", "x/y"])
     | _json, "messages": st.lists(_message, min_size=1, max_size=4)},
    optional={name: _json for name in _FIELDS if name not in ("model", "messages")},
)  # fmt: skip
# A valid request with a few fields replaced by anything: mostly reaches the provider.
_valid = st.builds(
    lambda extra, content: {"model": "openai/gpt-4o-mini", "input": "a", "prompt": "p",
                            "messages": [{"role": "user", "content": content}], **extra},
    st.dictionaries(st.sampled_from(_FIELDS[2:]), _json, max_size=2),
    st.text(min_size=1, max_size=8),
)  # fmt: skip
_bodies = (
    _valid | _near_valid | _json | st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=6)
)
_PATHS = st.sampled_from(["/v1/chat/completions", "/v1/embeddings", "/v1/completions"])


def test_arbitrary_bodies_never_cause_a_5xx() -> None:
    loop = asyncio.new_event_loop()
    fake = FakeProvider("openai").default_reply("hi")
    client = AsyncClient(providers=[fake], max_retries=0)
    app = create_app(client, routes=ROUTES)
    http = gateway_client(app)
    seen: set[int] = set()

    @settings(max_examples=250, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(body=_bodies, path=_PATHS, raw=st.booleans())
    def check(body: Any, path: str, raw: bool) -> None:
        content = orjson.dumps(body) if not raw else orjson.dumps(body)[:-1] or b"{"
        response = loop.run_until_complete(http.post(path, content=content))
        assert response.status_code < 500, (response.status_code, response.text, body)
        seen.add(response.status_code)
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}, error

    try:
        check()
        assert {200, 400} <= seen, seen  # both the happy path and refusals were exercised
    finally:
        loop.run_until_complete(http.aclose())
        loop.run_until_complete(app.shutdown(grace=5))
        loop.run_until_complete(client.aclose())
        loop.close()
