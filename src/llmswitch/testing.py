"""Test your own code without a network: a scripted provider and a network guard.

:class:`FakeProvider` plays a provider from a script. Queue replies, hand it to the
client, and every ``"fake/<any model>"`` call consumes the next one::

    from llmswitch import Client
    from llmswitch.errors import RateLimitError
    from llmswitch.testing import FakeProvider

    fake = FakeProvider()
    fake.reply("Hello there")
    fake.reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    fake.reply(error=RateLimitError("slow down", retry_after=1.5))
    fake.reply("partial answer", error_after=3)        # fails mid-stream after 3 events
    fake.reply("slow", latency=0.2, chunk_delay=0.01)  # time to first token, between chunks

    client = Client(providers=[fake])
    assert client.chat("fake/m", messages=[{"role": "user", "content": "Hi"}]).text == "Hello there"
    assert fake.requests[0].messages[0].text == "Hi"

Queued replies are used first, in order; then the default (``default_reply(...)`` or
``respond_with(fn)``, where ``fn(request)`` returns a reply); with neither, the call
fails with :class:`NoScriptedReplyError`. Streams look like a real provider's:
``StreamStart``, reasoning, text in word-sized chunks, tool calls as start / argument
fragments / end, then ``StreamEnd`` with usage (estimated at ~4 characters a token
unless scripted). ``chat()`` returns exactly what the accumulated stream gives.

:class:`block_network` fails a test loudly (:class:`NetworkAccessError`, an
``AssertionError``) when code under it connects to, sends to, or resolves anything but
loopback; unix sockets are fine. It is a context manager and a decorator (sync or
async functions). It guards Python's :mod:`socket` module, which the standard event
loop, urllib3 and aiohttp go through; C libraries with their own sockets (uvloop,
c-ares) are beyond its reach.

pytest: add ``pytest_plugins = ["llmswitch.testing"]`` to your top-level
``conftest.py`` to get two fixtures::

    def test_answer(fake_provider, no_network):
        fake_provider.reply("42")
        client = Client(providers=[fake_provider])
        assert client.chat("fake/any", messages=[...]).text == "42"

``fake_provider`` is a fresh :class:`FakeProvider`; ``no_network`` applies
:class:`block_network` for the test and yields the guard (``guard.blocked`` lists
refused addresses, even ones the code under test swallowed).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from ._netguard import NetworkAccessError, block_network
from .providers.fake import FakeProvider, FakeReply, NoScriptedReplyError, ReplySpec

__all__ = [
    "FakeProvider",
    "FakeReply",
    "NetworkAccessError",
    "NoScriptedReplyError",
    "ReplySpec",
    "block_network",
]


# --------------------------------------------------------------------------- pytest plugin

# ``pytest_plugins = ["llmswitch.testing"]`` imports this module from inside pytest;
# anywhere else pytest is not imported just for this.
if "pytest" in sys.modules:
    import pytest

    @pytest.fixture
    def fake_provider() -> FakeProvider:
        """A fresh :class:`FakeProvider` with id ``"fake"``."""
        return FakeProvider()

    @pytest.fixture
    def no_network() -> Iterator[block_network]:
        """Fail the test if it touches anything but loopback; yields the guard."""
        with block_network() as guard:
            yield guard
