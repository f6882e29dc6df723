"""What gets measured: the floors, llmswitch, and the peer libraries.

Each factory builds one :class:`Case` for a group (one wire format, chat or stream,
one upstream URL): ``op`` is the timed operation (one call or one whole stream),
``check`` runs it once more and asserts that the parsed result is the canned answer,
so a case that silently fails fast can never look good. Factories import their library
lazily; any exception while building or checking makes the case "unavailable".
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from zlib import crc32

PROMPT = "Summarise how a request is routed, in one paragraph."
MESSAGES = [{"role": "user", "content": PROMPT}]
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
GEMINI_MODEL = "gemini-2.5-flash"
BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
OLLAMA_MODEL = "llama3.2"
MAX_TOKENS = 1024
API_KEY = "bench"
# Fake static AWS keys for the SigV4 rows (AWS's documentation example pair).
AWS_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
AWS_REGION = "us-east-1"

# How each format frames a stream: SSE lines, binary event-stream frames, NDJSON lines.
FRAMING = {
    "openai": "sse",
    "anthropic": "sse",
    "gemini": "sse",
    "bedrock": "eventstream",
    "ollama": "ndjson",
}


@dataclass
class Group:
    key: str  # e.g. "stream-openai"
    title: str
    fmt: str  # "openai" | "anthropic" | "gemini" | "bedrock" | "ollama"
    stream: bool
    root: str  # upstream URL, http://127.0.0.1:PORT
    upstream_label: str
    expected_text: str

    @property
    def base(self) -> str:
        """Server root for this group: streams live under the /stream prefix."""
        return self.root + ("/stream" if self.stream else "")

    @property
    def path(self) -> str:
        if self.fmt == "gemini":
            verb = ":streamGenerateContent?alt=sse" if self.stream else ":generateContent"
            return f"/v1beta/models/{GEMINI_MODEL}{verb}"
        if self.fmt == "bedrock":  # the model id percent-encoded, as botocore sends it
            verb = "converse-stream" if self.stream else "converse"
            return f"/model/{quote(BEDROCK_MODEL, safe='')}/{verb}"
        if self.fmt == "ollama":
            return "/api/chat"
        return "/v1/chat/completions" if self.fmt == "openai" else "/v1/messages"

    @property
    def framing(self) -> str:
        return FRAMING[self.fmt]

    @property
    def url(self) -> str:
        return self.base + self.path


@dataclass
class Case:
    id: str  # stable id in the JSON output
    name: str  # human label
    lib: str  # floor | llmswitch | openai | anthropic | litellm
    ref: str  # id of the floor case its ratio is taken against
    is_async: bool
    op: Callable[[], Any]
    check: Callable[[], Any]
    close: Callable[[], Any] | None = None
    reads: list[int] | None = None  # [network reads, streams] seen by a stream floor


def _expect(got: str, want: str, what: str) -> None:
    if got != want:
        raise AssertionError(
            f"{what}: parsed text differs from the canned answer "
            f"(got {len(got)} chars {got[:40]!r}..., want {len(want)} chars)"
        )


def _request_body(g: Group) -> bytes:
    if g.fmt == "gemini":
        return json.dumps(
            {
                "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
                "generationConfig": {"maxOutputTokens": MAX_TOKENS},
            }
        ).encode()
    if g.fmt == "bedrock":
        return json.dumps(
            {
                "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
                "inferenceConfig": {"maxTokens": MAX_TOKENS},
            }
        ).encode()
    if g.fmt == "ollama":
        return json.dumps(
            {
                "model": OLLAMA_MODEL,
                "messages": MESSAGES,
                "stream": g.stream,
                "options": {"num_predict": MAX_TOKENS},
            }
        ).encode()
    body: dict[str, Any] = {"model": OPENAI_MODEL if g.fmt == "openai" else ANTHROPIC_MODEL}
    body["messages"] = MESSAGES
    body["max_tokens"] = MAX_TOKENS
    if g.stream:
        body["stream"] = True
        if g.fmt == "openai":
            body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


def _headers(g: Group) -> dict[str, str]:
    if g.fmt in ("openai", "bedrock"):  # Bedrock: an API key (bearer), no SigV4 in floors
        return {"content-type": "application/json", "authorization": f"Bearer {API_KEY}"}
    if g.fmt == "gemini":
        return {"content-type": "application/json", "x-goog-api-key": API_KEY}
    if g.fmt == "ollama":
        return {"content-type": "application/json"}
    return {
        "content-type": "application/json",
        "x-api-key": API_KEY,
        "anthropic-version": "2023-06-01",
    }


def _text_of(fmt: str, obj: Any) -> str:
    if fmt == "openai":
        return str(obj["choices"][0]["message"]["content"])
    return "".join(b["text"] for b in obj["content"] if b["type"] == "text")


def _stream_text(fmt: str, payloads: list[Any]) -> str:
    out = []
    for p in payloads:
        if fmt == "openai":
            for c in p.get("choices") or ():
                out.append(c["delta"].get("content") or "")
        elif fmt == "gemini":
            for c in p.get("candidates") or ():
                out.extend(part.get("text", "") for part in c["content"]["parts"])
        elif fmt == "bedrock":
            out.append((p.get("delta") or {}).get("text") or "")
        elif fmt == "ollama":
            out.append(p["message"]["content"])
        elif p.get("type") == "content_block_delta" and p["delta"]["type"] == "text_delta":
            out.append(p["delta"]["text"])
    return "".join(out)


# The minimal framing of the binary and NDJSON streams, called once per network read
# (nginx delivers a stream in one or two): complete units are json-decoded, the
# incomplete tail is returned to be prefixed to the next read.

_PRELUDE = struct.Struct("!III").unpack_from
_CRC = struct.Struct("!I").unpack_from


def _eventstream_feed(
    buf: bytes, loads: Callable[[bytes], Any], collect: list[Any] | None
) -> tuple[int, bytes]:
    """Event-stream frames split by their total_length, each payload json-decoded.

    The least a *correct* client does per frame, no more: both CRCs checked (the
    prelude's before its length is trusted, the message's before the payload is; every
    AWS SDK does both) and the header block looked up by its bytes, the cheapest way to
    tell an event (and which one) from an exception frame (a dict hit; the headers'
    fields are never parsed). Without these the floor would not be the limit of the
    stack, only a parser that accepts corrupt frames and ignores the frame type."""
    n = pos = 0
    size = len(buf)
    kinds = _HEADER_KINDS
    while size - pos >= 12:
        total, headers_length, prelude_crc = _PRELUDE(buf, pos)
        if crc32(buf[pos : pos + 8]) != prelude_crc:
            raise RuntimeError("prelude CRC mismatch")
        end = pos + total
        if end > size:
            break
        if crc32(buf[pos + 8 : end - 4], prelude_crc) != _CRC(buf, end - 4)[0]:
            raise RuntimeError("message CRC mismatch")
        start = pos + 12 + headers_length
        kind = kinds.get(buf[pos + 12 : start])
        if kind is None:  # a new header block: its bytes stand for it from now on
            kind = kinds[buf[pos + 12 : start]] = len(kinds)
        obj = loads(buf[start : end - 4])
        n += 1
        if collect is not None:
            collect.append(obj)
        pos = end
    return n, buf[pos:]


_HEADER_KINDS: dict[bytes, int] = {}


def _ndjson_feed(
    buf: bytes, loads: Callable[[bytes], Any], collect: list[Any] | None
) -> tuple[int, bytes]:
    """Complete NDJSON lines, each json-decoded."""
    n = 0
    lines = buf.split(b"\n")
    rest = lines.pop()
    for line in lines:
        if line:
            obj = loads(line)
            n += 1
            if collect is not None:
                collect.append(obj)
    return n, rest


_FEEDS = {"eventstream": _eventstream_feed, "ndjson": _ndjson_feed}


def _aiohttp_url(url: str) -> Any:
    """A percent-encoded URL sent byte for byte (yarl would turn Bedrock's %3A into ":")."""
    if "%" not in url:
        return url
    from yarl import URL

    return URL(url, encoded=True)


# ------------------------------------------------------------------------------ floors


async def floor_async(g: Group, *, use_orjson: bool = False) -> Case:
    """Bare aiohttp: POST a prebuilt body; read + json-decode, or split SSE lines by hand."""
    import aiohttp

    if use_orjson:
        import orjson

        loads: Callable[[bytes], Any] = orjson.loads
    else:
        loads = json.loads
    session = aiohttp.ClientSession()
    url, body, headers = _aiohttp_url(g.url), _request_body(g), _headers(g)
    reads = [0, 0]  # reads, streams: how many network reads a stream takes on this upstream

    if not g.stream:

        async def op() -> Any:
            async with session.post(url, data=body, headers=headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"upstream answered HTTP {resp.status}")
                raw = await resp.read()
            return loads(raw)

        async def check() -> None:
            _expect(_text_of(g.fmt, await op()), g.expected_text, "floor")

    elif g.framing != "sse":
        feed = _FEEDS[g.framing]

        async def op(collect: list[Any] | None = None) -> int:
            n = 0
            buf = b""
            async with session.post(url, data=body, headers=headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"upstream answered HTTP {resp.status}")
                async for chunk in resp.content.iter_any():
                    reads[0] += 1
                    k, buf = feed(buf + chunk if buf else chunk, loads, collect)
                    n += k
            if buf:
                raise RuntimeError(f"stream ended inside a frame or line ({len(buf)} bytes)")
            reads[1] += 1
            return n

        async def check() -> None:
            payloads: list[Any] = []
            await op(payloads)
            _expect(_stream_text(g.fmt, payloads), g.expected_text, "floor")

    else:

        async def op(collect: list[Any] | None = None) -> int:
            n = 0
            buf = b""
            async with session.post(url, data=body, headers=headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"upstream answered HTTP {resp.status}")
                async for chunk in resp.content.iter_any():
                    reads[0] += 1
                    buf += chunk
                    lines = buf.split(b"\n")
                    buf = lines.pop()
                    for line in lines:
                        if line[:6] == b"data: " and line != b"data: [DONE]":
                            obj = loads(line[6:])
                            n += 1
                            if collect is not None:
                                collect.append(obj)
            reads[1] += 1
            return n

        async def check() -> None:
            payloads: list[Any] = []
            await op(payloads)
            _expect(_stream_text(g.fmt, payloads), g.expected_text, "floor")

    cid = "floor-orjson" if use_orjson else "floor"
    name = f"floor: aiohttp + {'orjson' if use_orjson else 'json (stdlib)'}"
    return Case(cid, name, "floor", "floor", True, op, check, session.close, reads)


async def floor_sync(g: Group) -> Case:
    """Bare urllib3 + stdlib json: the floor the sync Client is compared with."""
    import urllib3

    pool = urllib3.PoolManager(maxsize=4)
    url, body, headers = g.url, _request_body(g), _headers(g)

    if not g.stream:

        def op() -> Any:
            resp = pool.request("POST", url, body=body, headers=headers)
            if resp.status != 200:
                raise RuntimeError(f"upstream answered HTTP {resp.status}")
            return json.loads(resp.data)

        def check() -> None:
            _expect(_text_of(g.fmt, op()), g.expected_text, "sync floor")

    elif g.framing != "sse":
        feed = _FEEDS[g.framing]

        def op(collect: list[Any] | None = None) -> int:
            n = 0
            buf = b""
            resp = pool.request("POST", url, body=body, headers=headers, preload_content=False)
            if resp.status != 200:
                raise RuntimeError(f"upstream answered HTTP {resp.status}")
            for chunk in resp.stream(65536):
                k, buf = feed(buf + chunk if buf else chunk, json.loads, collect)
                n += k
            resp.release_conn()
            if buf:
                raise RuntimeError(f"stream ended inside a frame or line ({len(buf)} bytes)")
            return n

        def check() -> None:
            payloads: list[Any] = []
            op(payloads)
            _expect(_stream_text(g.fmt, payloads), g.expected_text, "sync floor")

    else:

        def op(collect: list[Any] | None = None) -> int:
            n = 0
            buf = b""
            resp = pool.request("POST", url, body=body, headers=headers, preload_content=False)
            if resp.status != 200:
                raise RuntimeError(f"upstream answered HTTP {resp.status}")
            for chunk in resp.stream(65536):
                buf += chunk
                lines = buf.split(b"\n")
                buf = lines.pop()
                for line in lines:
                    if line[:6] == b"data: " and line != b"data: [DONE]":
                        obj = json.loads(line[6:])
                        n += 1
                        if collect is not None:
                            collect.append(obj)
            resp.release_conn()
            return n

        def check() -> None:
            payloads: list[Any] = []
            op(payloads)
            _expect(_stream_text(g.fmt, payloads), g.expected_text, "sync floor")

    name = "floor (sync): urllib3 + json (stdlib)"
    return Case("floor-sync", name, "floor", "floor-sync", False, op, check, pool.clear)


# --------------------------------------------------------------------------- llmswitch


@contextlib.contextmanager
def provider_env(g: Group) -> Iterator[None]:
    """llmswitch's documented configuration: env vars, set before the client is created
    and kept for the whole group (the client may read them when it first resolves a model)."""
    values: dict[str, str | None] = {
        "OPENAI_BASE_URL": f"{g.base}/v1",
        "OPENAI_API_KEY": API_KEY,
        "ANTHROPIC_BASE_URL": g.base,
        "ANTHROPIC_API_KEY": API_KEY,
        "GEMINI_API_KEY": API_KEY,
        "GEMINI_BASE_URL": g.base,  # without /v1beta
        # A Bedrock API key: bearer auth, so SigV4's cost is not in the budget rows (the
        # llmswitch-async-sigv4 row measures it). None = unset for the group.
        "AWS_BEARER_TOKEN_BEDROCK": API_KEY,
        "AWS_REGION": AWS_REGION,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": g.base,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PROFILE": None,
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "OLLAMA_HOST": g.base,
        "OLLAMA_API_KEY": None,
    }
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_MODELS = {
    "openai": OPENAI_MODEL,
    "anthropic": ANTHROPIC_MODEL,
    "gemini": GEMINI_MODEL,
    "bedrock": BEDROCK_MODEL,
    "ollama": OLLAMA_MODEL,
}


def _model(g: Group) -> str:
    return f"{g.fmt}/{_MODELS[g.fmt]}"


def _sigv4_env() -> dict[str, str]:
    """The process environment with static AWS keys instead of the Bedrock API key."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_BEARER_TOKEN_BEDROCK"}
    env.update(AWS_ACCESS_KEY_ID=AWS_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=AWS_SECRET_KEY)
    return env


def _assert_sigv4(client: Any, model: str) -> None:
    """A SigV4 row that silently sent the API key would look fast: sign one request the
    way the client does (llmswitch internals, bench-only) and look at the result."""
    provider, request, _ctx = client._core.request(model, MESSAGES, max_tokens=MAX_TOKENS)
    http = provider.adapter.build_request(request, provider.endpoint, stream=True)
    headers = {k.lower(): v for k, v in provider.endpoint.prepare(http).headers.items()}
    if not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 Credential="):
        raise AssertionError("the SigV4 row does not sign its requests with SigV4")


async def llmswitch_async(g: Group, *, sigv4: bool = False) -> Case:
    import llmswitch

    # configured by provider_env(g), set by run.py; the SigV4 row gets static keys instead
    client = llmswitch.AsyncClient(env=_sigv4_env()) if sigv4 else llmswitch.AsyncClient()
    model = _model(g)

    if not g.stream:

        async def op() -> Any:
            return await client.chat(model, messages=MESSAGES, max_tokens=MAX_TOKENS)

        async def check() -> None:
            _expect((await op()).text, g.expected_text, "llmswitch")

        name = "llmswitch AsyncClient.chat"
    else:

        async def op() -> None:
            async with client.stream(model, messages=MESSAGES, max_tokens=MAX_TOKENS) as s:
                async for _ev in s:
                    pass

        async def check() -> None:
            pieces = []
            async with client.stream(model, messages=MESSAGES, max_tokens=MAX_TOKENS) as s:
                async for ev in s:
                    if ev.kind == "text":
                        pieces.append(ev.text)
                final = s.response
            _expect("".join(pieces), g.expected_text, "llmswitch TextDelta events")
            _expect(final.text, g.expected_text, "llmswitch stream.response")
            if sigv4:
                _assert_sigv4(client, model)

        name = "llmswitch AsyncClient.stream"
    cid = "llmswitch-async"
    if sigv4:
        cid, name = "llmswitch-async-sigv4", name + ", SigV4 (no budget)"
    return Case(cid, name, "llmswitch", "floor", True, op, check, client.aclose)


async def llmswitch_async_sigv4(g: Group) -> Case | None:
    """Bedrock signed with SigV4 (static keys) instead of an API key: reported only."""
    if g.fmt != "bedrock":
        return None
    return await llmswitch_async(g, sigv4=True)


async def llmswitch_sync(g: Group, *, sigv4: bool = False) -> Case:
    import llmswitch

    client = llmswitch.Client(env=_sigv4_env()) if sigv4 else llmswitch.Client()
    model = _model(g)

    if not g.stream:

        def op() -> Any:
            return client.chat(model, messages=MESSAGES, max_tokens=MAX_TOKENS)

        def check() -> None:
            _expect(op().text, g.expected_text, "llmswitch sync")

        name = "llmswitch Client.chat (sync)"
    else:

        def op() -> None:
            with client.stream(model, messages=MESSAGES, max_tokens=MAX_TOKENS) as s:
                for _ev in s:
                    pass

        def check() -> None:
            with client.stream(model, messages=MESSAGES, max_tokens=MAX_TOKENS) as s:
                pieces = [ev.text for ev in s if ev.kind == "text"]
                final = s.response
            _expect("".join(pieces), g.expected_text, "llmswitch sync TextDelta events")
            _expect(final.text, g.expected_text, "llmswitch sync stream.response")
            if sigv4:
                _assert_sigv4(client, model)

        name = "llmswitch Client.stream (sync)"
    cid = "llmswitch-sync"
    if sigv4:
        cid, name = "llmswitch-sync-sigv4", name + ", SigV4 (no budget)"
    return Case(cid, name, "llmswitch", "floor-sync", False, op, check, client.close)


async def llmswitch_sync_sigv4(g: Group) -> Case | None:
    """The sync Client on Bedrock with SigV4: the like-for-like row for boto3."""
    if g.fmt != "bedrock":
        return None
    return await llmswitch_sync(g, sigv4=True)


# ------------------------------------------------------------------------------- peers


async def openai_sdk(g: Group) -> Case | None:
    if g.fmt != "openai":
        return None
    import openai

    client = openai.AsyncOpenAI(base_url=f"{g.base}/v1", api_key=API_KEY, max_retries=0)
    create = client.chat.completions.create

    if not g.stream:

        async def op() -> Any:
            return await create(model=OPENAI_MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)

        async def check() -> None:
            _expect((await op()).choices[0].message.content or "", g.expected_text, "openai")

        name = f"openai SDK {openai.__version__} chat.completions.create"
    else:

        async def op() -> None:
            stream = await create(
                model=OPENAI_MODEL,
                messages=MESSAGES,
                max_tokens=MAX_TOKENS,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for _chunk in stream:
                pass

        async def check() -> None:
            stream = await create(
                model=OPENAI_MODEL,
                messages=MESSAGES,
                max_tokens=MAX_TOKENS,
                stream=True,
                stream_options={"include_usage": True},
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            _expect(text, g.expected_text, "openai stream")

        name = f"openai SDK {openai.__version__} create(stream=True)"
    return Case("openai-sdk", name, "openai", "floor", True, op, check, client.close)


def _anthropic_client(g: Group) -> Any:
    import anthropic

    return anthropic.AsyncAnthropic(base_url=g.base, api_key=API_KEY, max_retries=0)


async def anthropic_sdk(g: Group) -> Case | None:
    if g.fmt != "anthropic":
        return None
    import anthropic

    client = _anthropic_client(g)
    kw: dict[str, Any] = {"model": ANTHROPIC_MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS}

    if not g.stream:

        async def op() -> Any:
            return await client.messages.create(**kw)

        async def check() -> None:
            msg = await op()
            _expect("".join(b.text for b in msg.content), g.expected_text, "anthropic")

        name = f"anthropic SDK {anthropic.__version__} messages.create"
    else:

        async def op() -> None:
            async for _ev in await client.messages.create(**kw, stream=True):
                pass

        async def check() -> None:
            text = []
            async for ev in await client.messages.create(**kw, stream=True):
                if ev.type == "content_block_delta" and ev.delta.type == "text_delta":
                    text.append(ev.delta.text)
            _expect("".join(text), g.expected_text, "anthropic stream")

        name = f"anthropic SDK {anthropic.__version__} create(stream=True)"
    return Case("anthropic-sdk", name, "anthropic", "floor", True, op, check, client.close)


async def anthropic_sdk_helper(g: Group) -> Case | None:
    """``messages.stream()``: the SDK's accumulating helper, like llmswitch's stream."""
    if g.fmt != "anthropic" or not g.stream:
        return None
    import anthropic

    client = _anthropic_client(g)
    kw: dict[str, Any] = {"model": ANTHROPIC_MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS}

    async def op() -> None:
        async with client.messages.stream(**kw) as s:
            async for _ev in s:
                pass

    async def check() -> None:
        async with client.messages.stream(**kw) as s:
            async for _ev in s:
                pass
            final = await s.get_final_message()
        _expect("".join(b.text for b in final.content), g.expected_text, "anthropic helper")

    name = f"anthropic SDK {anthropic.__version__} messages.stream() helper"
    return Case("anthropic-sdk-helper", name, "anthropic", "floor", True, op, check, client.close)


_litellm_ready = False


def _import_litellm() -> Any:
    """Import LiteLLM quietly: bundled cost map (no download), no telemetry, no logs."""
    global _litellm_ready
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm

    if not _litellm_ready:
        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.set_verbose = False
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx"):
            logging.getLogger(name).setLevel(logging.ERROR)
        _litellm_ready = True
    return litellm


async def litellm_case(g: Group) -> Case | None:
    if g.fmt not in ("openai", "anthropic"):
        return None
    litellm = _import_litellm()
    if g.fmt == "openai":
        kw: dict[str, Any] = {"model": f"openai/{OPENAI_MODEL}", "api_base": f"{g.base}/v1"}
    else:
        kw = {"model": f"anthropic/{ANTHROPIC_MODEL}", "api_base": g.base}
    kw.update(messages=MESSAGES, max_tokens=MAX_TOKENS, api_key=API_KEY)
    if g.stream:
        kw["stream"] = True
        if g.fmt == "openai":
            kw["stream_options"] = {"include_usage": True}

    if not g.stream:

        async def op() -> Any:
            return await litellm.acompletion(**kw)

        async def check() -> None:
            _expect((await op()).choices[0].message.content or "", g.expected_text, "litellm")

        name = "LiteLLM acompletion"
    else:

        async def op() -> None:
            async for _chunk in await litellm.acompletion(**kw):
                pass

        async def check() -> None:
            text = []
            async for chunk in await litellm.acompletion(**kw):
                if chunk.choices:
                    text.append(chunk.choices[0].delta.content or "")
            _expect("".join(text), g.expected_text, "litellm stream")

        name = "LiteLLM acompletion(stream=True)"
    from importlib.metadata import version

    name = name.replace("LiteLLM", f"LiteLLM {version('litellm')}")
    return Case("litellm", name, "litellm", "floor", True, op, check)


async def genai_sdk(g: Group) -> Case | None:
    """google-genai's async client (aiohttp when installed) on the loopback base URL."""
    if g.fmt != "gemini" or not g.stream:
        return None
    from importlib.metadata import version

    from google import genai

    # With a custom base URL the SDK defaults to v1; the Gemini API's default is v1beta.
    http_options: Any = {"base_url": g.base, "api_version": "v1beta"}
    client = genai.Client(api_key=API_KEY, http_options=http_options)
    config: Any = {"max_output_tokens": MAX_TOKENS}
    stream = client.aio.models.generate_content_stream

    async def op() -> None:
        async for _chunk in await stream(model=GEMINI_MODEL, contents=PROMPT, config=config):
            pass

    async def check() -> None:
        text = []
        async for chunk in await stream(model=GEMINI_MODEL, contents=PROMPT, config=config):
            text.append(chunk.text or "")
        _expect("".join(text), g.expected_text, "google-genai stream")

    name = f"google-genai {version('google-genai')} generate_content_stream"
    return Case("genai-sdk", name, "google-genai", "floor", True, op, check, client.aio.aclose)


async def ollama_sdk(g: Group) -> Case | None:
    """The ``ollama`` package's AsyncClient (httpx) on the loopback host."""
    if g.fmt != "ollama" or not g.stream:
        return None
    from importlib.metadata import version

    import ollama

    client = ollama.AsyncClient(host=g.base)
    options = {"num_predict": MAX_TOKENS}

    async def op() -> None:
        async for _part in await client.chat(
            model=OLLAMA_MODEL, messages=MESSAGES, stream=True, options=options
        ):
            pass

    async def check() -> None:
        text = []
        async for part in await client.chat(
            model=OLLAMA_MODEL, messages=MESSAGES, stream=True, options=options
        ):
            text.append(part.message.content or "")
        _expect("".join(text), g.expected_text, "ollama stream")

    async def close() -> None:
        await client._client.aclose()  # the package has no public close

    name = f"ollama {version('ollama')} AsyncClient.chat(stream=True)"
    return Case("ollama-sdk", name, "ollama", "floor", True, op, check, close)


async def boto3_sdk(g: Group) -> Case | None:
    """boto3 ``converse_stream`` (sync only: boto3 has no async client), against the
    sync floor. SigV4 with static keys: botocore refuses a bearer token over plain http,
    so compare it with the llmswitch-sync-sigv4 row, not only with the floor."""
    if g.fmt != "bedrock" or not g.stream:
        return None
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "bedrock-runtime",
        region_name=AWS_REGION,
        endpoint_url=g.base,
        aws_access_key_id=AWS_ACCESS_KEY,
        aws_secret_access_key=AWS_SECRET_KEY,
        # set in code, so botocore does not switch to AWS_BEARER_TOKEN_BEDROCK
        config=Config(signature_version="v4", retries={"max_attempts": 1, "mode": "standard"}),
    )
    kw: dict[str, Any] = {
        "modelId": BEDROCK_MODEL,
        "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
        "inferenceConfig": {"maxTokens": MAX_TOKENS},
    }

    def op() -> None:
        for _ev in client.converse_stream(**kw)["stream"]:
            pass

    def check() -> None:
        resp = client.converse_stream(**kw)
        text = [
            ev["contentBlockDelta"]["delta"].get("text", "")
            for ev in resp["stream"]
            if "contentBlockDelta" in ev
        ]
        _expect("".join(text), g.expected_text, "boto3 converse_stream")

    name = f"boto3 {boto3.__version__} converse_stream (sync, SigV4)"
    return Case("boto3", name, "boto3", "floor-sync", False, op, check, client.close)


FactoryT = Callable[[Group], Awaitable["Case | None"]]


@dataclass(frozen=True)
class Factory:
    """Builds one case for a group, or None where the case does not apply (other format)."""

    id: str
    label: str  # used when building fails and there is no Case to name it
    lib: str
    build: FactoryT


async def _orjson_floor(g: Group) -> Case:
    return await floor_async(g, use_orjson=True)


FLOORS = [
    Factory("floor", "floor: aiohttp + json (stdlib)", "floor", floor_async),
    Factory("floor-orjson", "floor: aiohttp + orjson", "floor", _orjson_floor),
    Factory("floor-sync", "floor (sync): urllib3 + json", "floor", floor_sync),
]
LLMSWITCH = [
    Factory("llmswitch-async", "llmswitch AsyncClient", "llmswitch", llmswitch_async),
    Factory("llmswitch-async-sigv4", "llmswitch AsyncClient, SigV4", "llmswitch",
            llmswitch_async_sigv4),
    Factory("llmswitch-sync", "llmswitch Client (sync)", "llmswitch", llmswitch_sync),
    Factory("llmswitch-sync-sigv4", "llmswitch Client (sync), SigV4", "llmswitch",
            llmswitch_sync_sigv4),
]  # fmt: skip
PEERS = [
    Factory("openai-sdk", "openai SDK", "openai", openai_sdk),
    Factory("anthropic-sdk", "anthropic SDK", "anthropic", anthropic_sdk),
    Factory("anthropic-sdk-helper", "anthropic SDK messages.stream()", "anthropic",
            anthropic_sdk_helper),
    Factory("litellm", "LiteLLM", "litellm", litellm_case),
    Factory("genai-sdk", "google-genai SDK", "google-genai", genai_sdk),
    Factory("ollama-sdk", "ollama SDK", "ollama", ollama_sdk),
    Factory("boto3", "boto3 converse_stream", "boto3", boto3_sdk),
]  # fmt: skip
