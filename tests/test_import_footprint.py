"""What ``import llmswitch`` loads: a sync script or a CLI start should not pay for
asyncio (~18 ms) or logging (~6 ms) before it uses them; both arrive with the first
module that needs them, and the library's NullHandler with the first that logs."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_llmswitch_loads_neither_asyncio_nor_logging() -> None:
    out = _run(
        "import sys, llmswitch\n"
        "print(sorted(m for m in ('asyncio', 'logging', 'ssl', 'socket') if m in sys.modules))"
    )
    assert out == "[]"


def test_the_first_module_that_logs_adds_the_null_handler_once() -> None:
    out = _run(
        "import sys\n"
        "from llmswitch import Client\n"
        "from llmswitch.testing import FakeProvider\n"
        "fake = FakeProvider()\n"
        "fake.reply('hello')\n"
        "msgs = [{'role': 'user', 'content': 'hi'}]\n"
        "print(Client(providers=[fake]).chat('fake/m', msgs).text)\n"
        "from llmswitch.middleware import Retry\n"  # a module that logs
        "import logging\n"
        "print([type(h).__name__ for h in logging.getLogger('llmswitch').handlers])\n"
        "import llmswitch.usage.ledger, llmswitch.keys.pool\n"  # more of them: still one
        "print(len(logging.getLogger('llmswitch').handlers))\n"
    )
    assert out.splitlines() == ["hello", "['NullHandler']", "1"]


def test_the_first_token_deadline_fires_in_a_fresh_interpreter() -> None:
    # FirstTokenTimer and its watchdog import asyncio where they run, not at import.
    out = _run(
        "import asyncio\n"
        "from llmswitch.providers.runtime import FirstTokenTimer\n"
        "async def main():\n"
        "    timer = FirstTokenTimer(0.01)\n"
        "    try:\n"
        "        await asyncio.sleep(30)\n"
        "    except asyncio.CancelledError:\n"
        "        print('expired' if timer.expired() else 'cancelled by someone else')\n"
        "    finally:\n"
        "        timer.cancel()\n"
        "asyncio.run(main())\n"
    )
    assert out == "expired"
