from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmswitch.config import (
    BUILTIN_PROVIDERS,
    KINDS,
    Config,
    ProviderConfig,
    key_lines,
    load_config,
)
from llmswitch.errors import ConfigurationError, LLMError
from llmswitch.wire import Secret, Timeout
from tests.support.config import write

SECRET = "sk-test-supersecretvalue-1234567890"
# No known key shape: errors.redact() cannot catch it, so the loader itself must not echo it.
PLAIN = "hunter2-correct-horse-battery"

FULL = """\
# team config
[providers.vllm]
kind = "openai-compatible"
base_url = "http://localhost:8000/v1"
api_key = "${VLLM_API_KEY}"
headers = { "x-team" = "search" }

[providers.openai]
base_url = "https://proxy.internal/v1"
api_key = "${OPENAI_KEY_TEAM_A}"
organization = "org-1"

[providers.azure]
base_url = "https://myres.openai.azure.com"
api_version = "2024-10-21"

[providers.vllm.timeout]
total = 120

[aliases]
smart = "anthropic/claude-sonnet-4-5"
fast = "openai/gpt-4o-mini"
"""


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(path, env=env or {})
    return str(info.value)


# --------------------------------------------------------------------------- happy path


def test_full_example_loads(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    env = {"VLLM_API_KEY": SECRET, "OPENAI_KEY_TEAM_A": "sk-team-a-0000000000"}
    cfg = load_config(path, env=env)

    assert cfg.path == path.resolve()
    assert set(cfg.providers) == {"vllm", "openai", "azure"}
    vllm = cfg.providers["vllm"]
    assert vllm.kind == "openai-compatible"
    assert vllm.base_url == "http://localhost:8000/v1"
    assert vllm.api_key == Secret(SECRET)
    assert dict(vllm.headers) == {"x-team": "search"}
    assert vllm.timeout == Timeout(connect=10.0, first_token=30.0, total=120)
    assert vllm.source == f"{path}:2"

    openai = cfg.providers["openai"]
    assert openai.kind is None  # built-in: kind comes from the id
    assert openai.effective_kind == "openai"
    assert openai.api_key is not None and openai.api_key.get() == "sk-team-a-0000000000"
    assert openai.organization == "org-1"
    assert openai.source == f"{path}:8"

    azure = cfg.providers["azure"]
    assert azure.api_version == "2024-10-21"
    assert azure.api_key is None and azure.timeout is None

    assert dict(cfg.aliases) == {
        "smart": "anthropic/claude-sonnet-4-5",
        "fast": "openai/gpt-4o-mini",
    }


def test_builtin_ids_and_kinds_live_in_one_place() -> None:
    builtin = {"openai", "azure", "anthropic", "gemini", "bedrock", "ollama", "vertex"}
    assert builtin <= set(BUILTIN_PROVIDERS)
    assert {"openai", "azure", "anthropic", "openai-compatible"} <= set(KINDS)


def test_dotted_and_inline_provider_tables(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[providers]\nlocal = { kind = "openai-compatible", base_url = "http://127.0.0.1:1/v1" }\n'
        'anthropic.base_url = "https://gw.example/anthropic"\n',
    )
    cfg = load_config(path, env={})
    assert cfg.providers["local"].base_url == "http://127.0.0.1:1/v1"
    assert cfg.providers["local"].source == f"{path}:2"
    assert cfg.providers["anthropic"].base_url == "https://gw.example/anthropic"
    assert cfg.providers["anthropic"].source == f"{path}:3"


def test_timeout_shorthand_is_total_seconds(tmp_path: Path) -> None:
    path = write(tmp_path, "[providers.openai]\ntimeout = 20\n")
    timeout = load_config(path, env={}).providers["openai"].timeout
    assert timeout is not None and timeout.total == 20 and timeout.first_token == 20


def test_alias_chain_resolves_to_final_target(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[aliases]\ndefault = "smart"\nsmart = "best"\nbest = "anthropic/claude-opus-4-1"\n',
    )
    aliases = load_config(path, env={}).aliases
    assert aliases["default"] == aliases["smart"] == "anthropic/claude-opus-4-1"


def test_alias_model_may_contain_slashes(tmp_path: Path) -> None:
    path = write(tmp_path, '[aliases]\nllama = "vllm/meta-llama/Llama-3.1-8B"\n')
    assert load_config(path, env={}).aliases["llama"] == "vllm/meta-llama/Llama-3.1-8B"


def test_empty_file_gives_empty_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "# nothing yet\n"), env={})
    assert cfg.providers == {} and cfg.aliases == {}


# --------------------------------------------------------------------------- interpolation


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${HOST}", {"HOST": "gpu1"}, "gpu1"),
        ("pre-${HOST}-post", {"HOST": "gpu1"}, "pre-gpu1-post"),
        ("${HOST:-localhost}", {}, "localhost"),
        ("${HOST:-localhost}", {"HOST": ""}, "localhost"),  # shell :- also covers empty
        ("${HOST:-localhost}", {"HOST": "gpu2"}, "gpu2"),
        ("${A}${B}", {"A": "x", "B": "y"}, "xy"),
        ("cost$$5", {}, "cost$5"),
        ("$${HOST}", {"HOST": "gpu1"}, "${HOST}"),
        ("a $ b", {}, "a $ b"),
    ],
)
def test_interpolation(tmp_path: Path, value: str, env: dict[str, str], expected: str) -> None:
    path = write(tmp_path, f'[providers.openai.headers]\nx-host = "{value}"\n')
    assert load_config(path, env=env).providers["openai"].headers["x-host"] == expected


def test_interpolation_reads_os_environ_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMSWITCH_TEST_KEY", SECRET)
    path = write(tmp_path, '[providers.openai]\napi_key = "${LLMSWITCH_TEST_KEY}"\n')
    key = load_config(path).providers["openai"].api_key
    assert key is not None and key.get() == SECRET


def test_empty_key_from_default_means_no_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[providers.local]\nkind = "openai-compatible"\nbase_url = "http://h:1/v1"\n'
        'api_key = "${LOCAL_KEY:-}"\n',
    )
    assert load_config(path, env={}).providers["local"].api_key is None


def test_missing_variable_names_file_line_key_and_variable(tmp_path: Path) -> None:
    message = error_of(tmp_path, FULL, env={"OPENAI_KEY_TEAM_A": "x"})
    assert message == (
        f"{tmp_path / 'llmswitch.toml'}:5: providers.vllm.api_key: "
        "environment variable VLLM_API_KEY is not set"
    )


def test_malformed_reference(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[providers.openai]\nbase_url = "https://${}/v1"\n')
    assert re.search(r"llmswitch\.toml:2: providers\.openai\.base_url: malformed \$\{", message)


# --------------------------------------------------------------------------- finding the file


def test_explicit_path_missing_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigurationError, match=re.escape(str(missing))):
        load_config(missing, env={})


def test_env_var_points_to_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[aliases]\nfast = "openai/gpt-4o-mini"\n', name="team.toml")
    cfg = load_config(env={"LLMSWITCH_CONFIG": str(path)})
    assert cfg.path == path.resolve() and cfg.aliases["fast"] == "openai/gpt-4o-mini"


def test_env_var_wins_over_cwd_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[aliases]\nfast = "openai/from-cwd"\n')
    other = write(tmp_path, '[aliases]\nfast = "openai/from-env"\n', name="other.toml")
    assert load_config(env={"LLMSWITCH_CONFIG": str(other)}).aliases["fast"] == "openai/from-env"


def test_explicit_path_wins_over_env_var(tmp_path: Path) -> None:
    a = write(tmp_path, '[aliases]\nx = "openai/a"\n', name="a.toml")
    b = write(tmp_path, '[aliases]\nx = "openai/b"\n', name="b.toml")
    assert load_config(a, env={"LLMSWITCH_CONFIG": str(b)}).aliases["x"] == "openai/a"


def test_env_var_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone.toml"
    with pytest.raises(ConfigurationError) as info:
        load_config(env={"LLMSWITCH_CONFIG": str(missing)})
    assert str(missing) in str(info.value) and "LLMSWITCH_CONFIG" in str(info.value)


def test_env_var_file_with_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[aliases]\nfast = "openai/gpt-4o-mini\n', name="broken.toml")
    with pytest.raises(ConfigurationError) as info:
        load_config(env={"LLMSWITCH_CONFIG": str(path)})
    assert re.fullmatch(rf"{re.escape(str(path))}:2:\d+: invalid TOML: .+", str(info.value))


def test_cwd_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, '[aliases]\nfast = "openai/gpt-4o-mini"\n')
    cfg = load_config(env={})
    assert cfg.path == (tmp_path / "llmswitch.toml").resolve()
    assert cfg.aliases == {"fast": "openai/gpt-4o-mini"}


def test_no_file_anywhere_gives_empty_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(env={}) == Config()
    assert load_config(env={"LLMSWITCH_CONFIG": ""}) == Config()  # empty means unset


def test_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory"):
        load_config(tmp_path, env={})


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "llmswitch.toml"
    path.write_bytes(b'[aliases]\n\n x = "\xff"\n')
    with pytest.raises(ConfigurationError, match=r"llmswitch\.toml:3: .*UTF-8"):
        load_config(path, env={})


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[providers.vllm]\nbase_url = "http://h/v1"\nkind = "openai-compat"\n',
            ":3: providers.vllm.kind: unknown kind 'openai-compat' (expected one of openai, ",
        ),
        ('\n\n[servers.x]\nurl = "y"\n', ":3: servers: unknown setting"),
        ("version = 2\n", ":1: version: unknown setting"),
        (
            '[providers.openai]\nbase_url = "https://x/v1"\napi_base = "https://y"\n',
            ":3: providers.openai.api_base: unknown provider setting",
        ),
        (
            "[providers.openai]\n\nbase_url = 5\n",
            ":3: providers.openai.base_url: expected a string",
        ),
        ('[providers.openai]\nheaders = "x"\n', ":2: providers.openai.headers: expected a table"),
        (
            "[providers.openai]\nheaders = { x-n = 1 }\n",
            ":2: providers.openai.headers.x-n: expected a string, got an integer",
        ),
        (
            '[providers.openai.headers]\n"bad header" = "v"\n',
            ':2: providers.openai.headers."bad header": not a valid HTTP header name',
        ),
        ("providers = 3\n", ":1: providers: expected a table, got an integer"),
        ('[providers]\nopenai = "x"\n', ":2: providers.openai: expected a table, got a string"),
        ('[aliases]\nfast = ["a"]\n', ":2: aliases.fast: expected a string, got an array"),
        (
            '# my server\n[providers.vllm]\nbase_url = "http://h/v1"\n',
            ":2: providers.vllm: 'vllm' is not a built-in provider",
        ),
        (
            '[providers.vllm]\nkind = "openai-compatible"\n',
            ":1: providers.vllm: kind 'openai-compatible' needs base_url",
        ),
        (
            '[providers.openai]\n\n\nbase_url = "ftp://h/v1"\n',
            ":4: providers.openai.base_url: must be an http:// or https:// URL",
        ),
        (
            '[providers.openai]\nbase_url = "localhost:8000"\n',
            ":2: providers.openai.base_url: must be an http:// or https:// URL",
        ),
        (
            '[providers.anthropic]\napi_version = "2023-06-01"\n',
            ":2: providers.anthropic.api_version: only applies to kind 'azure'",
        ),
        (
            "[providers.openai.timeout]\ntotal = 10\nread = 5\n",
            ":3: providers.openai.timeout.read: unknown timeout setting",
        ),
        (
            "[providers.openai.timeout]\ntotal = 0\n",
            ":2: providers.openai.timeout.total: must be a number of seconds > 0",
        ),
        (
            '[providers.openai]\ntimeout = "10s"\n',
            ":2: providers.openai.timeout: must be seconds > 0",
        ),
        (
            '[providers."a/b"]\nkind = "openai"\n',
            ':1: providers."a/b": provider id must be',
        ),
        (
            '[aliases]\nfast = "gpt-4o-mini"\n',
            ":2: aliases.fast: target 'gpt-4o-mini' is neither 'provider/model' nor another alias",
        ),
        ('[aliases]\nfast = "openai/"\n', ":2: aliases.fast: target 'openai/' is not of the form"),
        ('[aliases]\nfast = "/gpt-4o"\n', ":2: aliases.fast: target '/gpt-4o' is not of the form"),
        (
            '[aliases]\n"a/b" = "openai/gpt-4o"\n',
            ':2: aliases."a/b": an alias name must not be empty or contain',
        ),
        (
            '[aliases]\na = "b"\nb = "c"\nc = "a"\n',
            ":2: aliases.a: alias cycle: a -> b -> c -> a",
        ),
        ('[aliases]\nself = "self"\n', ":2: aliases.self: alias cycle: self -> self"),
    ],
)
def test_validation_errors_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert message.startswith(str(tmp_path / "llmswitch.toml") + expected), message


def test_error_carries_the_key_as_field(tmp_path: Path) -> None:
    path = write(tmp_path, '[providers.vllm]\nkind = "nope"\n')
    with pytest.raises(ConfigurationError) as info:
        load_config(path, env={})
    assert info.value.field == "providers.vllm.kind"
    assert isinstance(info.value, LLMError)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("[providers.openai\n", ":1:"),
        ("[aliases]\nfast = \n", ":2:"),
        ('[aliases]\na = "x"\na = "y"\n', ":3:"),
    ],
)
def test_syntax_errors_give_line_and_column(tmp_path: Path, text: str, position: str) -> None:
    message = error_of(tmp_path, text)
    assert re.match(
        rf"{re.escape(str(tmp_path / 'llmswitch.toml'))}{position}\d+: invalid TOML: ", message
    )
    assert "(at line" not in message  # the position is moved to the front, not repeated


def test_error_in_inline_table_points_at_its_line(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        '[providers]\nopenai = { base_url = "https://x" }\n'
        'local = { kind = "openai-compatible" }\n',
    )
    assert ":3: providers.local: kind 'openai-compatible' needs base_url" in message


# --------------------------------------------------------------------------- secrets


def test_secrets_never_in_repr(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[providers.openai]\napi_key = "${KEY}"\n'
        '[providers.openai.headers]\nauthorization = "Bearer ${TOKEN}"\n',
    )
    cfg = load_config(path, env={"KEY": SECRET, "TOKEN": "tok-abcdefghijkl"})
    for text in (repr(cfg), str(cfg), repr(cfg.providers["openai"])):
        assert SECRET not in text and "tok-abcdefghijkl" not in text
    assert "authorization" in repr(cfg)  # header names are still visible
    assert cfg.providers["openai"].headers["authorization"] == "Bearer tok-abcdefghijkl"


@pytest.mark.parametrize(
    "text",
    [
        # a literal key with a later error in the same provider
        f'[providers.openai]\napi_key = "{PLAIN}"\nbase_url = "ftp://u:{PLAIN}@h/"\n',
        # wrong type next to a key
        f'[providers.openai]\napi_key = "{PLAIN}"\nheaders = {{ a = 1 }}\n',
        # a key as a header value with a newline
        f'[providers.openai.headers]\nx-key = "{PLAIN}\\n"\n',
        # a key in an unknown setting
        f'[providers.openai]\napi_token = "{PLAIN}"\n',
    ],
)
def test_secrets_never_in_error_messages(tmp_path: Path, text: str) -> None:
    message = error_of(tmp_path, text)
    assert PLAIN not in message


def test_interpolated_secret_never_in_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[providers.vllm]\nkind = "openai-compatible"\nbase_url = "${URL}"\napi_key = "${K}"\n',
    )
    with pytest.raises(ConfigurationError) as info:
        load_config(path, env={"URL": f"gopher://{PLAIN}", "K": PLAIN})
    assert PLAIN not in str(info.value) and PLAIN not in repr(info.value)


def test_provider_config_is_constructible_by_hand() -> None:
    cfg = ProviderConfig(id="x", kind="openai-compatible", base_url="http://h/v1")
    assert cfg.headers == {} and cfg.api_key is None and cfg.effective_kind == "openai-compatible"
    assert ProviderConfig(id="anthropic").effective_kind == "anthropic"


# --------------------------------------------------------------------------- key_lines


def test_key_lines_skip_multiline_strings_and_comments() -> None:
    source = (
        '[aliases]\nnote = """\n[providers.fake]\nkind = 1\n"""\n'
        '# [providers.commented]\nfast = "openai/x"  # trailing\n'
    )
    lines = key_lines(source)
    assert ("providers", "fake") not in lines and ("providers", "commented") not in lines
    assert lines[("aliases", "fast")] == 7


def test_key_lines_quoted_and_spaced_headers() -> None:
    lines = key_lines('[ providers . "my.server" ]\n"base_url" = "x"\n[[arr]]\nk = 1\n')
    assert lines[("providers", "my.server")] == 1
    assert lines[("providers", "my.server", "base_url")] == 2
    assert lines[("arr", "k")] == 4
