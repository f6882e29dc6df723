"""The prompt store's value types and reference syntax (no I/O, nothing imported)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Protocol

from ..errors import PromptError
from ..messages import PromptRef
from .template import PromptTemplate

__all__ = [
    "DEFAULT_LABEL_TTL",
    "LATEST",
    "Chooser",
    "PromptCall",
    "PromptInfo",
    "PromptVersion",
    "check_label",
    "check_name",
    "parse_ref",
]

DEFAULT_LABEL_TTL = 2.0
LATEST = "latest"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PromptVersion:
    """One stored, immutable version. ``created_at``: epoch milliseconds."""

    name: str
    version: int
    template: PromptTemplate
    content_hash: str
    author: str | None
    message: str | None
    created_at: int
    # From add(): False when the content equalled the latest version (nothing written).
    created: bool = True

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PromptInfo:
    """One prompt in :meth:`PromptStore.list`."""

    name: str
    latest: int
    labels: Mapping[str, int]
    created_at: int
    updated_at: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PromptCall:
    """A prompt rendered for one call: what to send, and the defaults it brings."""

    ref: PromptRef
    system: str | None
    messages: list[dict[str, str]]
    model: str | None  # the prompt's default model
    options: Mapping[str, Any]
    arm_model: str | None = None  # an experiment arm's model: used whatever the call says


class Chooser(Protocol):
    """What the store asks for calls by name or label when experiments are wired in
    (:class:`llmswitch.prompts.experiments.ExperimentStore`): the arm to use, or
    ``None``. An arm has ``version``, ``model`` (or ``None``) and ``tag``."""

    def choose(self, prompt: str, user: str | None) -> Any: ...

    async def achoose(self, prompt: str, user: str | None) -> Any: ...


def parse_ref(ref: str) -> tuple[str, str | None, int | None]:
    """``(name, label, version)`` of ``NAME``, ``NAME:LABEL`` or ``NAME@VERSION``
    (label ``None`` and version ``None``: the latest)."""
    if not isinstance(ref, str):
        raise PromptError(
            "prompt must be a string such as 'NAME', 'NAME:LABEL' or 'NAME@3'", field="prompt"
        )
    name, label, version = ref, None, None
    if "@" in ref:
        name, _, number = ref.partition("@")
        if not number.isdigit() or int(number) < 1:
            raise PromptError(
                f"prompt {ref!r}: the version after '@' must be a number >= 1",
                field="prompt",
                prompt=name,
            )
        version = int(number)
    elif ":" in ref:
        name, _, label = ref.partition(":")
        check_label(label, allow_latest=True)
        if label == LATEST:
            label = None
    check_name(name)
    return name, label, version


def check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PromptError(
            f"prompt name {name!r}: letters, digits, '_', '.', '-' (starting with a letter or "
            "digit), at most 200",
            field="prompt",
        )


def check_label(label: str, *, allow_latest: bool = False) -> None:
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise PromptError(
            f"label {label!r}: letters, digits, '_', '.', '-' (starting with a letter or "
            "digit), at most 100",
            field="label",
        )
    if label == LATEST and not allow_latest:
        raise PromptError(
            "'latest' is not a label you can move: it is always the newest version", field="label"
        )
