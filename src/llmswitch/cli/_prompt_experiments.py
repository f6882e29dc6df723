"""``llmswitch prompts experiment ...`` and ``llmswitch prompts report NAME``.

::

    llmswitch prompts experiment start greet --variant formal=1 --variant brief=2,weight=50
              [--variant cheap=2,model=openai/gpt-4o-mini] [--id tone]
    llmswitch prompts experiment pause|resume|stop ID [--winner VARIANT]
    llmswitch prompts experiment promote ID VARIANT [--label production]
    llmswitch prompts experiment list [NAME] [--json]
    llmswitch prompts experiment show ID [--json]
    llmswitch prompts report greet [--experiment ID] [--since 7d] [--until DATE]
              [--format table|json]

Registered in :data:`llmswitch.cli._prompts.SUBCOMMANDS` as ``experiment`` and
``report``; each runner gets the command's ``PromptStore`` (its database) and the
parsed arguments.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

__all__ = ["parse_experiment", "parse_report", "run_experiment", "run_report"]

_Common = Callable[[argparse.ArgumentParser], None]


def _author(args: argparse.Namespace) -> str | None:
    """``--author``, else the login name, as ``prompts add`` (not imported from
    ``_prompts``, which imports this module)."""
    if getattr(args, "author", None):
        return str(args.author)
    import getpass

    try:
        return getpass.getuser() or None
    except Exception:  # no login name in this environment (a container's uid)
        return None


# ---- experiment


def parse_experiment(actions: Any, common: _Common) -> None:
    experiment = actions.add_parser(
        "experiment", help="A/B experiments: split a prompt's traffic between versions",
        description="Split the calls of one prompt (by name or label; calls that pin a "
        "version with NAME@V stay out) between versions and optionally models, sticky per "
        "user: sha256(experiment id, user id) picks the variant.",
    )  # fmt: skip
    steps = experiment.add_subparsers(dest="experiment_command", metavar="STEP", required=True)
    start = steps.add_parser("start", help="start an experiment on a prompt")
    start.add_argument("name", metavar="NAME", help="the prompt")
    start.add_argument(
        "--variant", metavar="NAME=VERSION[,weight=W][,model=M]", action="append",
        required=True, help="one arm (give two or more); the first is the control",
    )  # fmt: skip
    start.add_argument("--id", metavar="ID", help="the experiment's id (default exp-<hex>)")
    start.add_argument("--json", action="store_true", help="print the experiment as JSON")
    common(start)
    for step, text in (("pause", "pause: calls use the prompt as without the experiment"),
                       ("resume", "resume a paused experiment"),
                       ("stop", "stop for good (optionally naming the winner)")):  # fmt: skip
        parser = steps.add_parser(step, help=text)
        parser.add_argument("id", metavar="ID")
        if step == "stop":
            parser.add_argument("--winner", metavar="VARIANT", help="record the winner")
        parser.add_argument("--json", action="store_true", help="print the experiment as JSON")
        common(parser)
    promote = steps.add_parser(
        "promote", help="point a label at the winner's version and stop the experiment"
    )
    promote.add_argument("id", metavar="ID")
    promote.add_argument("variant", metavar="VARIANT")
    promote.add_argument("--label", default="production", help="the label (default production)")
    promote.add_argument("--json", action="store_true", help="print the experiment as JSON")
    common(promote)
    listing = steps.add_parser("list", help="experiments, oldest first")
    listing.add_argument("name", metavar="NAME", nargs="?", help="only this prompt's")
    listing.add_argument("--json", action="store_true")
    common(listing)
    show = steps.add_parser("show", help="one experiment")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true")
    common(show)


def run_experiment(store: Any, args: argparse.Namespace) -> int:
    from ..prompts.experiments import ExperimentStore, parse_variant

    experiments = ExperimentStore(store.database, ttl=0)
    step = args.experiment_command
    if step == "list":
        found = experiments.list(args.name)
        if args.json:
            print(json.dumps([e.as_dict() for e in found], indent=2))
            return 0
        _print_table(("id", "prompt", "status", "variants", "winner"), [
            [e.id, e.prompt, e.status, ", ".join(_arm(v) for v in e.variants), e.winner or ""]
            for e in found
        ])  # fmt: skip
        return 0
    if step == "start":
        done = experiments.start(
            args.name, [parse_variant(text) for text in args.variant], id=args.id,
            author=_author(args),
        )  # fmt: skip
    elif step == "pause":
        done = experiments.pause(args.id)
    elif step == "resume":
        done = experiments.resume(args.id)
    elif step == "stop":
        done = experiments.stop(args.id, winner=args.winner)
    elif step == "promote":
        author = _author(args)

        def move(name: str, version: int, label: str) -> object:
            return store.label(name, version, label, author=author)

        done = experiments.promote(args.id, args.variant, label=args.label, move_label=move)
    else:  # show
        done = experiments.get(args.id)
    if args.json:
        print(json.dumps(done.as_dict(), indent=2))
        return 0
    print(f"experiment {done.id} on {done.prompt}: {done.status}")
    for v in done.variants:
        print(f"  {_arm(v)}")
    if done.winner:
        label = f" -> label {done.promoted_label}" if done.promoted_label else ""
        print(f"  winner: {done.winner}{label}")
    return 0


def _arm(variant: Any) -> str:
    model = f" on {variant.model}" if variant.model else ""
    return f"{variant.name}=v{variant.version} ({variant.weight:g}){model}"


# ---- report


def parse_report(actions: Any, common: _Common) -> None:
    report = actions.add_parser(
        "report", help="per version/variant analytics and recommendations",
        description="Calls, errors, latency p50/p95, tokens and cost per call and feedback "
        "scores of a prompt, from the usage ledger; for an experiment (--experiment, else "
        "the prompt's active one) each variant against the control with significance "
        "tests and a sample-ratio-mismatch check; then recommendations.",
    )  # fmt: skip
    report.add_argument("name", metavar="NAME")
    report.add_argument("--experiment", metavar="ID", help="this experiment's calls only")
    report.add_argument("--since", metavar="WHEN", help="2026-11-01, 7d, 12h... (inclusive)")
    report.add_argument("--until", metavar="WHEN", help="the end (inclusive)")
    report.add_argument("--format", choices=("table", "json"), default="table")
    common(report)


def run_report(store: Any, args: argparse.Namespace) -> int:
    from ..prompts.analytics import analyze
    from ..prompts.experiments import ExperimentStore
    from ..prompts.recommend import recommend, template_prefix
    from ..usage.hints import hints

    database = store.database
    versions = store.versions(args.name)
    if not versions:  # like ``prompts show``: a typo must not look like "no calls yet"
        from ..errors import PromptError

        raise PromptError(f"no prompt {args.name!r}", field="prompt", prompt=args.name)
    experiments = ExperimentStore(database, ttl=0)
    chosen = (experiments.get(args.experiment) if args.experiment
              else experiments.active(args.name))  # fmt: skip
    found = analyze(database, args.name, experiment=chosen, since=args.since, until=args.until)
    prefixes = {v.version: template_prefix(v.template) for v in versions}
    advice = recommend(
        found, prefixes=prefixes,
        catalog_hints=lambda: hints(database, args.since, args.until, prompt=args.name,
                                    recover=False, limit=1),
    )  # fmt: skip
    if args.format == "json":
        out = found.as_dict()
        out["recommendations"] = {
            "variant": None if advice["variant"] is None else advice["variant"].as_dict(),
            "models": [m.as_dict() for m in advice["models"]],
            "caching": [c.as_dict() for c in advice["caching"]],
        }
        print(json.dumps(out, indent=2))
        return 0
    _print_report(found, advice)
    return 0


def _print_report(found: Any, advice: dict[str, Any]) -> None:
    head = f"prompt {found.prompt}"
    if found.experiment is not None:
        head += f", experiment {found.experiment.id} ({found.experiment.status})"
    print(head)
    if found.truncated:
        print(f"(the newest {found.rows_read} ledger rows only: narrow --since/--until)")
    heading = ("arm", "version", "calls", "errors", "p50_ms", "p95_ms", "in_tok", "out_tok",
               "cost/call_usd", "feedback", "score")  # fmt: skip
    rows = []
    for a in found.arms:
        rows.append([
            a.label, str(a.version or ""), str(a.calls), f"{a.errors} ({a.error_rate:.1%})",
            _num(a.latency_p50_ms), _num(a.latency_p95_ms), _num(a.input_tokens_per_call),
            _num(a.output_tokens_per_call),
            "" if a.cost_per_call_usd is None else f"{a.cost_per_call_usd:.6f}",
            str(a.feedback), "" if a.score_mean is None else f"{a.score_mean:.3g}",
        ])  # fmt: skip
    _print_table(heading, rows)
    if found.comparisons:
        print()
        _print_table(("arm", "vs", "metric", "difference", "p", "test"), [
            [c.arm, c.baseline, c.metric,
             "" if c.test is None else f"{c.test.difference:+.4g}",
             "" if c.test is None else f"{c.test.p_value:.3g}",
             "" if c.test is None else c.test.name]
            for c in found.comparisons
        ])  # fmt: skip
    if found.srm_warning:
        print(f"\nwarning: {found.srm_warning}")
    lines = []
    if advice["variant"] is not None:
        lines.append(f"{advice['variant'].action}: {advice['variant'].reason}")
    lines += [f"model: {m.current} -> {m.suggested}: {m.reason}" for m in advice["models"]]
    lines += [f"caching: {c.model}: {c.reason}" for c in advice["caching"]]
    if lines:
        print("\nrecommendations:")
        for line in lines:
            print(f"  - {line}")


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _print_table(heading: tuple[str, ...], rows: list[list[str]]) -> None:
    """Plain aligned columns, as the other ``prompts`` subcommands print."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(heading)]
    for line in [list(heading), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
