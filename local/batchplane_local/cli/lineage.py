"""Lineage commands: a job's attempts and artifacts as a tree, and what used or produced an artifact."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree

from batchplane_local.cli.api import call
from batchplane_local.cli.output import console, esc, print_json, styled

_INPUT_KINDS = ("input", "read", "consume", "used")
_OUTPUT_KINDS = ("output", "write", "produce", "generat")


def _attempt_text(node: dict[str, Any], replaces: str | None) -> str:
    if "attempt" in node:
        parts = [f"a{node['attempt']}", node.get("reason"), node.get("capacity"), node.get("status")]
        text = " ".join(esc(p) for p in parts if p)
    else:
        text = " ".join(esc(p) for p in (node.get("label") or node.get("id"), node.get("status")) if p)
    rep = node.get("replaces")
    if rep is not None and rep != "":
        text += f" (replaces a{esc(rep)})" if isinstance(rep, int) else f" (replaces {esc(rep)})"
    elif replaces:
        text += f" (replaces {esc(replaces)})"
    return text


def _artifact_direction(node: dict[str, Any], edge: dict[str, Any]) -> str:
    role = str(node.get("role") or node.get("direction") or edge.get("kind") or "").lower()
    if any(k in role for k in _INPUT_KINDS):
        return "inputs"
    if any(k in role for k in _OUTPUT_KINDS):
        return "outputs"
    return "inputs" if edge.get("from") == node.get("id") else "outputs"


def lineage_tree(data: dict[str, Any]) -> Tree:
    """job → attempts (reason, capacity, status, what each replaces) → artifacts (inputs / outputs)."""
    nodes: dict[str, dict[str, Any]] = {str(n.get("id")): n for n in data.get("nodes") or []}
    edges: list[dict[str, Any]] = list(data.get("edges") or [])
    job_nodes = [i for i, n in nodes.items() if n.get("kind") == "job"]
    wanted = str(data.get("jobId") or "")
    root_id = next((i for i in job_nodes if i in (wanted, f"job:{wanted}")), job_nodes[0] if job_nodes else wanted)
    root = nodes.get(root_id, {"id": root_id, "label": root_id})
    tree = Tree(f"[bold]{esc(root.get('label') or root_id)}[/bold]  {styled(root.get('status'))}")

    def neighbours(node_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        out = []
        for e in edges:
            other = e.get("to") if e.get("from") == node_id else e.get("from") if e.get("to") == node_id else None
            if other is not None and str(other) in nodes:
                out.append((nodes[str(other)], e))
        return out

    # what each attempt replaces, from "replaces" edges (new → old) when the node does not say
    label_of = {i: str(n.get("label") or i) for i, n in nodes.items()}
    replaces: dict[str, str] = {}
    for e in edges:
        if "replace" in str(e.get("kind", "")).lower():
            replaces[str(e.get("from"))] = label_of.get(str(e.get("to")), str(e.get("to")))

    def add_artifacts(branch: Tree, node_id: str) -> None:
        groups: dict[str, list[str]] = {"inputs": [], "outputs": []}
        for other, edge in neighbours(node_id):
            if other.get("kind") == "artifact":
                groups[_artifact_direction(other, edge)].append(esc(other.get("label") or other.get("id")))
        for group, items in groups.items():
            if items:
                sub = branch.add(f"[dim]{group}[/dim]")
                for item in sorted(set(items)):
                    sub.add(item)

    attempts = [n for n in (o for o, _ in neighbours(root_id)) if n.get("kind") == "attempt"]
    attempts += [n for n in nodes.values() if n.get("kind") == "attempt" and n not in attempts]
    attempts.sort(key=lambda n: (n.get("attempt") is None, n.get("attempt") or 0, str(n.get("id"))))
    for a in attempts:
        branch = tree.add(_attempt_text(a, replaces.get(str(a.get("id")))))
        add_artifacts(branch, str(a.get("id")))
    add_artifacts(tree, root_id)
    for other, edge in neighbours(root_id):  # related jobs (dependencies, pipeline neighbours)
        if other.get("kind") == "job" and str(other.get("id")) != root_id:
            tree.add(f"[dim]{esc(edge.get('kind'))}[/dim] {esc(other.get('label'))} {styled(other.get('status'))}")
    return tree


def lineage(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="the job id")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """Show the job's lineage: attempts and the artifacts they read and wrote."""
    data = call(ctx, "lineage", job_id)
    if as_json:
        print_json(data)
        return
    console.print(lineage_tree(data))


def artifacts(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="an artifact URI, e.g. s3://bucket/key")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw answer")] = False,
) -> None:
    """What used or produced an artifact: your jobs that named URI as an input or an output (GET /artifacts?uri=)."""
    answer = call(ctx, "artifacts", uri)
    if as_json:
        print_json(answer)
        return
    rows = answer.get("jobs") or []
    if not rows:
        console.print(f"no job of yours used or produced {esc(uri)}")
        return
    table = Table(title=esc(uri), title_justify="left")
    keys = ("role", "jobId", "name")  # role: input (the job used it) or output (it produced it)
    for key in keys:
        table.add_column(key, overflow="fold")
    for r in rows:
        table.add_row(*(esc(r.get(k)) for k in keys))
    console.print(table)
