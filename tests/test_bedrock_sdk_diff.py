"""Differential tests: boto3 (botocore's own event-stream decoder, parsers and shapes)
calls Converse/ConverseStream against a loopback server replaying the same bytes our
parser reads, and we must agree with it on everything a user reads."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EventStreamError

from llmswitch.errors import ProviderError
from llmswitch.messages import ChatResponse
from tests.support.bedrock import (
    ACCESS_KEY,
    MODEL,
    MODEL_PATH,
    SECRET_KEY,
    fixture,
    parse_body,
    run_stream,
)
from tests.support.loopback import Loopback, Reply, eventstream_reply

pytestmark = pytest.mark.usefixtures("aws_env")

STREAMS = fixture.names(
    "*.bin", exclude=("throttled.bin", "model_stream_error.bin", "truncated.bin")
)
BODIES = ["text.json", "tool_use.json", "redacted.json", "guardrail.json", "context_window.json"]
HI = [{"role": "user", "content": [{"text": "Hi"}]}]
_SESSION = boto3.session.Session()


@pytest.fixture
def sdk(loopback: Loopback) -> Iterator[Any]:
    yield _SESSION.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        endpoint_url=loopback.url,
        config=Config(retries={"max_attempts": 1}),
    )


def _b64(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


def sdk_stream(client: Any) -> dict[str, Any]:
    """What a boto3 user assembles from converse_stream's events."""
    blocks: dict[int, dict[str, Any]] = {}
    out: dict[str, Any] = {"stopReason": None, "usage": None}
    for ev in client.converse_stream(modelId=MODEL, messages=HI)["stream"]:
        if "contentBlockStart" in ev:
            start = ev["contentBlockStart"]
            use = start["start"].get("toolUse")
            if use:
                blocks[start["contentBlockIndex"]] = {"toolUse": use, "input": ""}
        elif "contentBlockDelta" in ev:
            d = ev["contentBlockDelta"]
            block = blocks.setdefault(d["contentBlockIndex"], {})
            delta = d["delta"]
            if "text" in delta:
                block["text"] = block.get("text", "") + delta["text"]
            elif "toolUse" in delta:
                block["input"] += delta["toolUse"]["input"]
            elif "reasoningContent" in delta:
                r = delta["reasoningContent"]
                block["reasoning"] = block.get("reasoning", "") + r.get("text", "")
                if "signature" in r:
                    block["signature"] = r["signature"]
                if "redactedContent" in r:
                    block["redacted"] = _b64(r["redactedContent"])
        elif "messageStop" in ev:
            out["stopReason"] = ev["messageStop"]["stopReason"]
        elif "metadata" in ev:
            out["usage"] = ev["metadata"]["usage"]
    ordered = [blocks[i] for i in sorted(blocks)]
    out["text"] = "".join(b.get("text", "") for b in ordered)
    out["calls"] = []
    for b in ordered:
        if "toolUse" in b:
            try:
                arguments = json.loads(b["input"] or "{}")
            except ValueError:
                continue  # input cut off by max_tokens: there is no call to make
            out["calls"].append((b["toolUse"]["toolUseId"], b["toolUse"]["name"], arguments))
    out["reasoning"] = [
        (b.get("reasoning", ""), b.get("signature"), b.get("redacted"))
        for b in ordered
        if "reasoning" in b or "redacted" in b
    ]
    return out


def sdk_body(client: Any) -> dict[str, Any]:
    resp = client.converse(modelId=MODEL, messages=HI)
    content = resp["output"]["message"]["content"]
    reasoning = []
    for b in content:
        if "reasoningContent" in b:
            r = b["reasoningContent"]
            rt = r.get("reasoningText", {})
            reasoning.append(
                (rt.get("text", ""), rt.get("signature"), _b64(r.get("redactedContent")))
            )
    return {
        "text": "".join(b["text"] for b in content if "text" in b),
        "calls": [
            (b["toolUse"]["toolUseId"], b["toolUse"]["name"], b["toolUse"]["input"])
            for b in content
            if "toolUse" in b
        ],
        "reasoning": reasoning,
        "stopReason": resp["stopReason"],
        "usage": resp["usage"],
    }


def assert_agrees(ours: ChatResponse, sdk: dict[str, Any]) -> None:
    assert ours.text == sdk["text"]
    assert [(c.id, c.name, c.arguments) for c in ours.tool_calls] == sdk["calls"]
    assert [(b.text, b.signature, b.redacted_data) for b in ours.reasoning_blocks] == sdk[
        "reasoning"
    ]
    assert ours.raw_finish_reason == sdk["stopReason"]
    u = sdk["usage"]
    if u is None:
        assert ours.usage.input_tokens is None
        return
    cached = u.get("cacheReadInputTokens")
    written = u.get("cacheWriteInputTokens")
    assert ours.usage.input_tokens == u["inputTokens"] + (cached or 0) + (written or 0)
    assert ours.usage.output_tokens == u["outputTokens"]
    assert ours.usage.total_tokens == u["totalTokens"]
    assert ours.usage.cached_input_tokens == cached
    assert ours.usage.cache_write_tokens == written


@pytest.mark.parametrize("name", STREAMS)
def test_stream_agrees_with_boto3(name: str, sdk: Any, loopback: Loopback) -> None:
    data = fixture(name)
    loopback.route("POST", f"/model/{MODEL_PATH}/converse-stream", eventstream_reply(data))
    expected = sdk_stream(sdk)
    _, ours = run_stream([data])
    assert_agrees(ours, expected)


@pytest.mark.parametrize("name", BODIES)
def test_body_agrees_with_boto3(name: str, sdk: Any, loopback: Loopback) -> None:
    data = fixture(name)
    loopback.route("POST", f"/model/{MODEL_PATH}/converse", Reply(body=data))
    assert_agrees(parse_body(data), sdk_body(sdk))


@pytest.mark.parametrize(
    ("name", "code"),
    [("throttled.bin", "throttlingException"), ("model_stream_error.bin", "modelStreamErrorException")],
)  # fmt: skip
def test_exception_frames_agree_with_boto3(
    name: str, code: str, sdk: Any, loopback: Loopback
) -> None:
    data = fixture(name)
    loopback.route("POST", f"/model/{MODEL_PATH}/converse-stream", eventstream_reply(data))
    received = ""
    with pytest.raises(EventStreamError) as sdk_err:
        for ev in sdk.converse_stream(modelId=MODEL, messages=HI)["stream"]:
            if "contentBlockDelta" in ev:
                received += ev["contentBlockDelta"]["delta"].get("text", "")
    assert sdk_err.value.response["Error"]["Code"] == code

    with pytest.raises(ProviderError) as ours_err:
        run_stream([data])
    assert ours_err.value.code == code
    assert sdk_err.value.response["Error"]["Message"] in str(ours_err.value)
    parser_text = run_stream([data[: data.index(code.encode()) - 20]])[1].text
    assert parser_text == received
