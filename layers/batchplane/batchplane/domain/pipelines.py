"""Pipelines: a DAG of jobs. The POST /pipelines models, DAG validation and map fan-out: from a request to its plan.

Everything here is a pure function of data (no boto3, no clock, no environment).

Wire shape (camelCase, unknown fields refused)::

    {"name": "nightly", "onFailure": "fail-fast", "parameters": {"day": "2024-01-01"},
     "jobs": [{"id": "extract", "command": ["extract.sh"], "map": [{"shard": "0"}, {"shard": "1"}]},
              {"id": "load", "dependsOn": ["extract", {"id": "notify", "condition": "finished"}], ...}]}

A pipeline job carries every field of a standalone job (`JobRequest`) flat beside its own ``id``, ``name`` (defaults to
the id), ``dependsOn`` (ids of this pipeline, not jobIds; no 20-item limit) and ``map``.

Dependency conditions, as AWS Batch / Slurm name them:
  * ``succeeded`` (default; Batch SEQUENTIAL, Slurm afterok): the dependency SUCCEEDED.
  * ``failed`` (afternotok): the dependency FAILED, or was CANCELLED (Batch reports a cancelled job as FAILED).
  * ``finished`` (afterany): the dependency reached any terminal state, SKIPPED included, so that a clean-up job runs
    even when what it cleans up never ran.
An edge whose dependency is terminal but does not meet its condition can never be met: the dependent is SKIPPED.

Map fan-out (chosen to be simple and written down here once):
  * ``map: [p0, p1, ...]`` makes jobs ``<id>[0]``, ``<id>[1]``... (Batch names ``<name>-0``...), each with its
    item merged over the job's parameters, themselves merged over the pipeline's. A dependent of a mapped job depends
    on every expansion (fan-in), with the same condition on each edge (so ``failed`` on a mapped job means all of its
    expansions failed). A mapped job depending on a mapped job depends on all of it: no N_TO_N pairing.

What a run does next (readiness, catch and finally, fail-fast, the outcome), resuming and drawing: `pipeline_runs`.
A pipeline's records and its jobs' states: `pipeline_records`.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails

from batchplane.domain.errors import FieldError, InvalidRequestError
from batchplane.domain.models import JOB_NAME_PATTERN, JobRequest, _Wire
from batchplane.domain.pipeline_records import JobState, OnFailure

# ---------------------------------------------------------------------------------------------------------- limits

PIPELINE_JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MAX_PIPELINE_JOBS = 2000  # jobs as written in the request
MAX_MAP_ITEMS = 1000  # fan-out of one job
MAX_EXPANDED_JOBS = 10_000  # jobs after map expansion
MAX_EXPANDED_EDGES = 100_000  # dependency edges after map expansion (fan-in multiplies them)
MAX_PARAMETERS = 100  # JobRequest.parameters' own limit, checked on the merged parameters

DependencyCondition = Literal["succeeded", "finished", "failed"]

ParamKey = Annotated[str, StringConstraints(min_length=1, max_length=256)]

# ---------------------------------------------------------------------------------------------------------- wire models


class PipelineDependency(_Wire):
    """One ``dependsOn`` item; a bare string ``"a"`` is short for ``{"id": "a"}``."""

    id: str = Field(min_length=1, max_length=64, description="the id of another job of this pipeline")
    condition: DependencyCondition = "succeeded"


_PIPELINE_JOB_KEYS = frozenset({"id", "name", "dependsOn", "depends_on", "map"})
_PLACEHOLDER_NAME = "job"


def _re_raise(title: str, errors: Iterable[Mapping[str, Any]]) -> ValidationError:
    details: list[InitErrorDetails] = []
    for e in errors:
        detail = InitErrorDetails(type=e["type"], loc=tuple(e["loc"]), input=e["input"])
        if "ctx" in e:
            detail["ctx"] = e["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(title, details)


class PipelineJob(_Wire):
    """A job of a pipeline: `JobRequest`'s fields, flat on the wire, plus ``id``, ``dependsOn`` and ``map``.

    Composed rather than inherited: a subclass of `JobRequest` with ``name: str | None`` and a different ``dependsOn``
    would not be a `JobRequest` (mypy rejects the override, rightly). The job fields are validated by `JobRequest`
    itself, so its limits and validators apply unchanged and errors name the field as sent (``jobs.2.vcpus``)."""

    id: str = Field(pattern=PIPELINE_JOB_ID_PATTERN, description="unique in the pipeline")
    name: str | None = Field(default=None, pattern=JOB_NAME_PATTERN, description="Batch jobName; defaults to the id")
    depends_on: list[PipelineDependency] = Field(default_factory=list, max_length=MAX_PIPELINE_JOBS)
    map: list[dict[ParamKey, str]] | None = Field(
        default=None, min_length=1, max_length=MAX_MAP_ITEMS, description="fan-out: one job per parameter dict"
    )
    spec: JobRequest = Field(description="the job fields (flat on the wire); its name is the job's name")

    @model_validator(mode="wrap")
    @classmethod
    def _split_flat(cls, data: Any, handler: ModelWrapValidatorHandler[PipelineJob]) -> PipelineJob:
        if not isinstance(data, dict) or isinstance(data.get("spec"), JobRequest):
            return handler(data)
        own = {k: v for k, v in data.items() if k in _PIPELINE_JOB_KEYS}
        rest = {k: v for k, v in data.items() if k not in _PIPELINE_JOB_KEYS}
        name = own.get("name") or own.get("id")
        rest["name"] = name if isinstance(name, str) and name else _PLACEHOLDER_NAME
        errors: list[Mapping[str, Any]] = []
        try:
            spec = JobRequest.model_validate(rest)
        except ValidationError as exc:
            errors.extend(e for e in exc.errors() if tuple(e["loc"]) != ("name",))  # name is reported by our field
            spec = JobRequest(name=_PLACEHOLDER_NAME)
        try:
            job = handler({**own, "spec": spec})
        except ValidationError as exc:
            errors = [*exc.errors(), *errors]
        if errors:
            raise _re_raise(cls.__name__, errors)
        return job

    @field_validator("depends_on", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"id": v} if isinstance(v, str) else v for v in value]
        return value

    @model_serializer(mode="wrap")
    def _flatten(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        spec: dict[str, Any] = data.pop("spec", None) or {}
        for key in ("name", "dependsOn", "depends_on"):
            spec.pop(key, None)
        return {**data, **spec}

    @property
    def job_name(self) -> str:
        return self.name or self.id

    def canonical(self) -> dict[str, Any]:
        """The job as sent on the wire, defaults included."""
        return self.model_dump(mode="json", by_alias=True)

    def to_job_request(
        self,
        pipeline_parameters: Mapping[str, str] | None = None,
        item: Mapping[str, str] | None = None,
        *,
        name: str | None = None,
    ) -> JobRequest:
        """The standalone `JobRequest` to submit: parameters = pipeline's < job's < map item's. ``dependsOn`` stays
        empty: ordering is the runner's (via `step`), not Batch's."""
        parameters = {**(pipeline_parameters or {}), **self.spec.parameters, **(item or {})}
        body = {**self.spec.canonical(), "name": name or self.job_name, "parameters": parameters}
        return JobRequest.model_validate(body)


class PipelineRequest(_Wire):
    """POST /pipelines body."""

    name: str = Field(pattern=JOB_NAME_PATTERN, max_length=128, description="Batch jobName rules")
    jobs: list[PipelineJob] = Field(min_length=1, max_length=MAX_PIPELINE_JOBS)
    on_failure: OnFailure = "fail-fast"
    parameters: dict[ParamKey, str] = Field(
        default_factory=dict, max_length=MAX_PARAMETERS, description="merged under every job's parameters"
    )


# ---------------------------------------------------------------------------------------------------------- the DAG


@dataclass(frozen=True, slots=True)
class Edge:
    """``id`` is the dependency (upstream job); the dependent is the job whose ``deps`` hold the edge."""

    id: str
    condition: DependencyCondition = "succeeded"


def _field(*parts: object) -> str:
    """Field names as `batchplane.http.problems` writes pydantic's locations: dotted (pointer ``#/jobs/3/id``)."""
    return ".".join(str(p) for p in parts)


def _toposort(ids: Sequence[str], deps: Mapping[str, Sequence[Edge]]) -> tuple[list[str], list[str] | None]:
    """Kahn's algorithm, ties broken by position in ``ids`` (deterministic). Returns (order, None), or
    (partial order, cycle) with the cycle in run order (``a`` before ``b`` before ... before ``a``)."""
    position = {j: i for i, j in enumerate(ids)}
    missing = {j: len({e.id for e in deps[j]}) for j in ids}
    children: dict[str, list[str]] = {j: [] for j in ids}
    for j in ids:
        for up in dict.fromkeys(e.id for e in deps[j]):
            children[up].append(j)
    heap = [position[j] for j in ids if missing[j] == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        j = ids[heapq.heappop(heap)]
        order.append(j)
        for child in children[j]:
            missing[child] -= 1
            if missing[child] == 0:
                heapq.heappush(heap, position[child])
    if len(order) == len(ids):
        return order, None
    # Every job left has a dependency left: walk dependencies from the first one until a job repeats.
    left = {j for j in ids if missing[j] > 0}
    walk: list[str] = []
    seen: dict[str, int] = {}
    node = min(left, key=position.__getitem__)
    while node not in seen:
        seen[node] = len(walk)
        walk.append(node)
        node = next(e.id for e in deps[node] if e.id in left)
    cycle = list(reversed(walk[seen[node] :]))  # dependency direction → run direction
    start = min(range(len(cycle)), key=lambda k: position[cycle[k]])
    return order, cycle[start:] + cycle[:start]


def _cycle_text(cycle: Sequence[str]) -> str:
    return "cycle: " + " -> ".join([*cycle, cycle[0]])


@dataclass(frozen=True)
class Dag:
    """``order``: job ids, topologically sorted (dependencies first). ``deps[j]``: j's edges. ``children[j]``: the jobs
    with an edge on j (each once)."""

    order: tuple[str, ...]
    deps: Mapping[str, tuple[Edge, ...]]
    children: Mapping[str, tuple[str, ...]]

    @classmethod
    def build(cls, deps: Mapping[str, Sequence[Edge]]) -> Dag:
        """A DAG from edges; raises ValueError on unknown ids, self-edges and cycles (for trusted input: requests go
        through `validate_dag`, which names the offending field)."""
        ids = list(deps)
        for j, edges in deps.items():
            for e in edges:
                if e.id not in deps or e.id == j:
                    msg = f"{j!r} depends on {'itself' if e.id == j else 'unknown ' + repr(e.id)}"
                    raise ValueError(msg)
        order, cycle = _toposort(ids, deps)
        if cycle is not None:
            raise ValueError(_cycle_text(cycle))
        children: dict[str, list[str]] = {j: [] for j in ids}
        for j in order:
            for up in dict.fromkeys(e.id for e in deps[j]):
                children[up].append(j)
        return cls(
            order=tuple(order),
            deps={j: tuple(deps[j]) for j in order},
            children={j: tuple(children[j]) for j in order},
        )

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self.deps

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(j for j in self.order if not self.deps[j])

    @property
    def leaves(self) -> tuple[str, ...]:
        return tuple(j for j in self.order if not self.children[j])

    def edges(self) -> Iterator[tuple[str, str, DependencyCondition]]:
        """(upstream, downstream, condition), in topological order of the downstream job."""
        for j in self.order:
            for e in self.deps[j]:
                yield e.id, j, e.condition

    def descendants(self, ids: Iterable[str]) -> set[str]:
        """Every job downstream of ``ids`` (not ``ids`` themselves unless downstream of another)."""
        out: set[str] = set()
        stack = [c for j in ids for c in self.children[j]]
        while stack:
            j = stack.pop()
            if j not in out:
                out.add(j)
                stack.extend(self.children[j])
        return out

    def ancestors(self, ids: Iterable[str]) -> set[str]:
        out: set[str] = set()
        stack = [e.id for j in ids for e in self.deps[j]]
        while stack:
            j = stack.pop()
            if j not in out:
                out.add(j)
                stack.extend(e.id for e in self.deps[j])
        return out

    def handlers(self, job_id: str) -> tuple[str, ...]:
        """The jobs with a ``failed`` edge on ``job_id``: they can handle its failure."""
        return tuple(c for c in self.children[job_id] if Edge(job_id, "failed") in self.deps[c])

    def is_guard(self, job_id: str) -> bool:
        """A catch/finally job: one ``failed`` or ``finished`` edge. Fail-fast leaves it to its conditions."""
        return any(e.condition != "succeeded" for e in self.deps[job_id])


def validate_dag(request: PipelineRequest) -> Dag:
    """The request's DAG (one node per job as written, maps not expanded), or InvalidRequestError naming the field:
    ``jobs.3.id`` (duplicate), ``jobs.2.dependsOn.0`` (unknown, itself, repeated), ``jobs.1.map.4`` /
    ``jobs.1.parameters`` (over 100 merged parameters), ``jobs`` (too many jobs or edges once expanded, or a cycle,
    named in run order: ``cycle: a -> b -> c -> a``)."""
    errors: list[FieldError] = []
    if len(request.jobs) > MAX_PIPELINE_JOBS:
        errors.append(FieldError("jobs", f"at most {MAX_PIPELINE_JOBS} jobs"))
    first: dict[str, int] = {}
    for i, job in enumerate(request.jobs):
        if job.id in first:
            errors.append(FieldError(_field("jobs", i, "id"), f"duplicate id {job.id!r} (also jobs.{first[job.id]})"))
        else:
            first[job.id] = i
    for i, job in enumerate(request.jobs):
        seen: set[str] = set()
        for k, dep in enumerate(job.depends_on):
            where = _field("jobs", i, "dependsOn", k)
            if dep.id == job.id:
                errors.append(FieldError(where, f"{job.id!r} cannot depend on itself"))
            elif dep.id not in first:
                errors.append(FieldError(where, f"no job with id {dep.id!r} in this pipeline"))
            elif dep.id in seen:
                errors.append(FieldError(where, f"{dep.id!r} is listed twice"))
            seen.add(dep.id)
        errors.extend(_parameter_errors(request, i, job))
    width = {job.id: len(job.map) if job.map else 1 for job in request.jobs}
    expanded = sum(len(job.map) if job.map else 1 for job in request.jobs)
    if expanded > MAX_EXPANDED_JOBS:
        errors.append(FieldError("jobs", f"{expanded} jobs once maps are expanded; at most {MAX_EXPANDED_JOBS}"))
    edges = sum(
        (len(job.map) if job.map else 1) * sum(width.get(d.id, 1) for d in job.depends_on) for job in request.jobs
    )
    if edges > MAX_EXPANDED_EDGES:
        errors.append(FieldError("jobs", f"{edges} dependencies once maps are expanded; at most {MAX_EXPANDED_EDGES}"))
    if errors:
        raise InvalidRequestError("the pipeline's jobs do not form a valid DAG", errors=errors)
    deps = {job.id: tuple(Edge(d.id, d.condition) for d in job.depends_on) for job in request.jobs}
    _, cycle = _toposort(list(deps), deps)
    if cycle is not None:
        text = _cycle_text(cycle)
        raise InvalidRequestError(f"the pipeline's jobs have a {text}", errors=[FieldError("jobs", text)])
    return Dag.build(deps)


def _parameter_errors(request: PipelineRequest, i: int, job: PipelineJob) -> Iterator[FieldError]:
    base = {**request.parameters, **job.spec.parameters}
    if len(base) > MAX_PARAMETERS:
        yield FieldError(_field("jobs", i, "parameters"), f"over {MAX_PARAMETERS} parameters with the pipeline's")
        return
    for k, item in enumerate(job.map or ()):
        if len(base | item) > MAX_PARAMETERS:
            yield FieldError(_field("jobs", i, "map", k), f"over {MAX_PARAMETERS} parameters once merged")
            return


# ---------------------------------------------------------------------------------------------------------- map fan-out


@dataclass(frozen=True, slots=True)
class ExpandedJob:
    """One job to run: ``id`` is the pipeline job's id, or ``<id>[k]`` for the k-th item of its map."""

    id: str
    source: str
    index: int | None
    request: JobRequest
    depends_on: tuple[Edge, ...]


def _expanded_name(name: str, k: int) -> str:
    suffix = f"-{k}"
    return name[: 128 - len(suffix)] + suffix


def expand_maps(request: PipelineRequest) -> list[ExpandedJob]:
    """The jobs to run, in topological order (validates the request first). Fan-in: an edge on a mapped job becomes
    one edge per expansion, with the same condition; mapped-on-mapped is all-to-all (no N_TO_N)."""
    dag = validate_dag(request)
    by_id = {job.id: job for job in request.jobs}
    expansions: dict[str, list[str]] = {}
    out: list[ExpandedJob] = []
    for job_id in dag.order:
        job = by_id[job_id]
        edges = tuple(Edge(x, d.condition) for d in job.depends_on for x in expansions[d.id])
        if job.map is None:
            expansions[job_id] = [job_id]
            out.append(ExpandedJob(job_id, job_id, None, job.to_job_request(request.parameters), edges))
            continue
        expansions[job_id] = [f"{job_id}[{k}]" for k in range(len(job.map))]
        for k, item in enumerate(job.map):
            req = job.to_job_request(request.parameters, item, name=_expanded_name(job.job_name, k))
            out.append(ExpandedJob(f"{job_id}[{k}]", job_id, k, req, edges))
    return out


def expanded_dag(jobs: Sequence[ExpandedJob]) -> Dag:
    """The DAG the runner drives: one node per expanded job."""
    return Dag.build({j.id: j.depends_on for j in jobs})


def spec_hash(job: ExpandedJob | PipelineJob) -> str:
    """sha256 of the job's canonical JSON (sorted keys, no spaces): what it runs and what it depends on. For a resume,
    hash `ExpandedJob`s: their requests include the merged pipeline and map parameters."""
    if isinstance(job, ExpandedJob):
        body: dict[str, Any] = {
            "id": job.id,
            "request": job.request.canonical(),
            "dependsOn": sorted([e.id, e.condition] for e in job.depends_on),
        }
    else:
        body = job.canonical()
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


__all__ = [
    "MAX_EXPANDED_EDGES",
    "MAX_EXPANDED_JOBS",
    "MAX_MAP_ITEMS",
    "MAX_PIPELINE_JOBS",
    "PIPELINE_JOB_ID_PATTERN",
    "Dag",
    "DependencyCondition",
    "Edge",
    "ExpandedJob",
    "JobState",
    "OnFailure",
    "PipelineDependency",
    "PipelineJob",
    "PipelineRequest",
    "expand_maps",
    "expanded_dag",
    "spec_hash",
    "validate_dag",
]
