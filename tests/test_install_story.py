"""The install story (issue 7, item 20): users get the runtime dependencies only, and
the README's two Quick start commands are what a fresh machine (and CI) runs."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What only developing llmswitch needs: never a dependency of the installed package.
DEV_ONLY = {
    "pytest", "pytest-asyncio", "ruff", "mypy", "hypothesis", "openai", "anthropic",
    "google-genai", "boto3", "ollama", "litellm",
}  # fmt: skip


def _uv() -> str:
    uv = shutil.which("uv") or shutil.which("uv", path="/root/.pyenv/shims")
    if uv is None:
        pytest.skip("uv is not installed")
    return uv


def _uv_env() -> dict[str, str]:
    # Run as a user would: not inside this test run's virtualenv or uv settings.
    drop = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_NO_SYNC", "UV_FROZEN", "PYTHONPATH")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower()


def _quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the Quick start has no bash block"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    main_job, tests = _quick_start()
    assert main_job.startswith("uv run --no-dev llmswitch chat ")  # runtime deps only
    assert tests == "uv run pytest"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, ".ci/run must run the README's exact test command"
    assert "uv sync --locked --quiet" in ci  # installs the default (dev) group for the tests


def test_wheel_requires_only_the_runtime_dependencies(tmp_path: Path) -> None:
    done = subprocess.run(
        [_uv(), "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)],
        env=_uv_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("llmswitch-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        [meta] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        text = zf.read(meta).decode()
    requires: set[str] = set()
    extras: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            spec = line.split(":", 1)[1]
            extra = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", spec)
            if extra:
                extras.setdefault(extra.group(1), set()).add(_name(spec))
            else:
                requires.add(_name(spec))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert requires == {_name(r) for r in project["dependencies"]}
    assert not requires & DEV_ONLY
    # The extras are the optional backends of the storage and key vault (issue 9), the
    # charts of `llmswitch usage --chart`, Vertex AI's credentials (issues 10, 13) and the
    # gateway's server (issue 14), each asked for by name; none drags in a provider SDK
    # (boto3 only for AWS KMS).
    optional = project["optional-dependencies"]
    named = {"postgres", "gcp", "aws", "charts", "vertex", "gateway"}
    assert set(extras) == set(optional) == named | {"all"}
    assert extras == {k: {_name(r) for r in v} for k, v in optional.items()}
    assert not set().union(*extras.values()) & (DEV_ONLY - {"boto3"})
    assert extras["all"] == set().union(*(extras[name] for name in named))


def test_the_main_job_installs_no_dev_tools_or_sdks(tmp_path: Path) -> None:
    # What `git clone` + the Quick start's first command gives: a copy of the project.
    project = tmp_path / "llmswitch"
    project.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    main_job = shlex.split(_quick_start()[0])
    done = subprocess.run(
        [_uv(), *main_job[1:]], cwd=project, env=_uv_env(),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the main job printed nothing"
    site = list((project / ".venv").glob("lib/python3*/site-packages"))
    assert site, "uv made no project environment"
    # "google_genai-1.0.dist-info" -> "google-genai"
    installed = {
        p.name.split("-", 1)[0].replace("_", "-").lower() for p in site[0].glob("*.dist-info")
    }
    assert {"aiohttp", "orjson", "urllib3", "llmswitch"} <= installed
    assert not installed & DEV_ONLY, sorted(installed & DEV_ONLY)
