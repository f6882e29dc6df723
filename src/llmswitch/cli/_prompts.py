"""``llmswitch prompts``: stored prompt templates, their versions and labels.

::

    llmswitch prompts add support --file support.toml --message "friendlier tone"
    llmswitch prompts list [NAME]
    llmswitch prompts show support:production
    llmswitch prompts label support 3 production
    llmswitch prompts diff support@2 support@3
    llmswitch prompts export support -o support.toml   |   export --dir prompts/ [--all]
    llmswitch prompts import prompts/ [--label staging]

Which database: ``--database-url``, else ``[storage] database_url`` of llmswitch.toml,
else ``$LLMSWITCH_DATABASE_URL``, else ``sqlite:///$LLMSWITCH_HOME/llmswitch.db``: the
library's chain, so a label moved here is what running clients see (within their
label TTL, 2 s by default).

Adding a subcommand: declare ``_parse_NAME = _parser(name, help, description, *_arg(...))``
and write ``_run_NAME(store, args) -> int``, and list them in :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ._prompt_experiments import parse_experiment, parse_report, run_experiment, run_report

__all__ = ["SUBCOMMANDS", "add_prompts_parser", "run_prompts"]


def _author(args: argparse.Namespace) -> str | None:
    """``--author``, else the login name ($USER...), else none."""
    if getattr(args, "author", None):
        return str(args.author)
    try:
        return getpass.getuser() or None
    except Exception:  # no login name in this environment (a container's uid)
        return None


# ---- the subcommands: each a parser builder and a runner

_Arg = tuple[tuple[str, ...], dict[str, Any]]


def _arg(*flags: str, **options: Any) -> _Arg:
    """One ``add_argument(*flags, **options)``, kept for :func:`_parser`."""
    return flags, options


def _parser(name: str, help: str, description: str, *args: _Arg) -> Callable[..., None]:
    """The builder of a subcommand's parser: ``name`` with its ``help`` and
    ``description``, the arguments in order, then the options every action takes."""

    def build(actions: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
        parser = actions.add_parser(name, help=help, description=description)
        for flags, options in args:
            parser.add_argument(*flags, **options)
        common(parser)

    return build


_parse_add = _parser(
    "add",
    "save a new version of a prompt",
    "Save FILE as the next immutable version of NAME: a .toml file (system, "
    "messages, optional model, options, variables, defaults) or any other file as the "
    "template of one user message. Content equal to the latest version adds nothing.",
    _arg("name", metavar="NAME"),
    _arg("--file", metavar="F", required=True, help="the prompt file ('-': stdin, text)"),
    _arg("--message", metavar="TEXT", help="what changed (kept with the version)"),
    _arg("--label", metavar="LABEL", help="also point LABEL at the new version"),
)


def _run_add(store: Any, args: argparse.Namespace) -> int:
    from ..prompts.files import read_prompt_file, text_prompt

    if args.file == "-":
        template = text_prompt(sys.stdin.read(), "<stdin>")
    else:
        template, _ = read_prompt_file(args.file)
    author = _author(args)
    version = store.add(args.name, template, author=author, message=args.message)
    note = "" if version.created else " (unchanged: the same content as the latest version)"
    print(f"{version.ref}{note}")
    if args.label:
        store.label(args.name, version.version, args.label, author=author)
        print(f"{args.name}:{args.label} -> {version.version}")
    return 0


_parse_list = _parser(
    "list",
    "list prompts (or one prompt's versions)",
    "Every prompt with its latest version and labels; with NAME, that "
    "prompt's versions (author, date, message, labels).",
    _arg("name", metavar="NAME", nargs="?"),
    _arg("--json", action="store_true", help="print JSON"),
)


def _run_list(store: Any, args: argparse.Namespace) -> int:
    if args.name:
        labels = store.labels(args.name)
        rows = [
            {
                "version": v.version, "author": v.author, "created_at": _when(v.created_at),
                "message": v.message, "content_hash": v.content_hash,
                "labels": sorted(k for k, n in labels.items() if n == v.version),
            }
            for v in store.versions(args.name)
        ]  # fmt: skip
        if not rows:
            from ..errors import PromptError

            raise PromptError(f"no prompt {args.name!r}", field="prompt", prompt=args.name)
        heading: tuple[str, ...] = ("version", "author", "created_at", "labels", "message")
    else:
        rows = [
            {"name": p.name, "latest": p.latest, "labels": dict(p.labels),
             "updated_at": _when(p.updated_at)}
            for p in store.list()
        ]  # fmt: skip
        heading = ("name", "latest", "labels", "updated_at")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    _table(heading, [[_cell(row[h]) for h in heading] for row in rows])
    return 0


_parse_show = _parser(
    "show",
    "print one version of a prompt",
    "Print the version REF names (NAME: the latest, NAME@VERSION, "
    "NAME:LABEL) as a prompt file, with its name, version, hash, author and labels.",
    _arg("ref", metavar="NAME[@VERSION|:LABEL]"),
    _arg("--json", action="store_true", help="print JSON"),
)


def _run_show(store: Any, args: argparse.Namespace) -> int:
    from ..prompts.files import version_toml

    version = store.get(args.ref)
    labels = sorted(k for k, n in store.labels(version.name).items() if n == version.version)
    if args.json:
        print(json.dumps({
            "name": version.name, "version": version.version,
            "content_hash": version.content_hash, "author": version.author,
            "message": version.message, "created_at": _when(version.created_at),
            "labels": labels, "content": version.template.to_content(),
        }, indent=2))  # fmt: skip
        return 0
    sys.stdout.write(version_toml(version, labels))
    return 0


_parse_label = _parser(
    "label",
    "point a label at a version",
    "Point LABEL (production, staging, any name but 'latest') of NAME at "
    "VERSION. Running clients see the move within their label TTL (2 s by default).",
    _arg("name", metavar="NAME"),
    _arg("version", metavar="VERSION", type=int),
    _arg("label", metavar="LABEL"),
)


def _run_label(store: Any, args: argparse.Namespace) -> int:
    before = store.label(args.name, args.version, args.label, author=_author(args))
    was = "new label" if before is None else f"was {before}"
    print(f"{args.name}:{args.label} -> {args.version} ({was})")
    return 0


_parse_diff = _parser(
    "diff",
    "compare two versions",
    "A unified diff of two versions as prompt files; REF_B defaults to "
    "the latest version of REF_A's prompt. Exits 0 whether or not they differ.",
    _arg("a", metavar="REF_A"),
    _arg("b", metavar="REF_B", nargs="?"),
)


def _run_diff(store: Any, args: argparse.Namespace) -> int:
    from ..prompts import parse_ref

    other = args.b if args.b else parse_ref(args.a)[0]
    text = store.diff(args.a, other)
    sys.stdout.write(text if text else "(no difference)\n")
    return 0


_parse_export = _parser(
    "export",
    "write prompts to .toml files (for git)",
    "Write the version REF names as a prompt file (to stdout or -o FILE), "
    "or with --dir every prompt's latest version to DIR/NAME.toml (--all: every "
    "version, DIR/NAME@N.toml). 'prompts import' reads them back.",
    _arg("ref", metavar="NAME[@VERSION|:LABEL]", nargs="?"),
    _arg("-o", "--output", metavar="FILE"),
    _arg("--dir", metavar="DIR"),
    _arg("--all", action="store_true", help="with --dir: every version"),
)


def _run_export(store: Any, args: argparse.Namespace) -> int:
    from ..errors import PromptError
    from ..prompts.files import export_directory

    if (args.ref is None) == (args.dir is None):
        raise PromptError("give either a prompt REF or --dir DIR", field="ref")
    if args.dir is not None:
        for path in export_directory(store, args.dir, all_versions=args.all):
            print(path)
        return 0
    text = store.export(args.ref)
    if args.output:
        folder = os.path.dirname(args.output)
        try:
            if folder:  # as --dir does: the folder is made
                os.makedirs(folder, exist_ok=True)
            with open(args.output, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            raise PromptError(
                f"cannot write {args.output}: {exc.strerror or exc}", field="--output"
            ) from None
    else:
        sys.stdout.write(text)
    return 0


_parse_import = _parser(
    "import",
    "add prompts from .toml files",
    "Add PATH (a prompt file, or every .toml under a directory) as new "
    "versions: the name is the file's [llmswitch] name, else its file name. A file "
    "equal to its prompt's latest version adds nothing.",
    _arg("path", metavar="PATH"),
    _arg("--label", metavar="LABEL", help="also point LABEL at each imported version"),
    _arg("--message", metavar="TEXT", help="instead of each file's own message"),
)


def _run_import(store: Any, args: argparse.Namespace) -> int:
    author = _author(args)
    for version in store.import_(args.path, author=author, message=args.message, label=args.label):
        print(f"{version.ref}{'' if version.created else ' (unchanged)'}")
    return 0


# name -> (parser builder, runner); helpers add theirs here.
SUBCOMMANDS: dict[str, tuple[Callable[..., None], Callable[[Any, argparse.Namespace], int]]] = {
    "add": (_parse_add, _run_add),
    "list": (_parse_list, _run_list),
    "show": (_parse_show, _run_show),
    "label": (_parse_label, _run_label),
    "diff": (_parse_diff, _run_diff),
    "export": (_parse_export, _run_export),
    "import": (_parse_import, _run_import),
    "experiment": (parse_experiment, run_experiment),  # _prompt_experiments.py
    "report": (parse_report, run_report),
}


def add_prompts_parser(
    commands: Any, config_option: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The ``prompts`` subcommand (called by ``cli.build_parser``)."""
    prompts = commands.add_parser(
        "prompts",
        help="stored prompt templates: versions, labels, files",
        description="Prompt templates kept in the database as immutable versions with "
        "movable labels, used in code as client.chat(prompt='NAME:LABEL', variables={...}).",
    )
    actions = prompts.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--author", metavar="NAME", help="who made the change (default: $USER)")
        parser.add_argument(
            "--database-url", metavar="URL", help="sqlite:///path or postgresql://user@host:5432/db"
        )
        config_option(parser)

    for build, _ in SUBCOMMANDS.values():
        build(actions, common)


def run_prompts(args: argparse.Namespace) -> int:
    from ..prompts import PromptStore

    db = _open(args)
    try:
        return SUBCOMMANDS[args.prompts_command][1](PromptStore(db, label_ttl=0), args)
    finally:
        db.close()


def _open(args: argparse.Namespace) -> Any:
    from ..storage.sql import open_database

    if args.database_url:
        return open_database(args.database_url, field="--database-url")
    from ..config import storage_url

    url = storage_url(args.config)
    if url:
        return open_database(url, field="[storage] database_url")
    return open_database(None, os.environ)


# ---- output


def _when(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _table(heading: tuple[str, ...], rows: list[list[str]]) -> None:
    """Plain aligned columns (stable to read in a terminal and to grep)."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(heading)]
    for line in [list(heading), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
