"""The trimming rules of llmswitch.fim: the same on every provider, and a stream's
trimmed pieces join to exactly what the whole answer trims to."""

from __future__ import annotations

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from llmswitch.fim import MIN_OVERLAP, Trimmer, trim

code = st.text(alphabet="abcxyz ()=:_\n\t+-1", max_size=40)
lang = st.sampled_from(["", "python", "js"])


def _stream(
    text: str, prefix: str, suffix: str, stop: tuple[str, ...], method: str, cuts: list[int]
) -> str:
    trimmer = Trimmer(prefix, suffix, stop, method)  # type: ignore[arg-type]
    out, last = [], 0
    for cut in sorted(c % (len(text) + 1) for c in cuts):
        out.append(trimmer.feed(text[last:cut]))
        last = cut
    out.append(trimmer.feed(text[last:]))
    out.append(trimmer.close())
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(prefix=code, middle=code, suffix=code, head=st.integers(0, 40), language=lang)
def test_fenced_chat_answer_with_repeated_suffix_head_trims_to_the_middle(
    prefix: str, middle: str, suffix: str, head: int, language: str
) -> None:
    suffix_head = suffix[:head]
    assume("`" not in middle)
    # The head is a repeat by the rules: a long one, or a whole line at a line start.
    line_start = not (middle[middle.rfind("\n") + 1 :]).strip()
    whole_line = (
        len(suffix_head) == len(suffix)
        or suffix_head.endswith("\n")
        or (len(suffix_head) < len(suffix) and suffix[len(suffix_head)] == "\n")
    )
    assume(
        not suffix_head
        or (
            suffix_head.strip() and (len(suffix_head) >= MIN_OVERLAP or (whole_line and line_start))
        )
    )
    # The middle itself must not look like a repeat of the prefix or the suffix.
    assume(trim(middle, prefix, suffix, method="native")[0] == middle)
    assume(trim(middle + suffix_head, prefix, "", method="native")[0] == middle + suffix_head)
    assume(trim(middle + suffix_head, "", suffix, method="native")[0] == middle)
    # The newline before a closing fence goes with the fence (models put the fence on
    # a line of its own), so the fence follows directly only where no newline is there.
    body = f"```{language}\n{middle}{suffix_head}"
    if not body.endswith("\n"):
        assert trim(body + "```", prefix, suffix, method="chat")[0] == middle
    assert trim(body + "\n```", prefix, suffix, method="chat")[0] == middle


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(
    text=st.text(alphabet="ab`\n x", max_size=30),
    prefix=st.text(alphabet="ab`\n x", max_size=20),
    suffix=st.text(alphabet="ab`\n x", max_size=20),
    stop=st.lists(st.text(alphabet="abx`\n", min_size=1, max_size=3), max_size=2),
    method=st.sampled_from(["native", "chat"]),
    cuts=st.lists(st.integers(0, 100), max_size=6),
)
# Found by CI: the "a" before a stop that completes later repeats the suffix, so it is cut;
# the stream must hold it back until the stop decides where the answer ends.
@example(text=" a````````", prefix="", suffix="a", stop=["``"], method="native", cuts=[25])
def test_a_stream_trims_to_what_the_whole_answer_trims_to(
    text: str, prefix: str, suffix: str, stop: list[str], method: str, cuts: list[int]
) -> None:
    whole, _ = trim(text, prefix, suffix, tuple(stop), method=method)  # type: ignore[arg-type]
    assert _stream(text, prefix, suffix, tuple(stop), method, cuts) == whole


@pytest.mark.parametrize(
    ("answer", "prefix", "suffix", "method", "expected"),
    [
        # a whole closing line repeated from the suffix
        ("    return a + b\n}", "int add(a, b) {\n", "}\n", "native", "    return a + b\n"),
        # a one-character overlap inside a word is not a repeat
        ("max", "", "x\n", "native", "max"),
        # the model repeated the line the cursor is on
        ("    return a + b", "def add(a, b):\n    return ", "\n", "chat", "a + b"),
        # a long repeat of the suffix's start, wherever it begins
        ("a + b\nprint(add(1, 2))", "", "\nprint(add(1, 2))\n", "native", "a + b"),
        # fences, language tag, explanation after the closing fence
        ("```python\na + b\n```\nThis adds.", "", "", "chat", "a + b"),
        # fences are kept for native completions (they may be the code: Markdown)
        ("```\nx\n```", "", "", "native", "```\nx\n```"),
        # blank overlaps are never cut: an empty suffix or a trailing newline stay
        ("x = 1\n", "", "\n\ny = 2", "native", "x = 1\n"),
        ("x = 1\n", "", "", "chat", "x = 1\n"),
    ],
)
def test_rules(answer: str, prefix: str, suffix: str, method: str, expected: str) -> None:
    assert trim(answer, prefix, suffix, method=method)[0] == expected  # type: ignore[arg-type]


def test_stop_sequences_end_the_answer_and_say_so() -> None:
    assert trim("a = 1\n\ndef g():", "", "", ("\n\n",), method="native") == ("a = 1", True)
    assert trim("a = 1", "", "", ("\n\n",), method="native") == ("a = 1", False)
