"""Jobs with their own image on the local stack, over HTTP and the CLI: one registered definition per image and shape,
the operator's allow-lists as 422s, and a Fargate job that falls back from Fargate Spot to Fargate on interruption.
The local Batch runs the command as a process and records the image it would have run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import E2E_STACK_ARGS, ENTRY_POINT, ROOT, Api, local_stack

pytestmark = pytest.mark.e2e

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
REGISTRY = "public.ecr.aws/amazonlinux/"
IMAGE = f"{REGISTRY}amazonlinux:2023"
ROLE = "arn:aws:iam::123456789012:role/etl-job"
PARAMETERS = (
    f"AllowedImageRegistries={REGISTRY}",
    f"AllowedJobRoleArns={ROLE}",
    "EnableFargate=true",
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    extra = [arg for p in PARAMETERS for arg in ("--parameter", p)]
    with local_stack(tmp_path_factory.mktemp("own-image"), *E2E_STACK_ARGS, *extra) as api:
        yield api


def job(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "command": ["echo", name], "vcpus": 1, "memoryMiB": 2048, **kw}


def test_same_image_and_shape_share_a_definition_another_image_gets_its_own(api: Api) -> None:
    # WHEN two jobs with the same image and shape and a third with another image are submitted
    a = api.submit(job("a", jobRoleArn=ROLE))
    b = api.submit(job("b", jobRoleArn=ROLE))
    c = api.submit(job("c", image=f"{REGISTRY}amazonlinux:2"))
    done = [api.wait(j["jobId"], TERMINAL) for j in (a, b, c)]
    # THEN all ran (the command, as a process) and say which image they would have run
    assert [d["status"] for d in done] == ["SUCCEEDED"] * 3, done
    assert [d["image"] for d in done] == [IMAGE, IMAGE, f"{REGISTRY}amazonlinux:2"]
    # AND the first two share one registered definition, the third has a second
    assert done[0]["jobDefinition"] == done[1]["jobDefinition"] != done[2]["jobDefinition"]
    assert "job-definition/batchplane-local_img_" in done[0]["jobDefinition"]
    # AND /definitions lists them with the jobs on each
    listed = {d["arn"]: d for d in api.http.get("/definitions").json()["definitions"]}
    assert sorted(listed[done[0]["jobDefinition"]]["jobs"]) == sorted([a["jobId"], b["jobId"]])
    assert listed[done[2]["jobDefinition"]]["jobs"] == [c["jobId"]]
    assert listed[done[0]["jobDefinition"]]["jobRoleArn"] == ROLE
    # AND the local Batch ran each on its definition and recorded the image it would have run
    ran = {j["jobId"]: j for j in api.http.get("/_local/batch/jobs").json()["jobs"]}
    for d in done:
        batch_job = ran[d["batchJobId"]]
        assert (batch_job["jobDefinition"], batch_job["image"]) == (d["jobDefinition"], d["image"])


def test_an_image_or_role_the_operator_did_not_allow_is_a_422(api: Api) -> None:
    for body, field in (
        (job("x", image="docker.io/library/alpine:3"), "image"),
        (job("y", jobRoleArn="arn:aws:iam::123456789012:role/admin"), "jobRoleArn"),
        (job("z", platform="fargate", vcpus=1, memoryMiB=1000), "memoryMiB"),
    ):
        r = api.http.post("/jobs", json=body)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == [field]


def test_a_fargate_job_falls_back_from_fargate_spot_to_fargate_on_interruption(api: Api) -> None:
    # GIVEN a Fargate job running on the Fargate Spot queue of its class
    started = api.submit(job("fg", platform="fargate", priority="high", command=["sh", "-c", "sleep 2; echo done"]))
    assert started["queue"] == "batchplane-local_high_fargate-spot"
    api.wait_attempt(started["jobId"], 1, {"RUNNING"})
    # WHEN Fargate Spot interrupts its task
    r = api.http.post("/_local/interrupt", json={"jobId": started["jobId"]})
    assert r.status_code == 200, r.text
    # THEN its next attempt runs on the Fargate (On-Demand) queue of the same class, and succeeds
    done = api.wait(started["jobId"], TERMINAL, attempts=2)
    assert done["status"] == "SUCCEEDED", done
    first, second = done["attempts"]
    assert first["statusReason"] == "Your Spot Task was interrupted."
    assert first["failureClass"] == "spot-reclaim"
    assert (second["reason"], second["queue"]) == ("spot-fallback", "batchplane-local_high_fargate-on-demand")
    assert done["platform"] == "fargate"


def test_the_cli_submits_an_image_on_fargate_and_lists_definitions(api: Api) -> None:
    env = {**os.environ, "BATCHPLANE_API": api.base, "COLUMNS": "400"}  # tables unwrapped

    def cli(*args: str) -> str:
        out = subprocess.run([str(ENTRY_POINT), *args], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        assert out.returncode == 0, out.stderr
        return out.stdout

    submitted = cli("submit", "--name", "cli", "--image", IMAGE, "--platform", "fargate", "--command", "true", "--wait")
    assert "fargate" in submitted
    job_id = submitted.split()[0]
    assert IMAGE in cli("status", job_id)
    assert IMAGE in cli("definitions")


def test_a_pipeline_job_brings_its_own_image_and_a_bad_one_refuses_the_pipeline(api: Api) -> None:
    from tests.e2e.test_pipelines import create, wait_pipeline

    # GIVEN a pipeline whose second job runs on Fargate in its own image
    body = {
        "name": "own-image",
        "jobs": [
            {"id": "prep", "command": ["true"]},
            {"id": "work", "dependsOn": ["prep"], **job("work", platform="fargate")},
        ],
    }
    # WHEN it runs
    done = wait_pipeline(api, create(api, body)["pipelineId"])
    # THEN it succeeds, the job having run on a registered Fargate definition
    assert done["status"] == "SUCCEEDED", done
    work = api.job(next(j["jobId"] for j in done["jobs"] if j["id"] == "work"))
    assert work["image"] == IMAGE
    assert work["platform"] == "fargate"
    assert "job-definition/batchplane-local_img_" in work["jobDefinition"]
    assert work["queue"].endswith("_fargate-spot")
    # AND a pipeline with an image from a registry not allowed is refused before anything runs
    body["jobs"][1]["image"] = "docker.io/library/alpine:3"
    r = api.http.post("/pipelines", json=body)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["jobs.1.image"]
