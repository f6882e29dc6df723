"""The gateway benchmark harnesses still run: bench/gateway.py and bench/gateway_soak.py.

Short runs against the nginx loopback; they assert that the harness produced figures
that parse (requests counted, no errors, verdict rows present), never timings. The
bench uses wrk where it is installed, else its Python load generator.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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

# The bench against `llmswitch serve` (nginx direct is always measured); the soak against
# the passthrough (its harness is what is checked here: llmswitch's start-up would double it).
SERVERS = "llmswitch"


def _run(script: str, out: Path, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def _check_bench(doc: dict[str, Any], loadgen: str) -> None:
    servers = {s["id"]: s for s in doc["servers"]}
    assert set(servers) == {"nginx", *SERVERS.split(",")}
    for sid, s in servers.items():
        assert s["status"] == "ok", f"{sid}: {s['reason']}"
        for run in ("c1", "cN"):
            r = s[run]
            assert r["requests"] > 0 and r["rps"] > 0 and r["bytes"] > 0, (sid, run, r)
            assert 0 < r["p50_us"] <= r["p99_us"], (sid, run, r)
            assert not any(r["errors"].values()), (sid, run, r["errors"])
        assert s["c1"]["connections"] == 1 and s["cN"]["connections"] == 32
        if sid == "llmswitch":
            assert s["settings"]["usage"] == "SQLite ledger", s["settings"]
        if sid != "nginx":
            assert s["cN"]["server_cpu_us_per_req"] > 0
            assert isinstance(s["added_p50_us"], int)
    assert loadgen in doc["meta"]["loadgen"]
    assert {v["key"] for v in doc["verdicts"]} == {
        "llmswitch_vs_litellm_rps",
        "llmswitch_vs_bare_rps",
        "llmswitch_added_p50_us",
    }
    for v in doc["verdicts"]:
        assert v["verdict"] in ("PASS", "FAIL", "N/A")


def test_gateway_bench_runs(tmp_path: Path) -> None:
    # wrk where it is installed (the real harness), else the Python fallback (CI)
    doc = _run("gateway.py", tmp_path / "gw.json", "--quick", "--servers", SERVERS)
    _check_bench(doc, "wrk" if shutil.which("wrk") else "python")


def test_soak_samples_rss_and_counts_aborts(tmp_path: Path) -> None:
    doc = _run("gateway_soak.py", tmp_path / "soak.json", "--server", "passthrough",
               "--minutes", "0.06", "--warmup", "0.5", "--interval", "0.4",
               "--concurrency", "8")  # fmt: skip
    counts = doc["counts"]
    assert counts["errors"] == 0, counts["error_samples"]
    assert counts["completed"] > 0 and counts["aborted"] > 0, counts
    assert len(doc["samples"]) >= 6 and all(s["rss_mb"] > 0 for s in doc["samples"])
    assert isinstance(doc["growth"]["growth_pct"], float)
    assert doc["verdict"] in ("PASS", "FAIL")
