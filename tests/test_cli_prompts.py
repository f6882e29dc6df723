"""``llmswitch prompts``: add, list, show, label, diff, export, import, on SQLite and
PostgreSQL, and what a running client sees after a label move on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmswitch.prompts import PromptStore
from llmswitch.storage.sql import open_database
from tests.support.cli import run

SUPPORT = """system = "You are a support agent for {{ product }}."
model = "openai/gpt-4o-mini"
[options]
temperature = 0.2
[[messages]]
role = "user"
content = "{{ question }}"
"""


def prompts(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    return run(capsys, "prompts", *args, "--database-url", url)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "support.toml").write_text(SUPPORT)
    (tmp_path / "support2.toml").write_text(
        SUPPORT.replace("support agent", "friendly support agent")
    )
    (tmp_path / "greet.txt").write_text("Hello {{ name }}!\n")
    return tmp_path


def test_add_list_show_label_diff(
    capsys: pytest.CaptureFixture[str], database_url: str, files: Path
) -> None:
    add = lambda *a: prompts(capsys, database_url, "add", *a)  # noqa: E731
    assert add(
        "support", "--file", str(files / "support.toml"), "--author", "ana", "--message", "first"
    ) == (0, "support@1\n", "")
    assert add("support", "--file", str(files / "support.toml"))[1] == (
        "support@1 (unchanged: the same content as the latest version)\n"
    )
    code, out, _ = add("support", "--file", str(files / "support2.toml"), "--label", "staging")
    assert (code, out) == (0, "support@2\nsupport:staging -> 2\n")
    assert add("greet", "--file", str(files / "greet.txt"))[1] == "greet@1\n"

    assert prompts(capsys, database_url, "label", "support", "1", "production")[1] == (
        "support:production -> 1 (new label)\n"
    )
    code, out, _ = prompts(capsys, database_url, "list", "--json")
    assert code == 0
    assert [(p["name"], p["latest"], p["labels"]) for p in json.loads(out)] == [
        ("greet", 1, {}), ("support", 2, {"production": 1, "staging": 2}),
    ]  # fmt: skip
    code, out, _ = prompts(capsys, database_url, "list", "support")
    lines = out.splitlines()
    assert lines[0].split() == ["version", "author", "created_at", "labels", "message"]
    assert lines[1].split()[0:2] == ["1", "ana"] and lines[1].split()[-2:] == [
        "production",
        "first",
    ]

    code, out, _ = prompts(capsys, database_url, "show", "support:production")
    assert code == 0 and out.startswith(SUPPORT.splitlines()[0])
    assert "version = 1" in out and 'labels = ["production"]' in out and 'author = "ana"' in out
    shown = json.loads(prompts(capsys, database_url, "show", "support@2", "--json")[1])
    assert (shown["version"], shown["labels"], shown["content"]["options"]) == (
        2,
        ["staging"],
        {"temperature": 0.2},
    )

    code, out, _ = prompts(capsys, database_url, "diff", "support@1")  # against the latest
    assert code == 0 and out.startswith("--- support@1\n+++ support@2\n")
    assert '+system = "You are a friendly support agent for {{ product }}."' in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "nope"), "no prompt 'nope'"),
        (("report", "nope"), "no prompt 'nope'"),
        (("show", "support:canary"), "has no label 'canary'"),
        (("label", "support", "5", "production"), "has no version 5"),
        (("label", "support", "1", "latest"), "'latest' is not a label you can move"),
        (("add", "bad/name", "--file", "FILE"), "prompt name 'bad/name'"),
        (("export",), "give either a prompt REF or --dir DIR"),
    ],
)
def test_errors_are_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    files: Path,
    args: tuple[str, ...],
    message: str,
) -> None:
    prompts(capsys, database_url, "add", "support", "--file", str(files / "support.toml"))
    args = tuple(str(files / "support.toml") if a == "FILE" else a for a in args)
    code, out, err = prompts(capsys, database_url, *args)
    assert (code, out) == (1, "")
    assert err.startswith("llmswitch: error: ") and message in err and err.count("\n") == 1


def test_a_template_that_does_not_compile_is_refused_at_add(
    capsys: pytest.CaptureFixture[str], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "bad.txt").write_text("{% for x in %}")
    code, _, err = prompts(capsys, database_url, "add", "bad", "--file", str(tmp_path / "bad.txt"))
    assert code == 1 and f"{tmp_path / 'bad.txt'}:1: template syntax error: " in err
    # The file and the line the error is on, as a compiler names them.
    (tmp_path / "bad.txt").write_text("Hello\n\n{{ x")
    code, _, err = prompts(capsys, database_url, "add", "bad", "--file", str(tmp_path / "bad.txt"))
    assert code == 1 and f"{tmp_path / 'bad.txt'}:3: template syntax error: " in err
    assert "messages[0]" not in err
    # A .toml file: the file, then the part of it, then the line within that part.
    (tmp_path / "bad.toml").write_text('system = "ok"\n[[messages]]\nrole = "user"\n'
                                       'content = "a\\n{{ x"\n')  # fmt: skip
    code, _, err = prompts(capsys, database_url, "add", "bad", "--file", str(tmp_path / "bad.toml"))
    assert code == 1 and (
        f"{tmp_path / 'bad.toml'}: messages[0]: template syntax error on line 2: " in err
    )
    with open_database(database_url) as db:
        assert PromptStore(db).list() == []


def test_export_to_git_and_import_elsewhere(
    capsys: pytest.CaptureFixture[str], database_url: str, files: Path, tmp_path: Path
) -> None:
    prompts(capsys, database_url, "add", "support", "--file", str(files / "support.toml"))
    prompts(capsys, database_url, "add", "support", "--file", str(files / "support2.toml"))
    prompts(capsys, database_url, "label", "support", "1", "production")
    out_file = tmp_path / "exported" / "one.toml"
    out_file.parent.mkdir()
    assert (
        prompts(capsys, database_url, "export", "support:production", "-o", str(out_file))[0] == 0
    )
    assert 'labels = ["production"]' in out_file.read_text()
    code, out, _ = prompts(capsys, database_url, "export", "--dir", str(tmp_path / "repo"), "--all")
    assert code == 0 and sorted(Path(p).name for p in out.split()) == [
        "support@1.toml",
        "support@2.toml",
    ]
    assert prompts(capsys, database_url, "import", str(tmp_path / "repo"))[1] == (
        "support@1 (unchanged)\nsupport@2 (unchanged)\n"
    )
    other = f"sqlite:///{tmp_path / 'other.db'}"
    code, out, _ = prompts(
        capsys, other, "import", str(tmp_path / "repo"), "--label", "staging", "--author", "ci"
    )
    assert (code, out) == (0, "support@1\nsupport@2\n")
    with open_database(other) as db:
        store = PromptStore(db)
        assert store.labels("support") == {"staging": 2}
        assert store.get("support@2").author == "ci"


def test_export_makes_the_output_folder_and_names_a_path_it_cannot_write(
    capsys: pytest.CaptureFixture[str], database_url: str, files: Path, tmp_path: Path
) -> None:
    prompts(capsys, database_url, "add", "support", "--file", str(files / "support.toml"))
    nested = tmp_path / "prompts" / "support.toml"  # no prompts/ folder yet
    assert prompts(capsys, database_url, "export", "support", "-o", str(nested))[0] == 0
    assert "[llmswitch]" in nested.read_text()
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    code, _, err = prompts(capsys, database_url, "export", "support", "-o", str(blocked / "x.toml"))
    assert code == 1 and f"error: cannot write {blocked / 'x.toml'}:" in err
    assert "Traceback" not in err and "unexpected" not in err


def test_stdin_and_the_default_author(
    capsys: pytest.CaptureFixture[str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setenv("USER", "carol")
    monkeypatch.setenv("LOGNAME", "carol")
    monkeypatch.setattr("sys.stdin", io.StringIO("Translate: {{ text }}"))
    assert prompts(capsys, database_url, "add", "translate", "--file", "-")[1] == "translate@1\n"
    with open_database(database_url) as db:
        version = PromptStore(db).get("translate")
    assert version.author == "carol"
    assert version.template.messages[0].content == "Translate: {{ text }}"


def test_the_database_comes_from_llmswitch_toml(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'configured.db'}"
    (tmp_path / "llmswitch.toml").write_text(f'[storage]\ndatabase_url = "{url}"\n')
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "prompts", "add", "support", "--file", str(files / "support.toml"))
    assert (code, out) == (0, "support@1\n")
    with open_database(url) as db:
        assert PromptStore(db).get("support").version == 1
