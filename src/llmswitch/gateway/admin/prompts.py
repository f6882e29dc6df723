"""Stored prompts and their experiments: ``/admin/prompts``, ``/admin/experiments``.

The prompt and experiment stores are synchronous (the CLI's); their calls run in a
worker thread so the gateway's event loop never waits on the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import StringConstraints

from ._api import Operation
from ._call import AdminCall, conflict, in_thread, invalid, not_found
from ._models import (
    Experiment,
    ExperimentCreate,
    ExperimentStop,
    LabelMove,
    LabelMoved,
    PromptName,
    PromptSummary,
    PromptVersion,
    VersionCreate,
    _In,
    _Out,
)

if TYPE_CHECKING:
    from ...prompts.experiments import Experiment as StoredExperiment
    from ...prompts.store import PromptVersion as StoredVersion

__all__ = ["OPERATIONS"]


class PromptPath(_In):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")]


class LabelPath(_In):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")]
    label: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


class ExperimentPath(_In):
    experiment_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")]


class ExperimentsQuery(_In):
    prompt: PromptName | None = None


class ResultsQuery(_In):
    """``since``/``until``: a date, an ISO datetime or an age (7d, 12h, 30m)."""

    model_config = _In.model_config | {"strict": False}
    since: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    until: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None


class ExperimentResults(_Out):
    """Per arm: calls, errors, latency, tokens, cost, feedback; each variant against
    the control with its significance test; the sample-ratio-mismatch check."""

    prompt: str
    experiment: Experiment
    arms: list[dict[str, Any]]
    comparisons: list[dict[str, Any]]
    srm_p: float | None
    srm_warning: str | None
    rows_read: int
    truncated: bool


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def version_out(v: StoredVersion) -> PromptVersion:
    return PromptVersion.model_validate({
        "name": v.name, "version": v.version, "ref": v.ref,
        "template": v.template.to_content(), "content_hash": v.content_hash,
        "author": v.author, "message": v.message, "created_at": _when(v.created_at),
        "created": v.created,
    })  # fmt: skip


def experiment_out(e: StoredExperiment) -> Experiment:
    return Experiment.model_validate({
        **e.as_dict(), "created_at": _when(e.created_at), "updated_at": _when(e.updated_at),
    })  # fmt: skip


async def _versions(call: AdminCall, name: str) -> list[StoredVersion]:
    return await in_thread(call.services.prompts.versions, name)


# ---- prompts


async def list_prompts(call: AdminCall) -> list[PromptSummary]:
    infos = await call.services.prompts.alist()
    return [
        PromptSummary.model_validate(
            {
                "name": i.name,
                "latest": i.latest,
                "labels": dict(i.labels),
                "created_at": _when(i.created_at),
                "updated_at": _when(i.updated_at),
            }
        )
        for i in infos
    ]


async def list_versions(call: AdminCall) -> list[PromptVersion]:
    versions = await _versions(call, call.params.name)
    if not versions:
        raise not_found(f"no prompt {call.params.name!r}", "name")
    return [version_out(v) for v in versions]


async def add_version(call: AdminCall) -> PromptVersion:
    body: VersionCreate = call.body
    version = await call.services.prompts.aadd(
        call.params.name, body.template, author=body.author or "admin", message=body.message
    )
    return version_out(version)


async def move_label(call: AdminCall) -> LabelMoved:
    name, label = call.params.name, call.params.label
    if label == "latest":
        raise invalid("the label 'latest' moves by itself with every new version", "label")
    versions = await _versions(call, name)
    if not versions:
        raise not_found(f"no prompt {name!r}", "name")
    version = call.body.version
    if version not in {v.version for v in versions}:
        raise not_found(f"prompt {name!r} has no version {version}", "version")
    previous = await call.services.prompts.alabel(name, version, label, author="admin")
    return LabelMoved(name=name, label=label, version=version, previous=previous)


# ---- experiments


async def _experiment(call: AdminCall, experiment_id: str) -> StoredExperiment:
    from ...prompts.experiments import ExperimentError

    try:
        return await in_thread(call.services.experiments.get, experiment_id)
    except ExperimentError:
        raise not_found(f"no experiment {experiment_id!r}", "experiment_id") from None


async def list_experiments(call: AdminCall) -> list[Experiment]:
    found = await in_thread(call.services.experiments.list, call.query.prompt)
    return [experiment_out(e) for e in found]


async def start_experiment(call: AdminCall) -> Experiment:
    body: ExperimentCreate = call.body
    experiments = call.services.experiments
    if not await _versions(call, body.prompt):
        raise not_found(f"no prompt {body.prompt!r}", "prompt")
    every = await in_thread(experiments.list)
    if body.id is not None and any(e.id == body.id for e in every):
        raise conflict(f"experiment {body.id!r} exists", "id")
    if any(e.prompt == body.prompt and e.status != "stopped" for e in every):
        raise conflict(
            f"prompt {body.prompt!r} has an experiment running or paused: stop it first",
            "prompt",
        )
    variants = [v.model_dump(exclude_none=True) for v in body.variants]
    started = await in_thread(experiments.start, body.prompt, variants, id=body.id,
                              author="admin")  # fmt: skip
    return experiment_out(started)


async def get_experiment(call: AdminCall) -> Experiment:
    return experiment_out(await _experiment(call, call.params.experiment_id))


async def stop_experiment(call: AdminCall) -> Experiment:
    body: ExperimentStop = call.body
    current = await _experiment(call, call.params.experiment_id)
    if current.status == "stopped":
        raise conflict(f"experiment {current.id!r} is stopped already", "experiment_id")
    if body.winner is not None and body.winner not in {v.name for v in current.variants}:
        raise invalid(f"experiment {current.id!r} has no variant {body.winner!r}", "winner")
    stopped = await in_thread(call.services.experiments.stop, current.id, winner=body.winner)
    return experiment_out(stopped)


async def experiment_results(call: AdminCall) -> ExperimentResults:
    from ...prompts.analytics import analyze
    from ...usage.report import parse_time

    experiment = await _experiment(call, call.params.experiment_id)
    for field in ("since", "until"):  # checked here: a bad value is the caller's 400
        try:
            parse_time(getattr(call.query, field), field=field, end=field == "until")
        except (OverflowError, ValueError):
            raise invalid(f"{field}: out of range", field) from None
    found = await in_thread(
        analyze, call.services.prompts.database, experiment.prompt, experiment=experiment,
        since=call.query.since, until=call.query.until,
    )  # fmt: skip
    out = found.as_dict()
    out["experiment"] = experiment_out(experiment)
    return ExperimentResults.model_validate(out)


_P, _E = "prompts", "experiments"
OPERATIONS = [
    Operation(method="GET", path="/admin/prompts",
              summary="List stored prompts: latest version and labels", tag=_P,
              handler=list_prompts, response=list[PromptSummary]),
    Operation(method="GET", path="/admin/prompts/{name}/versions",
              summary="Every version of a prompt, oldest first", tag=_P,
              handler=list_versions, params=PromptPath, response=list[PromptVersion]),
    Operation(method="POST", path="/admin/prompts/{name}/versions",
              summary="Save a new immutable version (equal content: the latest, unchanged)",
              tag=_P, handler=add_version, params=PromptPath, body=VersionCreate,
              response=PromptVersion, status=201),
    Operation(method="PUT", path="/admin/prompts/{name}/labels/{label}",
              summary="Point a label at a version", tag=_P,
              handler=move_label, params=LabelPath, body=LabelMove, response=LabelMoved),
    Operation(method="GET", path="/admin/experiments", summary="List experiments, oldest first",
              tag=_E, handler=list_experiments, query=ExperimentsQuery,
              response=list[Experiment]),
    Operation(method="POST", path="/admin/experiments",
              summary="Start an experiment on a prompt (the first variant is the control)",
              tag=_E, handler=start_experiment, body=ExperimentCreate, response=Experiment,
              status=201),
    Operation(method="GET", path="/admin/experiments/{experiment_id}",
              summary="Get an experiment", tag=_E,
              handler=get_experiment, params=ExperimentPath, response=Experiment),
    Operation(method="POST", path="/admin/experiments/{experiment_id}/stop",
              summary="Stop an experiment for good, optionally naming the winner", tag=_E,
              handler=stop_experiment, params=ExperimentPath, body=ExperimentStop,
              body_optional=True, response=Experiment),
    Operation(method="GET", path="/admin/experiments/{experiment_id}/results",
              summary="An experiment's results from the usage ledger", tag=_E,
              handler=experiment_results, params=ExperimentPath, query=ResultsQuery,
              response=ExperimentResults),
]  # fmt: skip
