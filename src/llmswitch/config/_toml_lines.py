"""Checks on a TOML document that need no knowledge of llmswitch's settings.

:func:`key_lines`: where each key is written. tomllib reports no positions for valid
documents, so the config validator gets the line numbers of its error messages from
this small line scanner (headers, ``k = v`` lines, single-line inline tables).
:func:`check_depth`: nesting bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "check_depth", "key_lines"]

# Inline tables nested deeper than this are not scanned (their keys take the line of
# the outermost key): the scanner recurses per level, and a hostile file must not
# exhaust the stack.
MAX_DEPTH = 100


def check_depth(doc: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The key path of the first table or array nested deeper than :data:`MAX_DEPTH`
    (its top-level key), ``None`` if there is none. Iterative, so no document can
    exhaust the stack. (Numbers are checked against their bounds by the validator,
    from the description of the file in ``_spec``.)"""
    stack: list[tuple[Any, tuple[str, ...]]] = [(doc, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict | list):
            if len(path) > MAX_DEPTH:
                return path[:1]
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((v, (*path, k if isinstance(k, str) else f"[{k}]")) for k, v in items)
    return None


def key_lines(source: str) -> dict[tuple[str, ...], int]:
    """Line (1-based) where each key path is first written: ``[a.b]`` headers, ``k = v`` and
    dotted ``a.b = v`` lines, and keys inside single-line inline tables. tomllib reports no
    positions for valid documents, so error messages get their line numbers from here."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    # Keys inside the n-th ``[[a.b]]`` are also recorded as ("a", "b", "[n]", ...).
    arrays: dict[tuple[str, ...], int] = {}
    indexed: tuple[str, ...] | None = None
    in_string: str | None = None  # the open multi-line string delimiter, if any
    for number, text in enumerate(source.splitlines(), 1):
        if in_string is not None:
            if text.count(in_string) % 2:
                in_string = None
            continue
        s = text.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("["):
            array = s.startswith("[[")
            parsed = _parse_key(s, 2 if array else 1)
            if parsed is not None:
                table = tuple(parsed[0])
                for n in range(1, len(table) + 1):
                    lines.setdefault(table[:n], number)
                if array:
                    arrays[table] = arrays.get(table, -1) + 1
                indexed = _indexed(table, arrays)
                if indexed is not None:
                    lines.setdefault(indexed, number)
            continue
        parsed = _parse_key(s, 0)
        if parsed is None or parsed[1] >= len(s) or s[parsed[1]] != "=":
            continue
        path = (*table, *parsed[0])
        for n in range(len(table) + 1, len(path) + 1):
            lines.setdefault(path[:n], number)
        if indexed is not None:
            for n in range(len(indexed) + 1, len(indexed) + len(parsed[0]) + 1):
                lines.setdefault((*indexed, *parsed[0])[:n], number)
        rest = s[parsed[1] + 1 :].lstrip()
        if rest.startswith("{"):
            _inline_keys(rest, 1, path, number, lines)
        for quote in ('"""', "'''"):
            if rest.startswith(quote) and rest.count(quote) % 2:
                in_string = quote
    return lines


def _indexed(
    table: tuple[str, ...], arrays: Mapping[tuple[str, ...], int]
) -> tuple[str, ...] | None:
    """``table`` with the current element index after its longest array-of-tables prefix."""
    for n in range(len(table), 0, -1):
        index = arrays.get(table[:n])
        if index is not None:
            return (*table[:n], f"[{index}]", *table[n:])
    return None


def _parse_key(s: str, i: int) -> tuple[list[str], int] | None:
    """A dotted key at ``s[i:]``: its parts and the index after it (and trailing spaces)."""
    parts: list[str] = []
    n = len(s)
    while True:
        while i < n and s[i] in " \t":
            i += 1
        if i < n and s[i] in "\"'":
            quote = s[i]
            j = i + 1
            buf: list[str] = []
            while j < n and s[j] != quote:
                if quote == '"' and s[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(s[j])
                j += 1
            if j >= n:
                return None
            parts.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < n and (s[j].isalnum() or s[j] in "_-"):
                j += 1
            if j == i:
                return None
            parts.append(s[i:j])
            i = j
        while i < n and s[i] in " \t":
            i += 1
        if i < n and s[i] == ".":
            i += 1
            continue
        return parts, i


def _inline_keys(
    s: str,
    i: int,
    prefix: tuple[str, ...],
    number: int,
    lines: dict[tuple[str, ...], int],
    depth: int = 1,
) -> int:
    """Record the keys of the inline table whose body starts at ``s[i]``; return its end."""
    n = len(s)
    if depth > MAX_DEPTH:
        return n
    while i < n:
        while i < n and s[i] in " \t,":
            i += 1
        if i >= n or s[i] == "}":
            return i + 1
        parsed = _parse_key(s, i)
        if parsed is None or parsed[1] >= n or s[parsed[1]] != "=":
            return n
        path = (*prefix, *parsed[0])
        for k in range(len(prefix) + 1, len(path) + 1):
            lines.setdefault(path[:k], number)
        i = parsed[1] + 1
        while i < n and s[i] in " \t":
            i += 1
        if i < n and s[i] == "{":
            i = _inline_keys(s, i + 1, path, number, lines, depth + 1)
        else:
            i = _skip_value(s, i)
    return i


def _skip_value(s: str, i: int) -> int:
    """Index after the (non-table) value at ``s[i]``: a string, an array or a bare scalar."""
    depth = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c in "\"'":
            j = i + 1
            while j < n and s[j] != c:
                j += 2 if c == '"' and s[j] == "\\" else 1
            i = j + 1
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            if depth == 0:
                return i
            depth -= 1
        elif c == "," and depth == 0:
            return i
        i += 1
    return i
