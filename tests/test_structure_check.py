"""tools/check_structure.py on small synthetic trees: it passes a clean tree and reports
long modules, upward imports of every kind and import cycles as ``path:line: ...``.
(The real tree is checked by the CI step, not here.)"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "check_structure.py"

LAYERS = """\
# Architecture

Some prose before the table.

```layers
# lowest first
base:  app.errors app._util
wire:  app.wire.*
core:  app.core.*
top:   app.client app
```
"""

# A tree that follows the table: downward and same-layer imports of every form.
CLEAN = {
    "app/__init__.py": "from .client import Client\n",
    "app/errors.py": "class Oops(Exception):\n    pass\n",
    "app/_util.py": "from app.errors import Oops\n",
    "app/wire/__init__.py": "from . import http\nfrom .http import Request\n",
    "app/wire/http.py": "import json\n\nfrom ..errors import Oops\n\n\nclass Request:\n    pass\n",
    "app/core/__init__.py": "",
    "app/core/engine.py": textwrap.dedent("""\
        from __future__ import annotations

        from typing import TYPE_CHECKING

        import app.wire.http
        from app.wire import Request

        from . import helpers

        if TYPE_CHECKING:
            from app.errors import Oops


        def run() -> None:
            from .helpers import go
            go()
        """),
    "app/core/helpers.py": "import os\n\n\ndef go() -> None:\n    pass\n",
    "app/client.py": "from .core.engine import run\nfrom .wire import Request\n\n\nclass Client:\n    pass\n",
}


def _tree(tmp_path: Path, files: dict[str, str], layers: str = LAYERS) -> Path:
    for rel, text in files.items():
        path = tmp_path / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs" / "architecture.md").write_text(layers, encoding="utf-8")
    return tmp_path


def _check(root: Path, *args: str) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, str(TOOL), "--root", str(root), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    for line in lines:
        assert re.match(r"^[^:\s]+:\d+: \S", line), line
    return done.returncode, lines


def test_a_tree_that_follows_the_table_passes(tmp_path: Path) -> None:
    assert _check(_tree(tmp_path, CLEAN)) == (0, [])


def test_a_module_over_800_lines_fails_at_line_801(tmp_path: Path) -> None:
    files = {**CLEAN, "app/core/helpers.py": "x = 1\n" * 801, "app/_util.py": "y = 2\n" * 800}
    code, lines = _check(_tree(tmp_path, files))
    assert code == 1
    assert lines == ["src/app/core/helpers.py:801: 801 lines, over the 800-line limit"]


def test_the_line_limit_is_an_option(tmp_path: Path) -> None:
    files = {**CLEAN, "app/core/helpers.py": "x = 1\n" * 21}
    code, lines = _check(_tree(tmp_path, files), "--max-lines", "20")
    assert code == 1
    assert lines == ["src/app/core/helpers.py:21: 21 lines, over the 20-line limit"]


def test_upward_imports_of_every_kind_are_reported_where_they_are(tmp_path: Path) -> None:
    files = {
        **CLEAN,
        # module-level, through a relative import two levels up
        "app/wire/http.py": "from ..core.engine import run\n",
        # function-level (a lazy import still runs upward)
        "app/errors.py": "def f() -> None:\n    from app.client import Client\n",
        # TYPE_CHECKING-only, with typing.TYPE_CHECKING spelled out
        "app/_util.py": "import typing\n\nif typing.TYPE_CHECKING:\n    import app.core\n",
        # "from pkg import name" where name is a module; and a literal import_module
        "app/core/helpers.py": (
            "import importlib\n\nfrom app import client\n\n"
            "def g() -> None:\n    importlib.import_module('app.client')\n"
        ),
    }
    code, lines = _check(_tree(tmp_path, files))
    assert code == 1
    # (Most of these also close a cycle: that is reported too, on its own line.)
    assert [line for line in lines if "upward" in line] == [
        "src/app/_util.py:4: upward import (TYPE_CHECKING): app._util (layer 1 base) "
        "imports app.core (layer 3 core)",
        "src/app/core/helpers.py:3: upward import (module-level): app.core.helpers "
        "(layer 3 core) imports app.client (layer 4 top)",
        "src/app/core/helpers.py:6: upward import (dynamic): app.core.helpers "
        "(layer 3 core) imports app.client (layer 4 top)",
        "src/app/errors.py:2: upward import (function-level): app.errors (layer 1 base) "
        "imports app.client (layer 4 top)",
        "src/app/wire/http.py:1: upward import (module-level): app.wire.http "
        "(layer 2 wire) imports app.core.engine (layer 3 core)",
    ]


def test_importing_the_top_package_from_below_is_upward(tmp_path: Path) -> None:
    # "from app import X" runs app/__init__.py, which sits in the top layer.
    files = {**CLEAN, "app/wire/http.py": "from app import Client\n"}
    code, lines = _check(_tree(tmp_path, files))
    assert code == 1
    assert lines == [
        "src/app/wire/http.py:1: upward import (module-level): app.wire.http (layer 2 wire) "
        "imports app (layer 4 top)",
        "src/app/__init__.py:1: import cycle: app -> app.client -> app.core.engine -> "
        "app.wire.http -> app (module-level); 5 modules in the cycle group: app, app.client, "
        "app.core.engine, app.wire, app.wire.http",
    ]


def test_an_import_cycle_is_reported_once_with_its_path(tmp_path: Path) -> None:
    files = {
        **CLEAN,
        "app/core/a.py": "from . import b\n",
        "app/core/b.py": "\n\nfrom .c import x\n",
        "app/core/c.py": "def x() -> None:\n    from app.core.a import y\n",
    }
    code, lines = _check(_tree(tmp_path, files))
    assert code == 1
    assert lines == [
        "src/app/core/a.py:1: import cycle: app.core.a -> app.core.b -> app.core.c -> "
        "app.core.a (function-level, module-level)"
    ]


def test_a_cycle_through_a_package_init_counts(tmp_path: Path) -> None:
    # The package re-exports a submodule that imports a name from the package itself.
    files = {**CLEAN, "app/core/__init__.py": "from .engine import run\nLIMIT = 3\n",
             "app/core/helpers.py": "from app.core import LIMIT\n"}  # fmt: skip
    code, lines = _check(_tree(tmp_path, files))
    assert code == 1
    assert lines == [
        "src/app/core/__init__.py:1: import cycle: app.core -> app.core.engine -> "
        "app.core.helpers -> app.core (module-level)"
    ]


def test_a_module_in_no_layer_and_a_missing_table_are_problems(tmp_path: Path) -> None:
    code, lines = _check(_tree(tmp_path, {**CLEAN, "app/extra.py": ""}))
    assert (code, lines) == (1, ["src/app/extra.py:1: app.extra is in no layer of the table"])

    code, lines = _check(_tree(tmp_path, CLEAN, layers="# no table here\n"))
    assert code == 1
    assert lines == ["docs/architecture.md:1: cannot read the layer table: no ```layers block"]


def test_the_most_specific_pattern_decides_the_layer(tmp_path: Path) -> None:
    # app.wire.* is the wire layer, but a module named exactly goes where it is named.
    layers = LAYERS.replace("top:   app.client app", "top:   app.client app app.wire.legacy")
    files = {**CLEAN, "app/wire/legacy.py": "from app.client import Client\n"}
    assert _check(_tree(tmp_path, files, layers)) == (0, [])
