"""What the test modules share, one implementation each.

- ``fixtures``: provider byte fixtures (``fixture(provider, name)``, ``Fixtures``).
- ``streams``: byte splitters and ``Feeder`` (a stream parser fed pieces, and the
  ``ChatResponse`` the events add up to).
- ``loopback``: the HTTP/1.1 server replaying exact bytes, and reply builders.
- ``upstreams``: each provider as the client sees it on a loopback (env, paths, clients).
- ``openai``, ``bedrock``: provider-specific helpers (event-stream frames, SigV4 check).
- ``state``: Redis availability, key-prefix cleanup, a fake clock, multi-process runs.
- ``cli``, ``config``: running the CLI in-process, writing an ``llmswitch.toml``.
"""
