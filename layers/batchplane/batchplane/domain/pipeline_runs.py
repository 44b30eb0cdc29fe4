"""A pipeline's runs: what to do next from its jobs' states (`step`: readiness, fail-fast, the outcome), what a resume
redoes, and drawings of a run. Pure functions of data (no boto3, no clock, no environment): the runner feeds `step` the
current job states and carries out the `Step` it answers; `resume_plan` says what a re-run must redo.

Dependency conditions are `pipelines`' (succeeded, failed, finished). Rules (chosen to be simple and written down here
once):
  * Catch and finally. A job with a ``failed`` edge is its dependency's *handler* (a ``catch``); a job with a
    ``finished`` edge is a ``finally``. A FAILED/CANCELLED job is *handled* when one of its handlers SUCCEEDED.
    ``finished`` edges never handle a failure: a clean-up that succeeds does not make the pipeline succeed.
  * Outcome. Once every job is terminal, the pipeline FAILED if some job FAILED or was CANCELLED without being handled,
    else SUCCEEDED. SKIPPED jobs are not failures (a ``failed`` handler skipped because all went well is normal).
  * Fail-fast (default). The pipeline is *failing* as soon as some job FAILED/CANCELLED and none of its handlers can
    still succeed (none SUCCEEDED, none still waiting or running). While failing, every WAITING job is SKIPPED and every
    SUBMITTED/RUNNING job is to be cancelled, except *guard* jobs: jobs with at least one ``failed`` or ``finished``
    edge (on any job). Guards are left to their own conditions, so a ``finally`` job waits for the jobs being
    cancelled and then runs. Jobs downstream of a guard through ``succeeded`` edges are not guards and are skipped.
  * Continue. Nothing is skipped or cancelled beyond what the conditions say: independent branches run to the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from batchplane.domain.pipeline_records import JobState, OnFailure
from batchplane.domain.pipelines import Dag, DependencyCondition, Edge

Outcome = Literal["SUCCEEDED", "FAILED"]
Readiness = Literal["ready", "blocked", "never"]

TERMINAL_STATES: frozenset[JobState] = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"})
FAILURE_STATES: frozenset[JobState] = frozenset({"FAILED", "CANCELLED"})
ACTIVE_STATES: frozenset[JobState] = frozenset({"SUBMITTED", "RUNNING"})

# ---------------------------------------------------------------------------------------------------------- readiness


@dataclass(frozen=True, slots=True)
class Step:
    """What to do now. ``start``: submit these (every job whose edges are all met, whatever its depth). ``skip``: mark
    SKIPPED (they can never run). ``cancel``: ask Batch to cancel (fail-fast); the runner marks them CANCELLED when
    Batch says they ended. ``done``/``outcome``: the pipeline's end, once every job is terminal after this step's skips.
    `step` is idempotent: until the runner records the changes, asking again gives the same answer."""

    start: tuple[str, ...]
    skip: tuple[str, ...]
    cancel: tuple[str, ...]
    done: bool
    outcome: Outcome | None
    failing: bool = False


def edge_met(condition: DependencyCondition, state: JobState) -> bool | None:
    """True if met, False if it never will be, None while the dependency is not terminal."""
    if state not in TERMINAL_STATES:
        return None
    if condition == "succeeded":
        return state == "SUCCEEDED"
    if condition == "failed":
        return state in FAILURE_STATES
    return True


def readiness(edges: Iterable[Edge], states: Mapping[str, JobState]) -> Readiness:
    blocked = False
    for e in edges:
        met = edge_met(e.condition, states[e.id])
        if met is False:
            return "never"
        blocked = blocked or met is None
    return "blocked" if blocked else "ready"


def _plan(
    dag: Dag, current: Mapping[str, JobState], *, failing: bool
) -> tuple[dict[str, JobState], list[str], list[str]]:
    """One pass in topological order; this pass's skips count as SKIPPED for the jobs after them."""
    eff = dict(current)
    start: list[str] = []
    skip: list[str] = []
    for j in dag.order:
        if eff[j] != "WAITING":
            continue
        r: Readiness = "never" if failing and not dag.is_guard(j) else readiness(dag.deps[j], eff)
        if r == "never":
            eff[j] = "SKIPPED"
            skip.append(j)
        elif r == "ready":
            start.append(j)
    return eff, start, skip


def _covered(dag: Dag, job_id: str, states: Mapping[str, JobState]) -> bool:
    """A handler of the failed job SUCCEEDED or may still succeed."""
    return any(states[h] == "SUCCEEDED" or states[h] not in TERMINAL_STATES for h in dag.handlers(job_id))


def step(dag: Dag, states: Mapping[str, JobState], on_failure: OnFailure = "fail-fast") -> Step:
    """The next `Step` from the jobs' states (a job missing from ``states`` is WAITING). See the module's rules."""
    current: dict[str, JobState] = {j: states.get(j, "WAITING") for j in dag.order}
    eff, start, skip = _plan(dag, current, failing=False)
    failing = on_failure == "fail-fast" and any(
        eff[j] in FAILURE_STATES and not _covered(dag, j, eff) for j in dag.order
    )
    cancel: list[str] = []
    if failing:
        eff, start, skip = _plan(dag, current, failing=True)
        cancel = [j for j in dag.order if current[j] in ACTIVE_STATES and not dag.is_guard(j)]
    done = all(eff[j] in TERMINAL_STATES for j in dag.order)
    outcome: Outcome | None = None
    if done:
        unhandled = any(
            eff[j] in FAILURE_STATES and not any(eff[h] == "SUCCEEDED" for h in dag.handlers(j)) for j in dag.order
        )
        outcome = "FAILED" if unhandled else "SUCCEEDED"
    return Step(tuple(start), tuple(skip), tuple(cancel), done, outcome, failing)


# ---------------------------------------------------------------------------------------------------------- resume


def resume_plan(
    dag: Dag,
    previous_states: Mapping[str, JobState],
    spec_hashes_prev: Mapping[str, str],
    spec_hashes_now: Mapping[str, str],
) -> set[str]:
    """The jobs a resume runs again: those that did not SUCCEED last time, are new, or whose spec hash changed, and
    everything downstream of them. The others are carried over as SUCCEEDED (see `resume_states`)."""
    redo = {
        j
        for j in dag.order
        if previous_states.get(j) != "SUCCEEDED"
        or j not in spec_hashes_prev
        or spec_hashes_prev[j] != spec_hashes_now.get(j)
    }
    return redo | dag.descendants(redo)


def resume_states(dag: Dag, rerun: Iterable[str]) -> dict[str, JobState]:
    """The starting states of a resumed run: WAITING for the jobs to re-run, SUCCEEDED for the rest."""
    again = set(rerun)
    return {j: ("WAITING" if j in again else "SUCCEEDED") for j in dag.order}


# ---------------------------------------------------------------------------------------------------------- drawings

_COLOURS: dict[JobState, tuple[str, str]] = {  # fill, stroke
    "WAITING": ("#f5f5f5", "#9e9e9e"),
    "SUBMITTED": ("#e3f2fd", "#64b5f6"),
    "RUNNING": ("#bbdefb", "#1e88e5"),
    "SUCCEEDED": ("#c8e6c9", "#43a047"),
    "FAILED": ("#ffcdd2", "#e53935"),
    "SKIPPED": ("#eeeeee", "#bdbdbd"),
    "CANCELLED": ("#ffe0b2", "#fb8c00"),
}


def to_mermaid(dag: Dag, states: Mapping[str, JobState] | None = None) -> str:
    """A Mermaid flowchart: one node per job (``n0``, ``n1``... labelled with the id and, given states, the state, in
    a class per state), one edge per dependency, labelled when its condition is not ``succeeded`` (dotted)."""
    lines = ["flowchart TD"]
    lines += [f"    classDef {s.lower()} fill:{f},stroke:{k},color:#212121" for s, (f, k) in _COLOURS.items()]
    node = {j: f"n{i}" for i, j in enumerate(dag.order)}
    for j in dag.order:
        state = (states or {}).get(j, "WAITING")
        label = j.replace('"', "#quot;") + (f"<br/>{state}" if states is not None else "")
        lines.append(f'    {node[j]}["{label}"]:::{state.lower()}')
    for up, down, condition in dag.edges():
        arrow = "-->" if condition == "succeeded" else f"-.->|{condition}|"
        lines.append(f"    {node[up]} {arrow} {node[down]}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(dag: Dag, states: Mapping[str, JobState] | None = None) -> str:
    """A Graphviz digraph: nodes named by job id, filled by state; non-default conditions label dashed edges."""
    lines = [
        "digraph pipeline {",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for j in dag.order:
        state = (states or {}).get(j, "WAITING")
        fill, stroke = _COLOURS[state]
        label = j + (f"\\n{state}" if states is not None else "")
        lines.append(f'    {_dot_quote(j)} [label="{label}", fillcolor="{fill}", color="{stroke}"];')
    for up, down, condition in dag.edges():
        attrs = "" if condition == "succeeded" else f' [label="{condition}", style=dashed]'
        lines.append(f"    {_dot_quote(up)} -> {_dot_quote(down)}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"
