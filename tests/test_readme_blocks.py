"""Every code block in README.md runs, against loopback fakes of every provider
(issue 7, item 21). Each block is one test case, named by its README line.

How blocks run:

- Blocks belong to their ``##`` section. The blocks of one section run in order in one
  Python namespace, as if pasted one after another into one session: a block may use
  names an earlier block of the *same section* defined (``client``, ``messages``), never
  names from another section. A test replays the earlier blocks of its section first
  (once, when the tests run in file order), so each test also passes alone.
- Each ``###`` subsection starts in an empty working directory. A ```toml block is an
  ``llmswitch.toml``: it must load with ``load_config``, and it is ``./llmswitch.toml``
  for the blocks after it in its subsection. ``${VAR}`` references without a default get
  a placeholder value.
- ```python blocks are executed. ```bash blocks: every ``llmswitch ...`` command (also
  after ``uv run [--no-dev | --group G]``, after ``VAR=value`` prefixes, or fed by
  ``echo TEXT |``) runs through the CLI's ``main()`` and must exit 0 (or N, when its line
  ends in ``# exits N``); other commands (``export``, ``pip``, ``uv build``, ``pytest``,
  ...) are not run. Blocks in other languages, or none, are text.
- ``<!-- fragment -->`` on the line before a block marks it as not standalone: a python
  fragment is only compiled, a toml fragment only parsed. Use it sparingly.
- Every provider's environment variables point at a loopback fake that answers its
  routes with valid canned responses (tests/fixtures/); Bedrock gets fake AWS keys and
  ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``; in the subsections of ``VAULT_ONLY`` (keys kept
  in the vault) the providers' key variables are unset, as their reader has them. Blocks that name ``redis://`` use the real Redis
  on localhost:6379 (skipped when it is not running); the keys they create are removed.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import shlex
import struct
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llmswitch.config import load_config
from tests.support.bedrock import AWS_VARS
from tests.support.fixtures import ROOT as FIXTURES
from tests.support.loopback import Loopback, Recorded, Reply
from tests.support.streams import split_awkward
from tests.support.vertex import write_service_account

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FRAGMENT = "<!-- fragment -->"
RUN = ("python", "toml", "bash")
ALIASES = {"sh": "bash", "shell": "bash", "py": "python", "python3": "python"}


# --------------------------------------------------------------------------- parsing


@dataclass
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    section: str  # the "## " heading
    subsection: str  # the "### " heading ("" before the first one)
    fragment: bool

    @property
    def id(self) -> str:
        return f"README.md:{self.line}-{self.lang}"


def parse_readme(text: str) -> list[Block]:
    blocks: list[Block] = []
    section = subsection = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", line)
        if fence:
            indent, marker, lang = fence.groups()
            start, body = i, []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
                i += 1
            before = next((x.strip() for x in reversed(lines[:start]) if x.strip()), "")
            blocks.append(
                Block(start + 1, ALIASES.get(lang.lower(), lang.lower()), "\n".join(body) + "\n", section, subsection,
                      before == FRAGMENT)
            )  # fmt: skip
        elif line.startswith("## "):
            section, subsection = line[3:].strip(), ""
        elif line.startswith("### "):
            subsection = line[4:].strip()
        i += 1
    return blocks


BLOCKS = parse_readme(README.read_text(encoding="utf-8"))
RUNNABLE = [b for b in BLOCKS if b.lang in RUN]
# ${VAR} without a default in any toml block: a placeholder, so the file loads.
PLACEHOLDERS = {
    name: f"placeholder-{name.lower()}"
    for b in BLOCKS
    if b.lang == "toml"
    for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", b.code)
}


# Subsections whose reader keeps provider keys in the vault, not in the environment:
# their blocks run without these variables, as the reader has them.
VAULT_ONLY = {"Encrypted provider keys": ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}


# --------------------------------------------------------------------------- fakes


def fixture(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


def _json(data: object) -> Reply:
    return Reply(body=json.dumps(data).encode())


def _stream(data: bytes, content_type: str = "text/event-stream") -> Reply:
    return Reply(content_type=content_type, chunks=split_awkward(data, (64, 17, 128)))


def _vector(i: int, n: int) -> list[float]:
    return [round(0.001 * (i + 1) * (k + 1), 6) for k in range(n)]


def _body(recorded: Recorded) -> dict[str, Any]:
    try:
        data = recorded.json() if recorded.body else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# "Typed options and structured output": a request whose schema is the README's City
# type (its title) gets an answer that fits it, in the provider's own format.
CITY = {
    "name": "Paris",
    "population": 2102650,
    "country": {"name": "France", "code": "FR"},
    "nickname": None,
}


def _asks_for_city(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("title") == "City"


def _openai(recorded: Recorded) -> Reply:
    """OpenAI, Azure (classic and v1 paths) and OpenAI-compatible servers."""
    body, path = _body(recorded), recorded.path
    if path.endswith("/chat/completions"):
        messages = body.get("messages") or [{}]
        wants_tools = bool(body.get("tools")) and messages[-1].get("role") == "user"
        if body.get("stream"):
            return _stream(
                fixture("openai/stream_tools.sse" if wants_tools else "openai/stream_text.sse")
            )
        return Reply(
            body=fixture("openai/chat_tools.json" if wants_tools else "openai/chat_text.json")
        )
    if path.endswith("/completions"):  # code completion: /v1/completions, /beta/completions
        if body.get("stream"):
            return _stream(fixture("openai/completion.sse"))
        return Reply(body=fixture("openai/completion.json"))
    if path.endswith("/embeddings"):
        inputs = body.get("input")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        n = int(body.get("dimensions") or 8)
        data: list[dict[str, Any]] = []
        for i in range(len(inputs)):
            vec: Any = _vector(i, n)
            if body.get("encoding_format") == "base64":
                vec = base64.b64encode(struct.pack(f"<{n}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": vec})
        usage = {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)}
        return _json({"object": "list", "data": data, "model": body.get("model"), "usage": usage})
    if path.endswith("/models"):
        return Reply(body=fixture("openai/models_openai.json"))
    return Reply(status=404, body=b'{"error":{"message":"no such route","type":"not_found"}}')


def _anthropic(recorded: Recorded) -> Reply:
    body, path = _body(recorded), recorded.path
    if path == "/v1/messages":
        if _asks_for_city(body.get("output_config", {}).get("format", {}).get("schema")):
            text = json.dumps(CITY)
            return _json({
                "id": "msg_city", "type": "message", "role": "assistant",
                "model": body.get("model"), "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 12, "output_tokens": 30},
            })  # fmt: skip
        if body.get("stream"):
            return _stream(fixture("anthropic/text_pings.sse"))
        return Reply(body=fixture("anthropic/text.json"))
    if path == "/v1/messages/count_tokens":
        return _json({"input_tokens": 12})
    if path == "/v1/models":
        return Reply(body=fixture("anthropic/models_page2.json"))
    return Reply(
        status=404, body=b'{"type":"error","error":{"type":"not_found_error","message":"no route"}}'
    )


def _gemini(recorded: Recorded) -> Reply:
    body, path = _body(recorded), recorded.path
    if path.endswith(":generateContent"):
        return Reply(body=fixture("gemini/text.json"))
    if path.endswith(":streamGenerateContent"):
        if _asks_for_city(body.get("generationConfig", {}).get("responseJsonSchema")):
            text = json.dumps(CITY)
            events = [
                {"candidates": [{"content": {"role": "model", "parts": [{"text": part}]}}]}
                for part in (text[:20], text[20:])
            ]
            events[-1]["candidates"][0]["finishReason"] = "STOP"
            events[-1]["usageMetadata"] = {"promptTokenCount": 9, "candidatesTokenCount": 30}
            return _stream(b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events))
        return _stream(fixture("gemini/text.sse"))
    if path.endswith(":countTokens"):
        return Reply(body=fixture("gemini/count_tokens.json"))
    if path.endswith(":batchEmbedContents"):
        requests = body.get("requests") or []
        n = int((requests[0] if requests else {}).get("outputDimensionality") or 8)
        return _json({"embeddings": [{"values": _vector(i, n)} for i in range(len(requests))]})
    if path == "/v1beta/models":
        return Reply(body=fixture("gemini/models_page2.json"))
    return Reply(
        status=404, body=b'{"error":{"code":404,"message":"no route","status":"NOT_FOUND"}}'
    )


def _ollama(recorded: Recorded) -> Reply:
    body, path = _body(recorded), recorded.path
    ndjson = "application/x-ndjson"
    if path == "/api/chat":
        if body.get("stream", True):
            return _stream(fixture("ollama/chat_text.ndjson"), ndjson)
        return Reply(body=fixture("ollama/chat_text.json"))
    if path == "/api/generate":  # code completion
        if body.get("stream", True):
            return _stream(fixture("ollama/generate.ndjson"), ndjson)
        return Reply(body=fixture("ollama/generate.json"))
    if path == "/api/embed":
        inputs = body.get("input")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        embeddings = [_vector(i, 8) for i in range(len(inputs))]
        return _json({"model": body.get("model"), "embeddings": embeddings, "prompt_eval_count": 4})
    if path == "/api/tags":
        return Reply(body=fixture("ollama/tags.json"))
    if path == "/api/show":
        return Reply(body=fixture("ollama/show_qwen3.json"))
    if path == "/api/version":
        return Reply(body=fixture("ollama/version.json"))
    if path == "/api/pull":
        return _stream(fixture("ollama/pull.ndjson"), ndjson)
    return Reply(status=404, body=b'{"error":"not found"}')


def _mistral(recorded: Recorded) -> Reply:
    body, path = _body(recorded), recorded.path
    if path == "/v1/fim/completions":
        if body.get("stream"):
            return _stream(fixture("mistral/fim.sse"))
        return Reply(body=fixture("mistral/fim.json"))
    if path == "/v1/chat/completions" and not body.get("stream") and not body.get("tools"):
        return Reply(body=fixture("mistral/chat_fenced.json"))
    return _openai(recorded)


def _bedrock(recorded: Recorded) -> Reply:
    body, path = _body(recorded), recorded.path
    if path.endswith("/converse"):
        return Reply(body=fixture("bedrock/text.json"))
    if path.endswith("/converse-stream"):
        return _stream(fixture("bedrock/text.bin"), "application/vnd.amazon.eventstream")
    if path.endswith("/count-tokens"):
        return _json({"inputTokens": 12})
    if path.endswith("/invoke"):
        if "texts" in body:  # Cohere: a batch
            texts = body["texts"]
            vectors = [_vector(i, 8) for i in range(len(texts))]
            return _json(
                {
                    "embeddings": vectors,
                    "id": "e1",
                    "response_type": "embeddings_floats",
                    "texts": texts,
                }
            )
        n = int(body.get("dimensions") or 8)  # Titan: one text per call
        vec = _vector(0, n)
        return _json(
            {"embedding": vec, "embeddingsByType": {"float": vec}, "inputTextTokenCount": 3}
        )
    if path == "/foundation-models":
        return Reply(body=fixture("bedrock/models.json"))
    return Reply(status=404, body=b'{"message":"no route"}')


def _vertex(recorded: Recorded) -> Reply:
    """Google's token endpoint and the Vertex AI routes of Gemini and Claude."""
    path = recorded.path
    if path == "/token":
        return _json({"access_token": "ya29.readme", "expires_in": 3600, "token_type": "Bearer"})
    if path.endswith("/count-tokens:rawPredict"):
        return _json({"input_tokens": 12})
    if path.endswith(":countTokens"):
        return Reply(body=fixture("vertex/gemini_count_tokens.json"))
    if path.endswith(":rawPredict"):
        return Reply(body=fixture("vertex/claude_text.json"))
    if path.endswith(":generateContent"):
        return Reply(body=fixture("vertex/gemini_text.json"))
    if path.endswith(":streamRawPredict"):
        return _stream(fixture("vertex/claude_text.sse"))
    if path.endswith(":streamGenerateContent"):
        return _stream(fixture("vertex/gemini_text.sse"))
    if path.endswith("/publishers/google/models"):
        return Reply(body=fixture("vertex/models_google_2.json"))
    if path.endswith("/publishers/anthropic/models"):
        return Reply(body=fixture("vertex/models_anthropic.json"))
    return Reply(
        status=404, body=b'{"error":{"code":404,"message":"no route","status":"NOT_FOUND"}}'
    )


class Fake(Loopback):
    """A loopback server whose replies come from one function of the request."""

    def __init__(self, answer: Any) -> None:
        self._answer = answer
        super().__init__()

    def _next_reply(self, method: str, path: str, recorded: Recorded) -> Reply:
        try:
            reply: Reply = self._answer(recorded)
        except Exception as exc:  # a bug here shows as a 500 naming it, not a hang
            return Reply(status=500, body=json.dumps({"error": repr(exc)}).encode())
        return reply


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Fake]]:
    servers = {
        name: Fake(answer)
        for name, answer in (("openai", _openai), ("anthropic", _anthropic), ("gemini", _gemini),
                             ("ollama", _ollama), ("bedrock", _bedrock), ("mistral", _mistral))
    }  # fmt: skip
    servers["vertex"] = Fake(_vertex)  # Google's token endpoint too
    try:
        yield servers
    finally:
        for server in servers.values():
            server.close()


def fake_env(fakes: dict[str, Fake], aws_dir: Path) -> dict[str, str]:
    (aws_dir / "config").write_text("")
    (aws_dir / "credentials").write_text("")
    return {
        "OPENAI_API_KEY": "sk-readme-openai-0000",
        "OPENAI_BASE_URL": fakes["openai"].url + "/v1",
        "AZURE_OPENAI_API_KEY": "readme-azure-0000",
        "AZURE_OPENAI_ENDPOINT": fakes["openai"].url,
        "ANTHROPIC_API_KEY": "sk-ant-readme-0000",
        "ANTHROPIC_BASE_URL": fakes["anthropic"].url,
        "GEMINI_API_KEY": "readme-gemini-0000",
        "GEMINI_BASE_URL": fakes["gemini"].url,
        "OLLAMA_HOST": fakes["ollama"].url,
        "MISTRAL_API_KEY": "readme-mistral-0000",
        "MISTRAL_BASE_URL": fakes["mistral"].url + "/v1",
        "DEEPSEEK_API_KEY": "sk-readme-deepseek-0000",
        "DEEPSEEK_BASE_URL": fakes["openai"].url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": fakes["bedrock"].url,
        "AWS_ENDPOINT_URL_BEDROCK": fakes["bedrock"].url,
        "AWS_CONFIG_FILE": str(aws_dir / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_dir / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "GOOGLE_APPLICATION_CREDENTIALS": str(
            write_service_account(aws_dir, fakes["vertex"].url + "/token")
        ),
        "GOOGLE_CLOUD_PROJECT": "readme-project",
        "VERTEX_BASE_URL": fakes["vertex"].url,
        "CLOUDSDK_CONFIG": str(aws_dir / "gcloud"),
    }


# --------------------------------------------------------------------------- running


@dataclass
class Session:
    """One ``##`` section's namespace, and how many of its blocks ran into it."""

    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__readme__"})
    done: int = 0  # index (in the section's block list) of the next block to run
    failed: list[str] = field(default_factory=list)  # ids of blocks that raised


_sessions: dict[str, Session] = {}


def _section_blocks(section: str) -> list[Block]:
    return [b for b in RUNNABLE if b.section == section]


def _workdir(root: Path, block: Block) -> Path:
    name = re.sub(r"\W+", "-", f"{block.section}--{block.subsection}").strip("-") or "top"
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _redis_keys_cleaned(block: Block) -> Iterator[None]:
    """Blocks that name redis:// use the real server; drop the keys they created."""
    urls = sorted(set(re.findall(r"redis://[\w.:-]+(?:/\d+)?", block.code)))
    if not urls or block.lang == "toml":
        yield
        return
    import redis

    conns = []
    for url in urls:
        try:
            r = redis.Redis.from_url(url, socket_connect_timeout=0.5)
            before = set(r.scan_iter(match="llmswitch:*"))
        except redis.RedisError:
            pytest.skip(f"{block.id} needs Redis at {url}, which is not running")
        conns.append((r, before))
    try:
        yield
    finally:
        for r, before in conns:
            created = set(r.scan_iter(match="llmswitch:*")) - before
            if created:
                r.delete(*created)
            r.close()


def _run_python(block: Block, namespace: dict[str, Any]) -> None:
    # dont_inherit: compiled as a user's script is, not under this file's
    # ``from __future__ import annotations`` (pydantic models resolve their fields then).
    code = compile(block.code, f"README.md:{block.line}", "exec", dont_inherit=True)
    if not block.fragment:
        exec(code, namespace)


def _run_toml(block: Block, cwd: Path) -> None:
    if block.fragment:
        tomllib.loads(block.code)
        return
    path = cwd / "llmswitch.toml"
    path.write_text(block.code, encoding="utf-8")
    load_config(str(path))


def _cli_commands(code: str) -> Iterator[tuple[dict[str, str], list[str], str | None, int]]:
    """``(env, argv, stdin, expected exit code)`` of each llmswitch command in a bash block.
    A line ending in ``# exits N`` shows a failure: its commands must exit N."""
    for raw in code.replace("\\\n", " ").splitlines():
        expected = re.search(r"#\s*exits?\s+(\d+)\s*$", raw)
        lexer = shlex.shlex(raw, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        words = list(lexer)
        commands: list[list[list[str]]] = [[[]]]  # commands -> pipeline stages -> words
        for word in words:
            if word in ("&&", "||", ";"):
                commands.append([[]])
            elif word == "|":
                commands[-1].append([])
            else:
                commands[-1][-1].append(word)
        for pipeline in commands:
            stdin: str | None = None
            for tokens in pipeline:
                if not tokens:
                    continue
                if tokens[0] in ("echo", "printf"):
                    stdin = " ".join(tokens[1:]) + "\n"
                    continue
                env = {}
                while tokens and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tokens[0]):
                    k, _, v = tokens.pop(0).partition("=")
                    env[k] = v
                if tokens[:2] == ["uv", "run"]:
                    tokens = tokens[2:]
                    while tokens and tokens[0].startswith("-"):
                        option = tokens.pop(0)
                        if option in ("--group", "--with", "--extra", "--python") and tokens:
                            tokens.pop(0)
                if tokens[:3] == ["python", "-m", "llmswitch.cli"]:
                    tokens = ["llmswitch", *tokens[3:]]
                if tokens and tokens[0] == "llmswitch":
                    yield env, tokens[1:], stdin, int(expected.group(1)) if expected else 0
                break  # later stages read our output (| head, | jq): not run


def _run_bash(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmswitch.cli import main

    if block.fragment:
        return
    for env, argv, stdin, expected in _cli_commands(block.code):
        # `serve` runs until it is stopped: a runnable block would hang the suite.
        assert argv[:1] != ["serve"], f"{block.id}: write `llmswitch serve` as console text"
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            m.setattr(sys, "stdin", io.StringIO(stdin) if stdin is not None else _Tty())
            code = main(argv)
        assert code == expected, (
            f"{block.id}: `llmswitch {shlex.join(argv)}` exited {code}, expected {expected}"
        )


class _Tty(io.StringIO):
    """stdin of an interactive shell: nothing piped in."""

    def isatty(self) -> bool:
        return True


def _run(block: Block, session: Session, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = _workdir(root, block)
    monkeypatch.chdir(cwd)
    for name in VAULT_ONLY.get(block.subsection, ()):
        monkeypatch.delenv(name, raising=False)
    with _redis_keys_cleaned(block):
        if block.lang == "python":
            _run_python(block, session.namespace)
        elif block.lang == "toml":
            _run_toml(block, cwd)
        else:
            _run_bash(block, monkeypatch)


@pytest.fixture(scope="module")
def workroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme")


@pytest.fixture
def readme_env(fakes: dict[str, Fake], workroot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    aws = workroot / "aws"
    aws.mkdir(exist_ok=True)
    for k, v in {**PLACEHOLDERS, **fake_env(fakes, aws)}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("LLMSWITCH_DEBUG", raising=False)


def test_readme_has_blocks_to_run() -> None:
    langs = {b.lang for b in RUNNABLE}
    assert {"python", "toml", "bash"} <= langs, "the README parser found no blocks"


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_readme_block(
    block: Block, readme_env: None, workroot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = _section_blocks(block.section)
    index = blocks.index(block)
    session = _sessions.get(block.section)
    if session is None or session.done > index:
        session = _sessions[block.section] = Session()
    # Replay what this block builds on. An earlier block that fails is that block's own
    # test failure; this one fails only if it then fails itself (and names it).
    for earlier in blocks[session.done : index]:
        try:
            _run(earlier, session, workroot, monkeypatch)
        except pytest.skip.Exception:
            raise
        except Exception:
            session.failed.append(earlier.id)
        session.done += 1
    session.done = index + 1
    try:
        _run(block, session, workroot, monkeypatch)
    except pytest.skip.Exception:
        raise
    except Exception as exc:
        session.failed.append(block.id)
        if len(session.failed) > 1:
            exc.add_note(
                f"(earlier blocks of this section failed: {', '.join(session.failed[:-1])})"
            )
        raise
