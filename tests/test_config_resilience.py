"""The resilience stack composed from ``llmswitch.toml``: [state], [retry], [breaker],
[[limits]], [[quotas]], [queue], provider key pools and per-deployment rpm/tpm."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from llmswitch import AsyncClient, Client
from llmswitch.config import load_config
from llmswitch.errors import (
    AllProvidersFailedError,
    CircuitOpenError,
    ConfigurationError,
    ProviderUnavailableError,
    QuotaExceeded,
    RateLimitExceeded,
)
from llmswitch.keys import KeyRotation
from llmswitch.middleware import CircuitBreaker, Middleware, RateLimiter, Retry, Router
from llmswitch.middleware._stack import DeploymentLimits
from llmswitch.middleware.retry import RetryPolicy, no_sleep
from llmswitch.testing import FakeProvider
from tests.support.config import write
from tests.support.loopback import Loopback, Recorded, Reply
from tests.support.openai import fixture
from tests.support.state import REDIS_URL, redis_or_skip

HI = [{"role": "user", "content": "hi"}]
KEY_A = "sk-KEYA-QWERTYUIOPASDFGHJKL"
KEY_B = "sk-KEYB-ZXCVBNMQWERTYUIOPLK"
ENV = {"OPENAI_KEY_A": KEY_A, "OPENAI_KEY_B": KEY_B}

FULL = """\
[state]
url = "memory://"

[retry]
attempts = 4
deadline = 30

[breaker]
min_calls = 5
failure_rate = 0.25

[[limits]]
scope = "user"
requests_per_minute = 500

[[limits]]
scope = "deployment"
tokens_per_minute = 200000

[[quotas]]
period = "day"
requests = 1000

[queue]
max_wait = 0

[providers.openai]
keys = ["${OPENAI_KEY_A}", "${OPENAI_KEY_B}"]
key_strategy = "least-used"

[[models.smart.deployments]]
model = "openai/gpt-4o"
rpm = 100
tpm = 50000
"""


class Tag(Middleware):
    """A user layer the tests can find in the pipeline."""


class PerAttemptTag(Middleware):
    per_attempt = True


# --------------------------------------------------------------------------- parsing


def test_every_section_parses(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), ENV)
    assert config.state == "memory://"
    assert config.retry is not None and config.retry.attempts == 4
    assert config.retry.deadline == 30 and config.retry.initial == RetryPolicy().initial
    assert config.breaker is not None
    assert (config.breaker.min_calls, config.breaker.failure_rate) == (5, 0.25)
    assert [(x.scope, x.requests_per_minute, x.tokens_per_minute) for x in config.limits] == [
        ("user", 500, None),
        ("deployment", None, 200000),
    ]
    assert [(q.period, q.requests, q.tokens) for q in config.quotas] == [("day", 1000, None)]
    assert config.max_wait == 0
    openai = config.providers["openai"]
    assert [k.get() for k in openai.keys] == [KEY_A, KEY_B]
    assert openai.key_strategy == "least-used"
    assert openai.api_key is not None and openai.api_key.get() == KEY_A  # builds the provider
    (dep,) = config.models["smart"].deployments
    assert (dep.rpm, dep.tpm) == (100, 50000)
    assert config.resilient


def test_key_pool_secrets_stay_out_of_reprs(tmp_path: Path) -> None:
    openai = load_config(write(tmp_path, FULL), ENV).providers["openai"]
    shown = repr(openai)
    assert KEY_A not in shown and KEY_B not in shown and "keys=" in shown


def test_no_sections_means_not_resilient(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[aliases]\nfast = "openai/gpt-4o-mini"\n'), ENV)
    assert (config.retry, config.breaker, config.limits, config.quotas) == (None, None, (), ())
    assert not config.resilient


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[retry]\nattempts = 3\ntries = 2\n", ":3: retry.tries: unknown setting"),
        ("[retry]\nattempts = 0\n", ":2: retry.attempts: RetryPolicy.attempts must be an integer"),
        ('[retry]\ndeadline = "soon"\n', ":2: retry.deadline: RetryPolicy.deadline must be"),
        ("retry = 3\n", ":1: retry: expected a table, got an integer"),
        ("[breaker]\n\nfailure_rate = 2\n", ":3: breaker.failure_rate: must be at most 1"),
        ("[breaker]\n\nfailure_rate = 0\n", ":3: breaker.failure_rate: breaker failure_rate"),
        ("[breaker]\nmin_calls = 1.5\n", ":2: breaker.min_calls: breaker min_calls must be"),
        ("[breaker]\nopen_for = 3\n", ":2: breaker.open_for: unknown setting"),
        (
            '[[limits]]\nscope = "user"\nrequests_per_minute = 5\n[[limits]]\nscope = "team"\n'
            "requests_per_minute = 5\n",
            ":5: limits[1].scope: limit scope must be provider, deployment, user or key",
        ),
        ("[[limits]]\nrequests_per_minute = 5\n", ":1: limits[0]: a limit needs scope"),
        ('[[limits]]\nscope = "user"\n', ":2: limits[0].scope: a limit needs requests_per_minute"),
        (
            '[[limits]]\nscope = "user"\nrequests_per_minute = 0\n',
            ":3: limits[0].requests_per_minute: requests_per_minute must be an integer >= 1",
        ),
        ("limits = 5\n", ":1: limits: expected an array of tables [[limits]]"),
        ('[[quotas]]\nperiod = "week"\nrequests = 5\n', ":2: quotas[0].period: quota period"),
        ('[[quotas]]\nper = "team"\nrequests = 5\n', ":2: quotas[0].per: quotas are per user"),
        ("[queue]\nmax_wait = -1\n", ":2: queue.max_wait: must be a number of seconds >= 0"),
        ('[state]\nurl = "postgres://db"\n', ":2: state.url: must be memory:// or redis://"),
        ('[state]\nhost = "localhost"\n', ":2: state.host: unknown setting"),
        (
            '[providers.openai]\napi_key = "sk-1"\nkeys = ["sk-2"]\n',
            ":3: providers.openai.keys: set api_key or keys (a key pool), not both",
        ),
        ("[providers.openai]\nkeys = []\n", ":2: providers.openai.keys: expected a non-empty"),
        ("[providers.openai]\nkeys = [1]\n", ":2: providers.openai.keys: expected a string"),
        (
            '[providers.openai]\nkeys = ["${NOPE}"]\n',
            ":2: providers.openai.keys: environment variable NOPE is not set",
        ),
        (
            '[providers.openai]\nkeys = ["a"]\nkey_strategy = "random"\n',
            ":3: providers.openai.key_strategy: unknown strategy 'random'",
        ),
        (
            '[providers.openai]\nkey_strategy = "least-used"\n',
            ":2: providers.openai.key_strategy: only applies with keys = [...]",
        ),
        (
            '[[models.g.deployments]]\nmodel = "a/x"\nrpm = 0\n',
            ":3: models.g.deployments[0].rpm: must be an integer >= 1",
        ),
        (
            '[[models.g.deployments]]\nmodel = "a/x"\ntpm = "lots"\n',
            ":3: models.g.deployments[0].tpm: must be an integer >= 1",
        ),
        (
            '[[models.g.deployments]]\nmodel = "openai/x"\nbase_url = "ftp://h/v1"\n',
            ":3: models.g.deployments[0].base_url: must be an http:// or https:// URL",
        ),
    ],
)
def test_invalid_sections_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {})
    assert str(info.value).startswith(f"{path}{expected}"), str(info.value)


def test_secrets_never_appear_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, '[state]\nurl = "postgres://admin:hunter2@db"\n')
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {})
    assert "hunter2" not in str(info.value)
    path = write(tmp_path, '[providers.openai]\napi_key = "${A}"\nkeys = ["${B}"]\n')
    with pytest.raises(ConfigurationError) as info:
        load_config(path, ENV | {"A": KEY_A, "B": KEY_B})
    assert KEY_A not in str(info.value) and KEY_B not in str(info.value)


# --------------------------------------------------------------------------- layer order


def layer_types(client: Client | AsyncClient) -> list[type]:
    assert client._pipeline is not None
    return [type(m) for m in client._pipeline.middleware]


def test_client_builds_the_design_order(tmp_path: Path) -> None:
    with Client(config=write(tmp_path, FULL), env=ENV) as client:
        assert layer_types(client) == [
            RateLimiter,  # user-scoped limits and quotas: the queue, before routing
            Router,
            DeploymentLimits,  # deployment-scoped [[limits]] and rpm/tpm, per routed call
            KeyRotation,
            CircuitBreaker,
            Retry,
        ]
        retry = client._pipeline.middleware[-1]  # type: ignore[union-attr]
        assert isinstance(retry, Retry) and retry.policy.attempts == 4
        breaker = client._pipeline.middleware[-2]  # type: ignore[union-attr]
        assert isinstance(breaker, CircuitBreaker) and breaker.policy.min_calls == 5


def test_layers_share_one_state_store(tmp_path: Path) -> None:
    with Client(config=write(tmp_path, FULL), env=ENV) as client:
        layers = client._pipeline.middleware  # type: ignore[union-attr]
        limiter, keys, breaker = layers[0], layers[3], layers[4]
        assert isinstance(limiter, RateLimiter) and isinstance(breaker, CircuitBreaker)
        assert isinstance(keys, KeyRotation)
        assert limiter.store is breaker.store is keys.pools["openai"].store


def test_without_a_router_limits_stay_outermost(tmp_path: Path) -> None:
    text = '[retry]\n[[limits]]\nscope = "provider"\nrequests_per_minute = 5\n'
    with Client(config=write(tmp_path, text), env=ENV) as client:
        assert layer_types(client) == [RateLimiter, Retry]


def test_user_layers_go_outermost_and_user_builtins_replace_configured(tmp_path: Path) -> None:
    mine = Retry(RetryPolicy(attempts=9))
    tag, inner = Tag(), PerAttemptTag()
    with Client(config=write(tmp_path, FULL), env=ENV, middleware=[mine, inner, tag]) as client:
        layers = client._pipeline.middleware  # type: ignore[union-attr]
        assert layers[0] is tag
        assert layer_types(client) == [
            Tag, RateLimiter, Router, DeploymentLimits, PerAttemptTag, KeyRotation,
            CircuitBreaker, Retry,
        ]  # fmt: skip
        assert layers[-1] is mine  # the configured [retry] is gone
        assert sum(isinstance(m, Retry) for m in layers) == 1


def test_no_resilience_sections_keep_the_fast_path(tmp_path: Path) -> None:
    # The default retry keeps the fast path too: it joins only after a first failure.
    with Client(config=write(tmp_path, '[state]\nurl = "memory://"\n'), env=ENV) as client:
        assert client._pipeline is None
    text = '[[models.g.deployments]]\nmodel = "fake/m"\n'
    with Client(max_retries=0, config=write(tmp_path, text), env=ENV, middleware=[Tag()]) as client:
        assert layer_types(client) == [Tag, Router]  # unchanged behaviour without sections


# --------------------------------------------------------------------------- end to end

E2E = """\
[retry]
attempts = 3
[breaker]
min_calls = 2
failure_rate = 0.5
cooldown = 30
"""


def test_retry_from_toml_recovers_a_flaky_provider(tmp_path: Path) -> None:
    fake = FakeProvider("fake").reply(error=ProviderUnavailableError("down", status_code=503))
    fake.reply("ok")
    with no_sleep() as slept, Client(config=write(tmp_path, E2E), providers=[fake]) as client:
        assert client.chat("fake/m", HI).text == "ok"
    assert fake.calls == 2 and len(slept) == 1


def test_breaker_from_toml_opens_after_failures(tmp_path: Path) -> None:
    text = E2E.replace("attempts = 3", "attempts = 1")
    fake = FakeProvider("fake", default={"error": ProviderUnavailableError("down")})
    with Client(config=write(tmp_path, text), providers=[fake]) as client:
        for _ in range(2):
            with pytest.raises(ProviderUnavailableError):
                client.chat("fake/m", HI)
        with pytest.raises(CircuitOpenError):
            client.chat("fake/m", HI)
    assert fake.calls == 2  # the open breaker kept the third call off the provider


async def test_async_client_gets_the_same_stack(tmp_path: Path) -> None:
    fake = FakeProvider("fake").reply(error=ProviderUnavailableError("down", status_code=503))
    fake.reply("streamed")
    async with AsyncClient(config=write(tmp_path, E2E), providers=[fake]) as client:
        assert layer_types(client) == [CircuitBreaker, Retry]
        with no_sleep():
            async with client.stream("fake/m", HI) as stream:
                assert (await stream.get_response()).text == "streamed"
    assert fake.calls == 2


def test_user_limits_and_quotas_from_toml(tmp_path: Path) -> None:
    text = """\
[queue]
max_wait = 0
[[limits]]
scope = "user"
requests_per_minute = 2
[[quotas]]
period = "day"
requests = 3
"""
    fake = FakeProvider("fake", default="ok")
    with Client(config=write(tmp_path, text), providers=[fake]) as client:
        client.chat("fake/m", HI, user="ann")
        client.chat("fake/m", HI, user="ann")
        with pytest.raises(RateLimitExceeded) as info:
            client.chat("fake/m", HI, user="ann")  # no waiting: [queue] max_wait = 0
        assert info.value.retry_after is not None and info.value.retry_after > 0
        client.chat("fake/m", HI, user="bob")
        client.chat("fake/m", HI, user="bob")
    assert fake.calls == 4
    with Client(config=write(tmp_path, text.replace("= 2", "= 100")), providers=[fake]) as c:
        for _ in range(3):
            c.chat("fake/m", HI, user="cy")
        with pytest.raises(QuotaExceeded):
            c.chat("fake/m", HI, user="cy")


def test_deployment_rpm_sends_the_overflow_to_the_next_deployment(tmp_path: Path) -> None:
    text = """\
[[models.smart.deployments]]
model = "a/m"
rpm = 2
[[models.smart.deployments]]
model = "b/m"
"""
    a, b = FakeProvider("a", default="from a"), FakeProvider("b", default="from b")
    with Client(config=write(tmp_path, text), providers=[a, b]) as client:
        answers = [client.chat("smart", HI).text for _ in range(3)]
        assert answers == ["from a", "from a", "from b"]
        # b has no limit of its own: a direct call is never limited by a's rpm
        assert client.chat("b/m", HI).text == "from b"
        # a direct call to a is: rpm counts the deployment, not the route to it
        with pytest.raises(RateLimitExceeded):
            client.chat("a/m", HI)


def test_deployment_limits_apply_to_routed_calls_only_when_all_full(tmp_path: Path) -> None:
    text = """\
[[models.smart.deployments]]
model = "a/m"
rpm = 1
[[models.smart.deployments]]
model = "b/m"
rpm = 1
"""
    a, b = FakeProvider("a", default="from a"), FakeProvider("b", default="from b")
    with Client(config=write(tmp_path, text), providers=[a, b]) as client:
        assert [client.chat("smart", HI).text for _ in range(2)] == ["from a", "from b"]
        with pytest.raises(AllProvidersFailedError) as info:
            client.chat("smart", HI)
    assert [type(e) for e in info.value.errors] == [RateLimitExceeded, RateLimitExceeded]


RATE_LIMITED = Reply(
    status=429,
    headers={"retry-after": "20"},
    body=b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}',
)


def by_key(request: Recorded) -> Reply:
    if request.headers["authorization"] == f"Bearer {KEY_A}":
        return RATE_LIMITED
    return Reply(body=fixture("chat_text.json"))


def test_key_pool_from_toml_moves_from_a_rate_limited_key(
    tmp_path: Path, loopback: Loopback
) -> None:
    loopback.route("POST", "/v1/chat/completions", handler=by_key)
    text = f"""\
[providers.openai]
base_url = "{loopback.url}/v1"
keys = ["${{OPENAI_KEY_A}}", "${{OPENAI_KEY_B}}"]
"""
    with Client(config=write(tmp_path, text), env=ENV) as client:
        for _ in range(2):
            assert client.chat("openai/gpt-4o-mini", HI).text.startswith("Hello!")
        keys = client.status()
    sent = [r.headers["authorization"] for r in loopback.requests]
    assert sent == [f"Bearer {KEY_A}", f"Bearer {KEY_B}", f"Bearer {KEY_B}"]
    assert KEY_A not in repr(keys) and KEY_B not in repr(keys)


# --------------------------------------------------------------------------- redis


def test_redis_state_is_shared_between_clients(tmp_path: Path) -> None:
    redis_or_skip()
    import redis

    pid = f"fake-{uuid.uuid4().hex}"
    text = f'[state]\nurl = "{REDIS_URL}"\n' + E2E.replace("attempts = 3", "attempts = 1")
    path = write(tmp_path, text)
    first = FakeProvider(pid, default={"error": ProviderUnavailableError("down")})
    second = FakeProvider(pid, default="ok")
    try:
        with Client(config=path, providers=[first]) as client:
            breaker = client._pipeline.middleware[0]  # type: ignore[union-attr]
            assert type(breaker.store).__name__ == "RedisStore"  # type: ignore[attr-defined]
            for _ in range(2):
                with pytest.raises(ProviderUnavailableError):
                    client.chat(f"{pid}/m", HI)
        # A new client (another process, in effect) sees the breaker the first one opened.
        with Client(config=path, providers=[second]) as client:
            with pytest.raises(CircuitOpenError):
                client.chat(f"{pid}/m", HI)
        assert second.calls == 0
    finally:
        r = redis.Redis.from_url(REDIS_URL)
        keys = list(r.scan_iter(match=f"*{pid}*"))
        if keys:
            r.delete(*keys)
        r.close()


async def test_async_stream_falls_back_past_a_full_deployment(tmp_path: Path) -> None:
    text = '[[models.s.deployments]]\nmodel = "a/m"\nrpm = 1\n[[models.s.deployments]]\nmodel = "b/m"\n'
    a, b = FakeProvider("a", default="from a"), FakeProvider("b", default="from b")
    async with AsyncClient(config=write(tmp_path, text), providers=[a, b]) as client:
        texts = []
        for _ in range(2):
            async with client.stream("s", HI) as stream:
                texts.append((await stream.get_response()).text)
    assert texts == ["from a", "from b"]


def test_with_retry_configured_a_rate_limited_key_is_left_at_once(
    tmp_path: Path, loopback: Loopback
) -> None:
    """Retry sits inside the key pick: a 429 with another key available goes straight
    to the next key instead of waiting out retry-after (20 s here) on the same one."""
    loopback.route("POST", "/v1/chat/completions", handler=by_key)
    text = f"""\
[providers.openai]
base_url = "{loopback.url}/v1"
keys = ["${{OPENAI_KEY_A}}", "${{OPENAI_KEY_B}}"]

[retry]
attempts = 3
"""
    from llmswitch.middleware.retry import no_sleep

    with no_sleep() as slept, Client(config=write(tmp_path, text), env=ENV) as client:
        assert client.chat("openai/gpt-4o-mini", HI).text.startswith("Hello!")
    sent = [r.headers["authorization"] for r in loopback.requests]
    assert sent == [f"Bearer {KEY_A}", f"Bearer {KEY_B}"]
    assert slept == []
