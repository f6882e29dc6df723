"""OpenAI's tokenizers, offline and exact: ``o200k_base`` and ``cl100k_base`` in pure Python.

The vocabularies ship with llmswitch (``o200k_base.tokens``, ``cl100k_base.tokens``, built
by ``tools/build_tokenizer_data.py`` from OpenAI's own files, verified by OpenAI's
published SHA-256), so nothing is downloaded at run time and no extension module is
needed. Token ids equal tiktoken's ``encode_ordinary`` (tests/test_tokens.py checks them
against tiktoken, and the vocabulary against the published hash).

How it matches tiktoken:

- The split patterns are tiktoken's, written for the stdlib ``re`` (3.11 has the
  possessive quantifiers they use): ``\\p{L}``-style classes become explicit code point
  ranges (``tokens_unicode.json``, from the ``regex`` module's Unicode tables less the
  code points tiktoken's older tables have in no class, such as U+3D000), ``\\s`` is
  Unicode ``White_Space`` as in Rust's regex (``str.isspace`` differs on U+001C-U+001F),
  and ``$`` is ``\\Z`` (Python's ``$`` also matches before a final newline).
- Each piece is one token when the vocabulary has it, else byte-pair merged exactly as
  tiktoken's ``_byte_pair_merge``: repeatedly merge the adjacent pair of lowest rank, the
  leftmost on a tie.
- Lone surrogates (which UTF-8 cannot hold) become U+FFFD first, as tiktoken does.

Everything loads on first use of an encoding (0.2-0.5 s for ``o200k_base``);
``import llmswitch`` does not read these files.
"""

from __future__ import annotations

import re
import threading
import zlib
from bisect import bisect_right
from collections.abc import Iterable
from functools import cache
from itertools import accumulate, pairwise
from typing import Literal, TypeAlias

__all__ = [
    "ENCODINGS",
    "Encoding",
    "EncodingName",
    "encoding_name_for_model",
    "get_encoding",
    "is_loaded",
    "source_sha256",
]

EncodingName: TypeAlias = Literal["o200k_base", "cl100k_base"]
ENCODINGS: tuple[EncodingName, ...] = ("o200k_base", "cl100k_base")
_MAGIC = b"LLMSTOK1"

# tiktoken's patterns (tiktoken_ext/openai_public.py) for the stdlib re; {X} is the class
# of code points of Unicode property X, WS is White_Space (tiktoken's \s).
_CONTRACTIONS = "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
_PATTERNS: dict[EncodingName, str] = {
    "o200k_base": "|".join(
        (
            r"[^\r\n{L}{N}]?[{Lu}{Lt}{Lm}{Lo}{M}]*[{Ll}{Lm}{Lo}{M}]+" + _CONTRACTIONS,
            r"[^\r\n{L}{N}]?[{Lu}{Lt}{Lm}{Lo}{M}]+[{Ll}{Lm}{Lo}{M}]*" + _CONTRACTIONS,
            r"[{N}]{{1,3}}",
            r" ?[^{WS}{L}{N}]+[\r\n/]*",
            r"[{WS}]*[\r\n]+",
            r"[{WS}]+(?![^{WS}])",
            r"[{WS}]+",
        )
    ),
    "cl100k_base": (
        r"'(?i:[sdmt]|ll|ve|re)|[^\r\n{L}{N}]?+[{L}]++|[{N}]{{1,3}}+| ?[^{WS}{L}{N}]++[\r\n]*+"
        r"|[{WS}]++\Z|[{WS}]*[\r\n]|[{WS}]+(?![^{WS}])|[{WS}]"
    ),
}

# Which encoding an OpenAI model uses (tiktoken/model.py): exact names, then prefixes.
_MODEL_ENCODINGS: dict[str, EncodingName] = {
    "gpt-4": "cl100k_base",
    "gpt-3.5-turbo": "cl100k_base",
    "gpt-3.5": "cl100k_base",
    "gpt-35-turbo": "cl100k_base",
    "davinci-002": "cl100k_base",
    "babbage-002": "cl100k_base",
    "text-embedding-ada-002": "cl100k_base",
    "text-embedding-3-small": "cl100k_base",
    "text-embedding-3-large": "cl100k_base",
}
_PREFIX_ENCODINGS: tuple[tuple[str, EncodingName], ...] = (
    ("gpt-4-", "cl100k_base"),  # gpt-4-0613, gpt-4-turbo, gpt-4-32k
    ("gpt-3.5-turbo-", "cl100k_base"),
    ("gpt-35-turbo-", "cl100k_base"),  # Azure's spelling
    # everything since gpt-4o: gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4, gpt-oss
    # (o200k_harmony: the same vocabulary and pattern, other special tokens)
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-oss", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4-mini", "o200k_base"),
    ("codex-", "o200k_base"),
)


def encoding_name_for_model(model: str) -> EncodingName | None:
    """The encoding of an OpenAI model id (``gpt-4o-2024-08-06``, ``ft:gpt-4o-mini:org::id``,
    ``openai/gpt-4.1`` as routers spell it), or ``None`` when it is not an OpenAI model."""
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    found = _MODEL_ENCODINGS.get(name)
    if found is not None:
        return found
    for prefix, encoding in _PREFIX_ENCODINGS:
        if name.startswith(prefix) and (
            prefix.endswith("-") or len(name) == len(prefix) or not name[len(prefix)].isalnum()
        ):
            return encoding
    return None


class Encoding:
    """One BPE encoding. :meth:`encode`/:meth:`count` take any ``str``; special-token
    text such as ``<|endoftext|>`` is ordinary text here, as the chat APIs treat it."""

    __slots__ = ("_cache", "_lock", "_pattern", "_ranks", "_tokens", "name")

    def __init__(self, name: EncodingName, tokens: list[bytes], pattern: re.Pattern[str]) -> None:
        self.name = name
        self._tokens = tokens
        self._ranks = dict(zip(tokens, range(len(tokens)), strict=True))
        self._pattern = pattern
        # merges of pieces not in the vocabulary, bounded (a long text has many repeats)
        self._cache: dict[bytes, tuple[int, ...]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Encoding {self.name!r}>"

    @property
    def vocabulary_size(self) -> int:
        return len(self._tokens)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (tiktoken's ``encode_ordinary``)."""
        ranks, out = self._ranks, []
        for piece in self._pieces(text):
            rank = ranks.get(piece)
            if rank is not None:
                out.append(rank)
            else:
                out.extend(self._merge(piece))
        return out

    def count(self, text: str) -> int:
        """``len(encode(text))`` without building the list."""
        if not text:
            return 0
        ranks, total = self._ranks, 0
        for piece in self._pieces(text):
            total += 1 if piece in ranks else len(self._merge(piece))
        return total

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        tokens = self._tokens
        return b"".join(tokens[i] for i in ids)

    def decode(self, ids: Iterable[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def _pieces(self, text: str) -> list[bytes]:
        pattern = self._pattern
        if text.isascii() or _ASTRAL.search(text) is None:
            found = pattern.findall(text)
        else:  # match on the stand-ins, cut the pieces from the text itself
            scan = _ASTRAL.sub(_stand_in, text)
            found = [text[m.start() : m.end()] for m in pattern.finditer(scan)]
        try:
            return [piece.encode() for piece in found]
        except UnicodeEncodeError:  # lone surrogates: tiktoken replaces them with U+FFFD
            return self._pieces(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))

    def _merge(self, piece: bytes) -> tuple[int, ...]:
        done = self._cache.get(piece)
        if done is not None:
            return done
        ranks = self._ranks
        parts = [piece[i : i + 1] for i in range(len(piece))]
        while len(parts) > 1:
            best, at = None, -1
            for i in range(len(parts) - 1):
                rank = ranks.get(parts[i] + parts[i + 1])
                if rank is not None and (best is None or rank < best):
                    best, at = rank, i
            if best is None:
                break
            parts[at : at + 2] = [parts[at] + parts[at + 1]]
        merged = tuple(ranks[part] for part in parts)
        with self._lock:  # threads share the encoding; a clear races with an insert
            if len(self._cache) >= 8192:
                self._cache.clear()
            self._cache[piece] = merged
        return merged


# Characters past U+FFFF. sre checks a class's BMP part in one bitmap lookup but tries
# its astral ranges one by one (hundreds for \p{L}), which made matching 3x slower; so
# the classes keep only their BMP part and an astral character is matched through a
# BMP stand-in of the same classes (one per general category: every class in the
# patterns is a union of those, none names an astral character, none has Lt or WS there).
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_STAND_IN_KEYS = ("Lu", "Ll", "Lm", "Lo", "M", "N")


@cache
def _unicode() -> tuple[dict[str, str], list[int], list[int], list[str], str]:
    """The BMP parts of the classes as ``re`` class bodies, and the astral stand-ins:
    range starts, ends and stand-in per range, and the stand-in outside every class."""
    from importlib import resources

    from .._json import loads

    data = loads(resources.files(__package__).joinpath("tokens_unicode.json").read_bytes())
    classes: dict[str, list[list[int]]] = data["classes"]
    bodies = {
        key: "".join(
            f"\\u{lo:04x}" if lo == min(hi, 0xFFFF) else f"\\u{lo:04x}-\\u{min(hi, 0xFFFF):04x}"
            for lo, hi in ranges
            if lo <= 0xFFFF
        )
        for key, ranges in classes.items()
    }
    astral: list[tuple[int, int, str]] = []
    for key in _STAND_IN_KEYS:
        # a non-ASCII member: no ASCII literal of the patterns ('s, \r, /) can match it
        stand_in = chr(next(max(lo, 0x80) for lo, hi in classes[key] if hi >= 0x80))
        astral.extend((max(lo, 0x10000), hi, stand_in) for lo, hi in classes[key] if hi > 0xFFFF)
    astral.sort()
    members = [lo_hi for ranges in classes.values() for lo_hi in ranges]
    other = next(
        chr(c) for c in range(0x80, 0x10000) if not any(lo <= c <= hi for lo, hi in members)
    )
    return (
        bodies,
        [lo for lo, _, _ in astral],
        [hi for _, hi, _ in astral],
        [s for _, _, s in astral],
        other,
    )


def _stand_in(match: re.Match[str]) -> str:
    _, starts, ends, stand_ins, other = _unicode()
    point = ord(match.group())
    i = bisect_right(starts, point) - 1
    return stand_ins[i] if i >= 0 and point <= ends[i] else other


def _vocabulary(name: EncodingName) -> list[bytes]:
    from importlib import resources

    raw = resources.files(__package__).joinpath(f"{name}.tokens").read_bytes()
    if not raw.startswith(_MAGIC):
        raise ValueError(f"{name}.tokens: not a llmswitch token file")
    body = zlib.decompress(raw[len(_MAGIC) + 32 :])
    count = int.from_bytes(body[:4], "little")
    lengths = body[4 : 4 + count]
    ends = list(accumulate(lengths, initial=4 + count))
    return [body[start:end] for start, end in pairwise(ends)]


_loading = threading.Lock()
_loaded: dict[str, Encoding] = {}


def get_encoding(name: EncodingName) -> Encoding:
    """The encoding ``name`` (``"o200k_base"`` or ``"cl100k_base"``), loaded on first use."""
    found = _loaded.get(name)
    if found is not None:
        return found
    if name not in _PATTERNS:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(ENCODINGS)}")
    with _loading:  # one load when threads ask at once
        found = _loaded.get(name)
        if found is None:
            pattern = re.compile(_PATTERNS[name].format(**_unicode()[0]))
            found = _loaded[name] = Encoding(name, _vocabulary(name), pattern)
        return found


def is_loaded(name: EncodingName) -> bool:
    """Whether :func:`get_encoding` has ``name`` in memory (else it reads it first)."""
    return name in _loaded


def source_sha256(name: EncodingName) -> str:
    """SHA-256 of the OpenAI ``.tiktoken`` file the bundled vocabulary was built from."""
    from importlib import resources

    raw = resources.files(__package__).joinpath(f"{name}.tokens").read_bytes()
    return raw[len(_MAGIC) : len(_MAGIC) + 32].hex()
