"""``llmswitch keys add|list|remove|validate|rotate``: the encrypted key vault.

Which database: ``--database-url``, else ``[storage] database_url``, else
``$LLMSWITCH_DATABASE_URL``, else the SQLite file under ``$LLMSWITCH_HOME``; which KEK:
``[keys] kek``, else ``$LLMSWITCH_KEK``, else ``local:`` with ``$LLMSWITCH_MASTER_KEY``
— the chains the library uses, so a running client sees what these commands change.

A secret is read from stdin (one trailing newline stripped) or, on a terminal, from a
hidden prompt; never from the command line, where it would land in shell history and
``ps``. Output names keys by id and fingerprint only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._exit import EXIT_ERROR, EXIT_USAGE, fail

if TYPE_CHECKING:
    from ..config import Config
    from ..keys.vault import KeyRecord, KeyVault
    from ..wire import Secret

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PROBE_TIMEOUT = 20.0
_MAX_SECRET = 16384  # bytes read from stdin: any real API key is far shorter


def add_keys_parser(commands: Any, config_option: Any) -> None:
    """The ``keys`` subcommand and its actions (called by ``cli.build_parser``)."""
    keys = commands.add_parser(
        "keys",
        help="store, list, validate and rotate encrypted provider keys",
        description="Provider keys stored encrypted in the database (AES-256-GCM data "
        "keys wrapped by the KEK: [keys] kek, $LLMSWITCH_KEK, or $LLMSWITCH_MASTER_KEY).",
    )
    actions = keys.add_subparsers(
        dest="keys_command", metavar="ACTION", required=True, parser_class=_ActionParser
    )

    add = actions.add_parser(
        "add", help="store a key (read from stdin or a hidden prompt)",
        description="Store a key for PROVIDER, read from stdin (trailing newline "
        "stripped) or a hidden prompt, never from the command line. It is validated by "
        "listing the provider's models with it first, unless --no-validate.",
    )  # fmt: skip
    add.add_argument("provider", metavar="PROVIDER", help="e.g. openai, anthropic")
    # Caught so that a key pasted as an argument is refused by run_keys without being
    # repeated, as argparse's "unrecognized arguments: ..." would.
    add.add_argument("pasted", nargs="*", metavar=argparse.SUPPRESS, help=argparse.SUPPRESS)
    add.add_argument("--user", metavar="U", help="the user this key belongs to (BYOK)")
    add.add_argument("--label", metavar="L", help="a note to recognise the key by")
    add.add_argument("--no-validate", action="store_true", help="store without probing")
    add.add_argument(
        "--replace", metavar="ID",
        help="the new key takes over from key ID, which keeps working for --window",
    )  # fmt: skip
    add.add_argument(
        "--window", metavar="DURATION", type=_duration,
        help="with --replace: how long the old key stays usable (e.g. 24h, 30m; default 0)",
    )  # fmt: skip

    listing = actions.add_parser(
        "list", help="list stored keys (fingerprints only)",
        description="List stored keys: id, provider, user, label, fingerprint, status, "
        "created. Never the secrets.",
    )  # fmt: skip
    listing.add_argument("--provider", metavar="P")
    listing.add_argument("--user", metavar="U")
    listing.add_argument("--format", choices=("table", "json"), default="table")

    remove = actions.add_parser("remove", help="delete a stored key", description="Delete a key.")
    remove.add_argument("key_id", metavar="ID")

    validate = actions.add_parser(
        "validate", help="probe stored keys against their providers",
        description="Probe key ID, or every usable stored key, by listing the provider's "
        "models with it. One line per key; exits 1 if any failed.",
    )  # fmt: skip
    validate.add_argument("key_id", metavar="ID", nargs="?")

    actions.add_parser(
        "rotate", help="re-wrap every key under the current KEK",
        description="Re-wrap every stored key whose data key is not wrapped by the "
        "current KEK (after changing LLMSWITCH_MASTER_KEY, moving to a KMS, or a KMS key "
        "rotation). Online and resumable: run it again after an interruption.",
    )  # fmt: skip

    for parser in actions.choices.values():
        parser.add_argument(
            "--database-url", metavar="URL",
            help="sqlite:///path or postgresql://user@host:5432/db",
        )  # fmt: skip
        config_option(parser)


class _ActionParser(argparse.ArgumentParser):
    """``keys ACTION``'s parser: for ``add``, every stray word, wherever it stands
    (``keys add openai --no-validate sk-...``), joins ``pasted`` instead of argparse's
    "unrecognized arguments", which would print it."""

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extra = super().parse_known_args(args, namespace)
        if extra and hasattr(parsed, "pasted"):
            words = [w for w in extra if not w.startswith("-")]
            parsed.pasted = [*parsed.pasted, *words]
            extra = [w for w in extra if w.startswith("-")]  # unknown options: usage error
        return parsed, extra


def _duration(text: str) -> float:
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a duration like 24h, 30m, 90s, got {text!r}")
    from ..keys.vault import MAX_WINDOW

    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_WINDOW:
        raise argparse.ArgumentTypeError(f"at most {MAX_WINDOW // 86400}d, got {text!r}")
    return seconds


def _actor() -> str:
    import getpass
    import socket

    try:
        who = getpass.getuser()
    except Exception:  # no user name in this environment (a container without passwd)
        who = "unknown"
    return f"cli:{who}@{socket.gethostname()}"[:200]


def _vault(args: argparse.Namespace) -> tuple[KeyVault, Config]:
    from ..config import load_config
    from ..keys.vault import KeyVault

    # keys add probes with, and checks the provider against, the whole configuration;
    # the other actions need only [storage] and [keys] (validate loads more per key).
    config = load_config(args.config) if args.keys_command == "add" else _platform(args.config)
    options: dict[str, Any] = {"refresh": 0, "actor": _actor()}
    if args.database_url:
        from ..storage.sql import open_database

        options["database"] = open_database(args.database_url, field="--database-url")
    return KeyVault.from_config(config, **options), config


def _platform(path: str | None) -> Config:
    """Only ``[storage]``/``[keys]``/``[config]`` of the file: a provider's ``${VAR}``
    that only production sets does not stop list/remove/rotate/validate."""
    from ..config import platform_config

    return platform_config(path)


def _probe_config(path: str | None, provider: str) -> Config:
    """What probing ``provider`` needs: the whole file when it loads, else only that
    provider's section (raising its own problem, naming the field)."""
    import os

    from ..config import Config, load_config
    from ..config._loading import read_config
    from ..config._validate import Validator
    from ..errors import ConfigurationError

    try:
        return load_config(path)
    except ConfigurationError:
        found = read_config(path, os.environ)
        if found is None:
            raise
        file, data = found
        validator = Validator(str(file), data, os.environ)
        declared = validator.table(validator.overlaid(validator.parse()), ("providers",))
        if provider not in declared:
            return Config()  # the built-in defaults, as the whole file would give them
        return Config(providers={provider: validator._provider_at(declared, provider)})


def run_keys(args: argparse.Namespace) -> int:
    if args.keys_command == "add" and args.pasted:
        print(
            "llmswitch keys add: error: a key is read from stdin or a hidden prompt, never "
            "from the command line (shell history, ps); nothing was stored. If that "
            "argument was a real key, consider it exposed and replace it.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    vault, config = _vault(args)
    try:
        command = args.keys_command
        # Only add creates the database: a mistyped URL must not become an empty vault
        # that reports "no keys stored".
        if command != "add" and not vault.db.status().exists:
            missing = (
                f"the database {vault.db.url} does not exist (not created yet): no keys "
                "are stored there (`llmswitch keys add` creates it)"
            )
            if command == "list":  # an empty list, truthfully: exit 0, the URL shown
                if args.format == "json":
                    sys.stdout.write("[]\n")
                print(f"no keys stored: {missing}", file=sys.stderr)
                return 0
            return fail(missing)
        if command == "add":
            return _add(vault, config, args)
        if command == "list":
            return _list(vault, args)
        if command == "remove":
            record = vault.remove(args.key_id)
            print(f"removed {record.id} ({_describe(record)})")
            return 0
        if command == "validate":
            return _validate(vault, args.config, args.key_id)
        return _rotate(vault)
    finally:
        vault.close()
        vault.db.close()


# ---- add


def _read_secret(provider: str) -> str:
    if sys.stdin is None:
        raise _usage("no key given: pipe it on stdin")
    if sys.stdin.isatty():
        import getpass

        secret = getpass.getpass(f"API key for {provider} (input hidden): ")
    else:
        secret = sys.stdin.read(_MAX_SECRET + 1)
        if len(secret) > _MAX_SECRET:
            raise _usage(f"the key on stdin is over {_MAX_SECRET} characters")
        if secret.endswith("\n"):
            secret = secret[:-1]
            if secret.endswith("\r"):
                secret = secret[:-1]
    if not secret:
        raise _usage("no key given (pipe it on stdin, or type it at the prompt)")
    return secret


def _usage(message: str) -> Exception:
    from ..errors import ConfigurationError

    return ConfigurationError(message, field="secret")


def _add(vault: KeyVault, config: Config, args: argparse.Namespace) -> int:
    from ..keys import _records
    from ..wire import Secret

    # Checked before the prompt: no one should type a key only to be told it is not kept.
    _records.check_provider(args.provider)
    _check_known(config, args.provider)
    if args.window is not None and args.replace is None:
        return fail("--window applies only with --replace ID")
    if args.replace is not None:
        old = vault.record(args.replace)  # exists, or a clear error now
        if old.status != "active":  # the vault refuses it too; say so before the prompt
            return fail(
                f"key {old.id} is {old.status} (already replaced); only an active key can "
                "be replaced: replace its replacement instead"
            )
    vault.ring.require()
    # Checked before the probe too: a key that cannot be stored is not worth a request.
    secret = Secret(_records.check_secret(_read_secret(args.provider)))
    if not args.no_validate:
        problem = _probe(config, args.provider, secret)
        if problem is not None:
            return fail(
                f"the new {args.provider} key (…{_short(secret)}) failed validation: {problem}; "
                "nothing was stored (--no-validate stores it anyway)"
            )
    record = vault.add(
        args.provider, secret, user=args.user, label=args.label,
        replace=args.replace, window=args.window,
    )  # fmt: skip
    print(f"added {record.id} ({_describe(record)})")
    if args.replace is not None:
        old = vault.record(args.replace)
        until = _when(old.retire_at) if old.status == "retiring" else "now"
        print(f"{old.id} is retiring: usable until {until}")
    return 0


def _check_known(config: Config, provider: str) -> None:
    """A key for a provider no client can build would sit unused. The id is not
    repeated: a key typed where the provider goes must not be echoed."""
    from ..errors import ConfigurationError
    from ..providers.registry import known_provider_ids

    known = [p for p in known_provider_ids(config) if p != "fake"]  # fake takes no key
    if provider not in known:
        raise ConfigurationError(
            "the PROVIDER argument is not a known provider (not repeated here: it may be "
            f"a key typed in the wrong place; expected one of {', '.join(known)}, or one "
            "declared in llmswitch.toml under [providers.NAME])",
            field="provider",
        )


def _short(secret: Secret) -> str:
    from ..keys.envelope import fingerprint

    return fingerprint(secret.get())[-8:]


def _probe(config: Config, provider: str, secret: Secret) -> str | None:
    """Why listing ``provider``'s models with ``secret`` failed, or ``None`` (it worked).
    The cheapest authenticated call every provider has."""
    import dataclasses

    from .. import Client
    from ..errors import LLMError
    from ..providers.settings import ProviderConfig

    base = config.providers.get(provider) or ProviderConfig(id=provider)
    settings = dataclasses.replace(base, api_key=secret, keys=())
    probing = dataclasses.replace(config, providers={**config.providers, provider: settings})
    try:
        with Client(config=probing, max_retries=0, watch_config=False) as client:
            client.list_models(provider, timeout=_PROBE_TIMEOUT)
    except LLMError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


# ---- list


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _describe(record: KeyRecord) -> str:
    who = f"user {record.user}" if record.user else "shared"
    label = f", label {record.label!r}" if record.label else ""
    return f"{record.provider}, {who}{label}, fingerprint {record.short_fingerprint}"


def _list(vault: KeyVault, args: argparse.Namespace) -> int:
    records = vault.list(provider=args.provider, user=args.user)
    if args.format == "json":
        sys.stdout.write(json.dumps([r.to_json() for r in records], indent=2) + "\n")
        return 0
    if not records:
        print("no keys stored", file=sys.stderr)
        return 0
    header = ("ID", "PROVIDER", "USER", "LABEL", "FINGERPRINT", "STATUS", "CREATED")
    rows = [
        (
            r.id, r.provider, r.user or "(shared)", r.label or "", r.short_fingerprint,
            r.status + (f" until {_when(r.retire_at)}" if r.status == "retiring" else ""),
            _when(r.created_at),
        )
        for r in records
    ]  # fmt: skip
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0


# ---- validate


def _validate(vault: KeyVault, config_path: str | None, key_id: str | None) -> int:
    from ..errors import ConfigurationError, KeyVaultError
    from ..storage.sql import now_ms

    if key_id is not None:
        records = [vault.record(key_id)]
    else:
        now = now_ms()
        records = [r for r in vault.list() if r.usable(now)]
        if not records:
            print("no keys stored", file=sys.stderr)
            return 0
    failed = 0
    configs: dict[str, Config | ConfigurationError] = {}
    for record in records:
        try:
            secret = vault.get(record.id)
        except KeyVaultError as exc:
            problem: str | None = f"cannot decrypt: {exc}"
        else:
            if record.provider not in configs:  # the file is read once per provider
                try:
                    configs[record.provider] = _probe_config(config_path, record.provider)
                except ConfigurationError as exc:
                    configs[record.provider] = exc
            config = configs[record.provider]
            if isinstance(config, ConfigurationError):
                problem = f"cannot probe: {config}"
            else:
                problem = _probe(config, record.provider, secret)
        if problem is None:
            print(f"ok      {record.id} ({_describe(record)})")
        else:
            failed += 1
            print(f"failed  {record.id} ({_describe(record)}): {' '.join(problem.split())}")
    return EXIT_ERROR if failed else 0


# ---- rotate


def _rotate(vault: KeyVault) -> int:
    from ..keys.vault import RotationProgress

    def progress(p: RotationProgress) -> None:
        line = f"[{p.done}/{p.total}] {p.record_id}: {p.outcome}"
        if p.error:
            line += f" ({p.error})"
        print(line, flush=True)

    report = vault.rotate(progress)
    print(
        f"rotation to {report.kek_id}: {report.rewrapped} re-wrapped, {report.changed} "
        f"changed meanwhile, {len(report.failed)} failed, {report.pending} not yet under "
        "the current key"
    )
    if report.failed or report.pending:
        return fail(
            f"{len(report.failed)} key(s) could not be re-wrapped and {report.pending} "
            "remain under an older KEK; fix or remove them, then run `llmswitch keys rotate` "
            "again"
        )
    return 0
