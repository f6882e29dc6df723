"""Checks of single values of ``llmswitch.toml`` for the validator: numbers against
the bounds the description of the file (:mod:`._spec`) gives them, and the key-encryption
key's URI by the forms the vault's backends parse (and its key file's path).
"""

from __future__ import annotations

import math
import os
import stat
from typing import Any

from . import _spec

__all__ = ["kek_problem", "key_file_problem", "rebase_key_file", "walk_bounds"]


def walk_bounds(
    node: _spec.Node,
    value: Any,
    path: tuple[str, ...],
    parent: dict[str, Any] | None,
    found: list[tuple[tuple[str, ...], dict[str, Any], str]],
) -> None:
    """Append ``(path, the table holding it, problem)`` for each number under ``value``
    that breaks its bounds in ``node``. Follows the description, not the document, so
    its depth is the description's; anything of another shape is left to the reader
    of its section (which names the type it expected)."""
    if isinstance(node, _spec.Ref):
        node = _spec.SETTINGS
    if isinstance(node, _spec.Value):
        problem = _number_problem(node, value)
        if problem is not None and parent is not None:
            found.append((path, parent, problem))
    elif isinstance(node, _spec.Table) and isinstance(value, dict):
        for key, sub in node.keys.items():
            if key in value:
                walk_bounds(sub, value[key], (*path, key), value, found)
    elif isinstance(node, _spec.Named) and isinstance(value, dict):
        for key, item in value.items():
            walk_bounds(node.value, item, (*path, key), value, found)
    elif isinstance(node, _spec.ArrayOf) and isinstance(value, list):
        for i, item in enumerate(value):
            walk_bounds(node.item, item, (*path, f"[{i}]"), None, found)
    elif isinstance(node, _spec.AnyOf):
        for option in node.options:  # the option of the value's shape
            if isinstance(option, _spec.Table) == isinstance(value, dict):
                walk_bounds(option, value, path, parent, found)
                return


def _number_problem(node: _spec.Value, value: Any) -> str | None:
    if node.type not in ("integer", "number") or isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number (nan and inf are not allowed)"
    if isinstance(value, int | float) and node.maximum is not None and value > node.maximum:
        top = node.maximum
        return f"must be at most {top:.0f}" if top == int(top) else f"must be at most {top}"
    return None


def kek_problem(kek: str) -> str | None:
    """What is wrong with the shape of a ``[keys] kek`` URI (``None``: nothing), by the
    rules the vault's backends parse it with: a URI that could never name a key fails
    at load, not at the first stored key."""
    if kek.startswith("local:"):
        return None  # local: ($LLMSWITCH_MASTER_KEY) or local:PATH: the file is read later
    # The backends' own patterns: their modules import no KMS client (nor cryptography)
    # until a key is wrapped, and this runs only when a file sets kek.
    if kek.startswith("gcp-kms://"):
        from ..keys.kek.gcp import _KEY_RE

        if not _KEY_RE.fullmatch(kek.removeprefix("gcp-kms://").strip().rstrip("/")):
            return "must be gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K"
        return None
    if kek.startswith("aws-kms://"):
        from ..keys.kek.aws import _ARN_RE

        if not _ARN_RE.fullmatch(kek.removeprefix("aws-kms://").strip()):
            return "must be aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID"
        return None
    return (
        "must be local:, local:/path/to/keyfile, "
        "gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K "
        "or aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID"
    )


def rebase_key_file(kek: str, base: str) -> str:
    """``local:PATH`` with a relative PATH taken from ``base`` (the config file's
    directory), not from the working directory."""
    path = kek.removeprefix("local:").strip() if kek.startswith("local:") else ""
    if not path or os.path.isabs(os.path.expanduser(path)):
        return kek
    return "local:" + os.path.join(base, path)


def rebase_path(path: str | None, base: str) -> str | None:
    """A file setting (``credentials_file``): a relative path taken from ``base`` (the
    config file's directory); ``None`` or empty: not set."""
    if not path:
        return None
    expanded = os.path.expanduser(path)
    return expanded if os.path.isabs(expanded) else os.path.join(base, expanded)


def key_file_problem(kek: str) -> str | None:
    """For ``local:PATH``: what keeps the key file from being read on this machine
    (``None``: it is a regular file, or ``kek`` names none). Only stats the path: a FIFO
    or a device is refused without being opened."""
    path = kek.removeprefix("local:").strip() if kek.startswith("local:") else ""
    if not path:
        return None
    try:
        info = os.stat(os.path.expanduser(path))
    except FileNotFoundError:
        return f"the key file {path} does not exist"
    except OSError as exc:
        return f"the key file {path} cannot be read ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return f"the key file {path} is not a regular file"
    return None
