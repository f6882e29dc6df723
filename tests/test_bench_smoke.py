"""The benchmark suite still runs: bench/run.py --quick against the nginx loopback.

Asserts that the floor and llmswitch produced results whose parsed answers matched
the canned bytes (each case checks that before it is timed), never timings. Two runs:
the OpenAI/Anthropic sections (chat, stream) and the Gemini/Bedrock/Ollama stream ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
try:
    import upstream as bench_upstream
finally:
    sys.path.remove(str(BENCH))

pytestmark = pytest.mark.skipif(
    bench_upstream.find_nginx() is None,
    reason=f"nginx is not installed (bench upstream); {bench_upstream.NGINX_INSTALL_HINT}",
)


NEW_STREAMS = ("stream-gemini", "stream-bedrock", "stream-ollama")
MEASURED = ("floor", "floor-orjson", "floor-sync", "llmswitch-async", "llmswitch-sync")


def _quick_run(tmp_path_factory: pytest.TempPathFactory, only: str) -> dict[str, object]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--only", only,
         "--upstream", "nginx", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc: dict[str, object] = json.loads(out.read_text())
    return doc


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _quick_run(tmp_path_factory, "chat,stream")


@pytest.fixture(scope="module")
def new_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _quick_run(tmp_path_factory, ",".join(NEW_STREAMS))


def _groups(report: dict[str, object]) -> dict[str, dict[str, dict[str, object]]]:
    groups = report["groups"]
    assert isinstance(groups, list)
    return {g["key"]: {c["id"]: c for c in g["cases"]} for g in groups}


def test_floor_and_llmswitch_measured_in_every_selected_group(report: dict[str, object]) -> None:
    groups = _groups(report)
    assert set(groups) == {"chat-openai", "chat-anthropic", "stream-openai", "stream-anthropic"}
    for key, cases in groups.items():
        for cid in MEASURED:
            case = cases.get(cid)
            assert case is not None, f"{key}: no {cid} result"
            assert case["status"] == "ok", f"{key}/{cid}: {case['reason']}"
            assert case["median_us"] > 0 and len(case["rounds_us"]) == 3  # --quick: 3 rounds
            assert case["ratio"] is not None


def test_peers_not_run_unless_selected(report: dict[str, object]) -> None:
    libs = {c["lib"] for cases in _groups(report).values() for c in cases.values()}
    assert libs == {"floor", "llmswitch"}


def test_budget_verdicts_cover_selected_sections_only(report: dict[str, object]) -> None:
    verdicts = report["verdicts"]
    assert isinstance(verdicts, list)
    by_group = {}
    for v in verdicts:
        by_group.setdefault(v["group"], []).append(v["verdict"])
    for key in ("chat-openai", "chat-anthropic", "stream-openai", "stream-anthropic"):
        assert by_group[key] and all(v in ("PASS", "FAIL") for v in by_group[key]), by_group
    assert by_group["import"] == ["SKIPPED", "SKIPPED"]


def test_upstream_is_nginx_and_labelled(report: dict[str, object]) -> None:
    meta = report["meta"]
    assert isinstance(meta, dict)
    assert meta["upstream"]["kind"] == "nginx"
    assert meta["quick"] is True


def _by_group(report: dict[str, object]) -> dict[str, list[str]]:
    verdicts = report["verdicts"]
    assert isinstance(verdicts, list)
    out: dict[str, list[str]] = {}
    for v in verdicts:
        out.setdefault(v["group"], []).append(v["verdict"])
    return out


def test_gemini_bedrock_ollama_streams_measured(new_report: dict[str, object]) -> None:
    groups = _groups(new_report)
    assert set(groups) == set(NEW_STREAMS)
    for key, cases in groups.items():
        # Bedrock also has the SigV4 rows (async and sync), whose check asserts signing.
        extra = ("llmswitch-async-sigv4", "llmswitch-sync-sigv4") if key == "stream-bedrock" else ()
        assert set(cases) == {*MEASURED, *extra}, key
        for cid, case in cases.items():
            assert case["status"] == "ok", f"{key}/{cid}: {case['reason']}"
            assert case["median_us"] > 0 and len(case["rounds_us"]) == 3
            assert case["ratio"] is not None


def test_new_stream_budgets_judged_only_when_selected(
    report: dict[str, object], new_report: dict[str, object]
) -> None:
    judged = _by_group(new_report)
    for key in NEW_STREAMS:
        assert judged[key] and all(v in ("PASS", "FAIL") for v in judged[key]), judged
    for key in ("chat-openai", "chat-anthropic", "stream-openai", "stream-anthropic"):
        assert judged[key] == ["SKIPPED"], judged
    skipped = _by_group(report)
    for key in NEW_STREAMS:
        assert skipped[key] == ["SKIPPED"], skipped
