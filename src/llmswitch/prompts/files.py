"""Prompts as files, so they can live in git next to the code that uses them.

An exported version is a ``.toml`` prompt file (the form ``prompts add --file`` reads)
with an ``[llmswitch]`` table saying where it came from::

    system = "You are a support agent for {{ product }}."
    [[messages]]
    role = "user"
    content = "{{ question }}"

    [llmswitch]
    name = "support"
    version = 3
    content_hash = "9f2c..."
    labels = ["production"]

``import`` reads a file or every ``*.toml`` under a directory. A file's prompt name is
``[llmswitch] name``, else the file name without ``.toml`` (and without an ``@N``
suffix, as ``export --all`` writes ``NAME@N.toml``); files of one prompt are added in
``[llmswitch] version`` order. A file adds nothing when it is a stored version
already (its ``[llmswitch] version`` holds this very content: an exported file, not
edited) or when it equals the prompt's latest version (see :meth:`PromptStore.add`),
so re-importing an export, or a directory, is a no-op.
A text file (any other suffix) is the template of one user message.
"""

from __future__ import annotations

import builtins
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import PromptError
from ._types import check_name
from .template import CompiledPrompt, PromptTemplate, syntax_error

if TYPE_CHECKING:
    from ._types import PromptInfo, PromptVersion


class _Store(Protocol):
    # What export and import use of a PromptStore (declared here: store imports this).
    def add(
        self, name: str, prompt: PromptTemplate, *, author: str | None, message: str | None
    ) -> PromptVersion: ...
    def label(self, name: str, version: int, label: str, *, author: str | None) -> Any: ...
    def get(self, ref: str) -> PromptVersion: ...
    def list(self) -> list[PromptInfo]: ...
    def versions(self, name: str) -> builtins.list[PromptVersion]: ...


__all__ = ["export_directory", "import_path", "read_prompt_file", "text_prompt", "version_toml"]


def version_toml(version: PromptVersion, labels: list[str] | None = None) -> str:
    """The ``.toml`` file of ``version`` (``labels``: those pointing at it)."""
    header: dict[str, Any] = {
        "name": version.name, "version": version.version, "content_hash": version.content_hash,
    }  # fmt: skip
    if version.author:
        header["author"] = version.author
    if version.message:
        header["message"] = version.message
    if labels:
        header["labels"] = labels
    return version.template.to_toml(header)


def read_prompt_file(path: str | os.PathLike[str]) -> tuple[PromptTemplate, dict[str, Any]]:
    """A prompt file's template and its ``[llmswitch]`` table (``{}`` if none)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(
            f"cannot read {str(file)!r}: {exc.strerror or exc}", field="file"
        ) from None
    except UnicodeDecodeError:
        raise PromptError(f"{str(file)!r} is not UTF-8 text", field="file") from None
    if file.suffix != ".toml":
        return text_prompt(text, str(file)), {}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PromptError(f"{file}: not valid TOML: {exc}", field="file") from None
    header = data.pop("llmswitch", {})
    if not isinstance(header, dict):
        raise PromptError(f"{file}: [llmswitch] must be a table", field="file")
    template = PromptTemplate.from_content(data, source=str(file))
    parts = [("system", template.system)] if template.system is not None else []
    parts += [(f"messages[{i}]", m.content) for i, m in enumerate(template.messages)]
    for where, part in parts:  # the file, then which part of it (line: within the part)
        found = syntax_error(part)
        if found is not None:
            raise PromptError(
                f"{file}: {where}: template syntax error on line {found[0]}: {found[1]}",
                field=where,
            )
    return template, header


def text_prompt(text: str, source: str) -> PromptTemplate:
    """A text prompt file's template (one user message); a template error names
    ``source`` and the line, as a compiler does: ``bad.txt:1: template syntax error: ...``."""
    template = PromptTemplate.from_text(text)
    found = syntax_error(text)
    if found is not None:
        raise PromptError(f"{source}:{found[0]}: template syntax error: {found[1]}", field="file")
    return template


def export_directory(
    store: _Store, directory: str | os.PathLike[str], *, all_versions: bool = False
) -> list[Path]:
    """Write every prompt's latest version to ``DIR/NAME.toml`` (``all_versions``: each
    version to ``DIR/NAME@N.toml``); the files written."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for info in store.list():
        by_version: dict[int, list[str]] = {}
        for label, number in info.labels.items():
            by_version.setdefault(number, []).append(label)
        chosen = (
            store.versions(info.name) if all_versions else [store.get(f"{info.name}@{info.latest}")]
        )
        for version in chosen:
            name = f"{info.name}@{version.version}.toml" if all_versions else f"{info.name}.toml"
            target = folder / name
            target.write_text(
                version_toml(version, by_version.get(version.version)), encoding="utf-8"
            )
            written.append(target)
    return written


def import_path(
    store: _Store,
    path: str | os.PathLike[str],
    *,
    author: str | None = None,
    message: str | None = None,
    label: str | None = None,
) -> list[PromptVersion]:
    """Add the prompt file ``path``, or every ``*.toml`` under the directory ``path``;
    ``label``: also point this label at each imported version. Everything is read and
    checked before anything is written."""
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*.toml") if p.is_file())
        if not files:
            raise PromptError(f"no .toml prompt files under {str(root)!r}", field="file")
    elif root.exists():
        files = [root]
    else:
        raise PromptError(f"no such file or directory: {str(root)!r}", field="file")
    loaded = []
    for file in files:
        template, header = read_prompt_file(file)
        name = header.get("name") or file.stem.partition("@")[0]
        check_name(name)
        CompiledPrompt(template)  # a template that does not compile stops the import here
        number = header.get("version")
        order = number if isinstance(number, int) else 0
        loaded.append((str(name), order, str(file), template, header))
    loaded.sort(key=lambda item: (item[0], item[1], item[2]))
    added = []
    for name, _, _, template, header in loaded:
        version = _same_version(store, name, template, header)
        if version is None:
            note = message if message is not None else header.get("message")
            version = store.add(name, template, author=author, message=note)
        if label is not None:
            store.label(name, version.version, label, author=author)
        added.append(version)
    return added


def _same_version(
    store: _Store, name: str, template: PromptTemplate, header: dict[str, Any]
) -> PromptVersion | None:
    """The stored version a file *is* (its ``[llmswitch] version`` exists with this
    very content), so re-importing an export, ``--all`` included, adds nothing."""
    import dataclasses

    number = header.get("version")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        return None
    try:
        stored = store.get(f"{name}@{number}")
    except PromptError:
        return None
    if stored.content_hash != template.content_hash:
        return None
    return dataclasses.replace(stored, created=False)
