"""``llmswitch.toml`` sections for the platform half ([storage], [keys], [config]),
``[env.NAME]`` overlays selected by ``LLMSWITCH_ENV``, and collecting every problem of
a file in one run (``check_config``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmswitch.config import _spec, check_config, load_config
from llmswitch.errors import ConfigurationError
from tests.support.config import write

PLATFORM = """\
[storage]
database_url = "${DB_URL}"

[keys]
kek = "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k"
require_user_keys = true
cache_ttl = 30
refresh = 2.5

[config]
watch = true
"""
DB_URL = "postgresql://llm:pa55w0rd-SECRET@db.internal/llm"


def test_platform_sections_fill_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, PLATFORM), {"DB_URL": DB_URL})
    assert config.database_url == DB_URL
    assert config.kek == "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k"
    assert config.require_user_keys is True
    assert config.key_cache_ttl == 30.0 and isinstance(config.key_cache_ttl, float)
    assert config.key_refresh == 2.5
    assert config.watch is True
    # The database URL may carry a password: not in the repr.
    assert "pa55w0rd" not in repr(config)


def test_platform_defaults_without_the_sections(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[aliases]\nfast = 'openai/gpt-4o-mini'\n"), {})
    assert config.database_url is None and config.kek is None
    assert config.require_user_keys is False and config.watch is False
    assert config.key_cache_ttl is None and config.key_refresh is None
    assert config.overlay is None


def test_empty_interpolated_values_mean_the_default(tmp_path: Path) -> None:
    text = '[storage]\ndatabase_url = "${DB:-}"\n[keys]\nkek = "${KEK:-}"\n'
    config = load_config(write(tmp_path, text), {})
    assert config.database_url is None and config.kek is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[storage]\ndatabase_url = "mysql://u:p@h/db"\n',
         ":2: storage.database_url: database URL 'mysql://u:****@h/db' has an unsupported scheme"),
        ("[storage]\nurl = 'sqlite:///x'\n", ":2: storage.url: unknown setting (expected one of database_url)"),
        ('[keys]\nkek = "vault://x"\n', ":2: keys.kek: must be local:"),
        ('[keys]\nrequire_user_keys = "yes"\n',
         ":2: keys.require_user_keys: expected true or false, got a string"),
        ("[keys]\ncache_ttl = 0\n", ":2: keys.cache_ttl: must be > 0"),
        ("[keys]\nrefresh = 'often'\n", ":2: keys.refresh: expected a number, got a string"),
        ("[keys]\nrefresh = 1e12\n", ":2: keys.refresh: must be at most 31536000"),
        ("[config]\nwatch = 1\n", ":2: config.watch: expected true or false, got an integer"),
        ("[config]\npoll = 1\n", ":2: config.poll: unknown setting (expected one of watch)"),
        ("storage = 3\n", ":1: storage: expected a table, got an integer"),
    ],
)  # fmt: skip
def test_platform_section_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {})
    assert str(info.value) == f"{path}{expected}" or str(info.value).startswith(f"{path}{expected}")


@pytest.mark.parametrize(
    ("kek", "expected"),
    [
        ("gcp-kms://projects/P", "must be gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K"),
        ("gcp-kms://projects/p/locations/l/keyRings/r", "must be gcp-kms://projects/P/locations/"),
        ("aws-kms://arn:aws:kms:eu-west-1:123:key/x", "must be aws-kms://arn:aws:kms:REGION:"),
        ("aws-kms://alias/mine", "must be aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID"),
        ("kms://x", "must be local:, local:/path/to/keyfile, gcp-kms://"),
    ],
)  # fmt: skip
def test_a_malformed_kek_uri_fails_at_load(tmp_path: Path, kek: str, expected: str) -> None:
    path = write(tmp_path, f'[keys]\nkek = "{kek}"\n')
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {})
    assert str(info.value).startswith(f"{path}:2: keys.kek: {expected}")


def test_well_formed_kek_uris_load_without_a_kms_client(tmp_path: Path) -> None:
    import subprocess
    import sys

    keks = [
        "local:",
        "local:/etc/llmswitch/master.key",  # read when the vault is used, not at load
        "gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k",
        "aws-kms://arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ]
    for i, kek in enumerate(keks):
        assert load_config(write(tmp_path, f'[keys]\nkek = "{kek}"\n', f"{i}.toml"), {}).kek == kek
    code = (
        "import sys; from llmswitch.config import load_config; "
        f"load_config({str(tmp_path / '3.toml')!r}, {{}}); "
        "bad = [m for m in ('cryptography', 'boto3', 'google.cloud.kms') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_config_check_wants_the_key_file_to_exist_here(tmp_path: Path) -> None:
    import os

    missing = write(tmp_path, f'[keys]\nkek = "local:{tmp_path}/nope.key"\n', "a.toml")
    assert [str(p) for p in check_config(missing, {})[1]] == [
        f"{missing}:2: keys.kek: the key file {tmp_path}/nope.key does not exist"
    ]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    piped = write(tmp_path, f'[keys]\nkek = "local:{fifo}"\n', "b.toml")
    # stat only: a FIFO would block an open
    assert [str(p) for p in check_config(piped, {})[1]] == [
        f"{piped}:2: keys.kek: the key file {fifo} is not a regular file"
    ]
    (tmp_path / "ok.key").write_text("x")
    present = write(tmp_path, f'[keys]\nkek = "local:{tmp_path}/ok.key"\n', "c.toml")
    assert check_config(present, {}) == (present, [])


def test_relative_paths_are_taken_from_the_config_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmswitch.config import storage_url

    folder = tmp_path / "conf dir?x%41"  # characters a URL path would misread
    folder.mkdir()
    (folder / "master.key").write_text("x")
    path = write(
        folder,
        '[storage]\ndatabase_url = "sqlite:///data/keys.db"\n[keys]\nkek = "local:master.key"\n'
        '[env.prod.storage]\ndatabase_url = "sqlite:///prod.db"\n',
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path, {})
    assert config.kek == f"local:{folder}/master.key"
    from llmswitch.storage.sql import open_database

    assert open_database(config.database_url).url == f"sqlite:///{folder}/data/keys.db"
    assert open_database(storage_url(path, {})).url == f"sqlite:///{folder}/data/keys.db"
    prod = load_config(path, {}, overlay="prod").database_url
    assert open_database(prod).url == f"sqlite:///{folder}/prod.db"
    assert check_config(path, {}) == (path, [])  # the key file is found next to the config
    # Relative to the file also when the file itself is named relatively.
    monkeypatch.chdir(tmp_path)
    assert load_config(Path(folder.name) / path.name, {}).kek == f"local:{folder}/master.key"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/llmswitch/a.db",
        "sqlite:///~/a.db",
        "sqlite:///:memory:",
        "postgresql://llm@db/llm",
    ],
)
def test_absolute_and_other_urls_are_kept_as_written(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f'[storage]\ndatabase_url = "{url}"\n[keys]\nkek = "local:~/m.key"\n')
    config = load_config(path, {})
    assert (config.database_url, config.kek) == (url, "local:~/m.key")


def test_database_url_error_never_shows_the_password(tmp_path: Path) -> None:
    path = write(tmp_path, '[storage]\ndatabase_url = "${DB_URL}"\n')
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {"DB_URL": "mysql://u:hunter2-SECRET@h/db"})
    assert "hunter2" not in str(info.value)


# --------------------------------------------------------------------------- overlays

OVERLAID = """\
[providers.vllm]
kind = "openai-compatible"
base_url = "http://localhost:8000/v1"
headers = { x-team = "search", x-tier = "dev" }

[retry]
attempts = 2
max_delay = 4

[[limits]]
scope = "provider"
requests_per_minute = 10

[aliases]
fast = "vllm/qwen"

[env.prod.providers.vllm]
base_url = "https://vllm.prod.internal/v1"
headers = { x-tier = "prod" }

[env.prod.retry]
attempts = 5

[[env.prod.limits]]
scope = "user"
requests_per_minute = 100

[[env.prod.limits]]
scope = "provider"
tokens_per_minute = 1000

[env.staging]
aliases = { fast = "openai/gpt-4o-mini" }
"""


def test_without_an_overlay_the_base_file_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, OVERLAID), {})
    assert config.overlay is None
    assert config.providers["vllm"].base_url == "http://localhost:8000/v1"
    assert config.retry is not None and config.retry.attempts == 2


def test_the_selected_overlay_merges_deeply(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, OVERLAID), {"LLMSWITCH_ENV": "prod"})
    assert config.overlay == "prod"
    vllm = config.providers["vllm"]
    # tables merge key by key...
    assert vllm.kind == "openai-compatible"
    assert vllm.base_url == "https://vllm.prod.internal/v1"
    assert dict(vllm.headers) == {"x-team": "search", "x-tier": "prod"}
    assert config.retry is not None
    assert (config.retry.attempts, config.retry.max_delay) == (5, 4.0)
    # ...arrays replace the base's array as a whole
    assert [
        (lim.scope, lim.requests_per_minute, lim.tokens_per_minute) for lim in config.limits
    ] == [
        ("user", 100, None),
        ("provider", None, 1000),
    ]
    assert config.aliases == {"fast": "vllm/qwen"}


def test_the_overlay_argument_overrides_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, OVERLAID)
    config = load_config(path, {"LLMSWITCH_ENV": "prod"}, overlay="staging")
    assert config.overlay == "staging"
    assert config.aliases == {"fast": "openai/gpt-4o-mini"}


def test_an_empty_selection_means_no_overlay(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, OVERLAID), {"LLMSWITCH_ENV": ""}).overlay is None


def test_an_unknown_overlay_names_itself_and_the_defined_ones(tmp_path: Path) -> None:
    path = write(tmp_path, OVERLAID)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {"LLMSWITCH_ENV": "qa"})
    assert str(info.value) == (
        f"{path}:17: env: overlay 'qa' (from $LLMSWITCH_ENV) is not defined in this file "
        "(defined: prod, staging)"
    )
    path = write(tmp_path, "[aliases]\nfast = 'openai/gpt-4o'\n", "plain.toml")
    with pytest.raises(
        ConfigurationError, match=r"overlay 'qa' is not defined .*\(defined: none\)"
    ):
        load_config(path, {}, overlay="qa")


def test_errors_inside_an_overlay_point_at_its_lines(tmp_path: Path) -> None:
    text = (
        OVERLAID
        + '\n[env.broken.providers.vllm]\nbase_url = "ftp://x"\n[env.broken.retry]\nattempts = 0\n'
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {"LLMSWITCH_ENV": "broken"})
    assert (
        str(info.value) == f"{path}:36: providers.vllm.base_url: must be an http:// or https:// URL"
    )
    _, problems = check_config(path, {"LLMSWITCH_ENV": "broken"})
    assert [str(p) for p in problems] == [
        f"{path}:36: providers.vllm.base_url: must be an http:// or https:// URL",
        f"{path}:38: retry.attempts: RetryPolicy.attempts must be an integer >= 1",
    ]
    # the base's own keys keep their lines under an overlay
    path = write(tmp_path, "[retry]\nattempts = 0\n[env.prod.retry]\nmax_delay = 1\n", "b.toml")
    with pytest.raises(ConfigurationError, match=r"b.toml:2: retry.attempts"):
        load_config(path, {"LLMSWITCH_ENV": "prod"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("env = 3\n", ":1: env: expected a table of [env.NAME] tables, got an integer"),
        ("[env]\nprod = 3\n", ":2: env.prod: expected a table, got an integer"),
        ("[env.prod]\nversion = 2\n", ":2: env.prod.version: unknown setting (expected one of providers,"),
        ("[env.prod.env.x]\n", ":1: env.prod.env: unknown setting"),
    ],
)  # fmt: skip
def test_overlay_structure_is_checked_even_when_not_selected(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, {})
    assert str(info.value).startswith(f"{path}{expected}")


# --------------------------------------------------------------------------- check_config

MANY_PROBLEMS = """\
version = 2

[providers.vllm]
kind = "openai-compatible"

[providers.openai]
api_base = "x"

[providers.anthropic]
api_key = "${ANTHROPIC_API_KEY}"

[retry]
attempts = 0

[[limits]]
requests_per_minute = 5

[keys]
cache_ttl = -1
"""


def test_check_config_reports_every_independent_problem_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, MANY_PROBLEMS)
    file, problems = check_config(path, {})
    assert file == path
    assert [str(p).removeprefix(f"{path}:") for p in problems] == [
        # every top-level section, in the order the spec declares them
        f"1: version: unknown setting (expected one of {', '.join(_spec.ROOT.keys)})",
        "3: providers.vllm: kind 'openai-compatible' needs base_url",
        "7: providers.openai.api_base: unknown provider setting "
        f"(expected one of {', '.join(_spec.PROVIDER.keys)})",
        "10: providers.anthropic.api_key: environment variable ANTHROPIC_API_KEY is not set",
        "13: retry.attempts: RetryPolicy.attempts must be an integer >= 1",
        "15: limits[0]: a limit needs scope = 'provider', 'deployment', 'user' or 'key'",
        "19: keys.cache_ttl: must be > 0",
    ]
    # load_config still raises the first
    with pytest.raises(ConfigurationError, match=r":1: version: unknown setting"):
        load_config(path, {})


def test_out_of_range_numbers_do_not_hide_the_other_problems(tmp_path: Path) -> None:
    text = (
        "[retry]\nattempts = -1\n"
        "[queue]\nmax_wait = 1e9\n"
        "[breaker]\nwindow = -1\n"
        "[providers.openai]\ntimeout = inf\nbogus = 1\n"  # one problem per table: the first
        "[env.prod.retry]\nattempts = 1000\n"  # an overlay's numbers too, when not selected
    )
    path = write(tmp_path, text)
    _, problems = check_config(path, {})
    assert [str(p).removeprefix(f"{path}:") for p in problems] == [
        "2: retry.attempts: RetryPolicy.attempts must be an integer >= 1",
        "4: queue.max_wait: must be at most 31536000",
        "6: breaker.window: breaker window must be > 0 seconds",
        "8: providers.openai.timeout: must be a finite number (nan and inf are not allowed)",
        "11: env.prod.retry.attempts: must be at most 100",
    ]
    with pytest.raises(ConfigurationError, match=r":4: queue.max_wait: "):
        load_config(path, {})  # load_config raises one: numbers' bounds are checked first


def test_check_config_of_a_good_file_and_of_none(tmp_path: Path) -> None:
    path = write(tmp_path, OVERLAID)
    assert check_config(path, {}) == (path, [])
    assert check_config(path, {"LLMSWITCH_ENV": "prod"}) == (path, [])
    assert check_config(None, {}) == (None, [])  # no ./llmswitch.toml: nothing to check


def test_check_config_syntax_and_encoding_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "[retry\nattempts = 1\n")
    _, problems = check_config(path, {})
    assert len(problems) == 1 and str(problems[0]).startswith(f"{path}:1:")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"# caf\xe9\n")
    _, problems = check_config(bad, {})
    assert [str(p) for p in problems] == [f"{bad}:1: the file is not valid UTF-8"]


def test_storage_url_reads_only_what_it_needs(tmp_path: Path) -> None:
    from llmswitch.config import storage_url

    text = (
        '[providers.openai]\napi_key = "${UNSET_KEY}"\n'
        '[storage]\ndatabase_url = "sqlite:////var/lib/llmswitch/a.db"\n'
        '[env.prod.storage]\ndatabase_url = "postgresql://llm@db/llm"\n'
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError, match="UNSET_KEY is not set"):
        load_config(path, {})
    assert storage_url(path, {}) == "sqlite:////var/lib/llmswitch/a.db"
    assert storage_url(path, {"LLMSWITCH_ENV": "prod"}) == "postgresql://llm@db/llm"
    assert storage_url(write(tmp_path, "[retry]\nattempts = 2\n", "none.toml"), {}) is None
    assert storage_url(None, {}) is None  # no file at all
    with pytest.raises(ConfigurationError, match="overlay 'qa'"):
        storage_url(path, {"LLMSWITCH_ENV": "qa"})
    # an unknown key elsewhere does not matter; a broken [storage] does
    broken = write(tmp_path, "x = 1\nstorage = 1\n", "broken.toml")
    with pytest.raises(ConfigurationError, match=r"broken.toml:2: storage: expected a table"):
        storage_url(broken, {})
