"""An unmodified boto3 batch client drives LocalBatch over AWS Batch's REST-JSON protocol."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from batchplane_local.batch.api import BatchApi
from botocore.config import Config
from botocore.exceptions import ClientError
from werkzeug.serving import make_server

from tests.local.conftest import JOB_DEF, Env


@pytest.fixture
def endpoint(env: Env) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, BatchApi(env.batch), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def batch_client(endpoint: str, config: Config | None = None) -> Any:
    return boto3.client(
        "batch",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - fake credentials for a local server
        config=config,
    )


@pytest.fixture
def client(endpoint: str) -> Any:
    return batch_client(endpoint)


def test_submit_describe_list_terminate_round_trip(env: Env, client: Any) -> None:
    # GIVEN a job submitted through boto3
    submitted = client.submit_job(
        jobName="api-job",
        jobQueue="arn:aws:batch:us-east-1:123456789012:job-queue/normal-spot",
        jobDefinition=f"{JOB_DEF}:1",
        containerOverrides={"command": ["sleep", "30"]},
        tags={"batchplane:jobId": "01TEST"},
    )
    job_id = submitted["jobId"]
    assert submitted["jobArn"] == f"arn:aws:batch:us-east-1:123456789012:job/{job_id}"
    env.batch.wait_for(job_id, {"RUNNING"})

    # WHEN it is described and listed
    (described,) = client.describe_jobs(jobs=[job_id, "unknown-id"])["jobs"]
    listed = client.list_jobs(jobQueue="normal-spot")["jobSummaryList"]
    # THEN boto3 parsed AWS's shapes (unknown ids are just absent; ListJobs defaults to RUNNING)
    assert described["status"] == "RUNNING"
    assert described["tags"] == {"batchplane:jobId": "01TEST"}
    assert [j["jobId"] for j in listed] == [job_id]
    by_name = client.list_jobs(jobQueue="normal-spot", filters=[{"name": "JOB_NAME", "values": ["api-*"]}])
    assert [j["jobName"] for j in by_name["jobSummaryList"]] == ["api-job"]

    # WHEN it is terminated
    client.terminate_job(jobId=job_id, reason="stop it")
    # THEN it FAILED with that reason
    detail = env.batch.wait_for(job_id, timeout=5)
    assert (detail["status"], detail["statusReason"]) == ("FAILED", "stop it")
    assert client.describe_jobs(jobs=[job_id])["jobs"][0]["statusReason"] == "stop it"


def test_update_compute_environment_changes_capacity(env: Env, client: Any) -> None:
    # GIVEN the Spot compute environment
    # WHEN its maxvCpus is updated to 0 through the API
    out = client.update_compute_environment(computeEnvironment="spot-ce", computeResources={"maxvCpus": 0})
    # THEN the engine's capacity followed and DescribeComputeEnvironments says so
    assert out["computeEnvironmentName"] == "spot-ce"
    (ce,) = client.describe_compute_environments(computeEnvironments=["spot-ce"])["computeEnvironments"]
    assert ce["computeResources"]["maxvCpus"] == 0
    assert ce["computeResources"]["type"] == "SPOT"
    # AND a job now waits with the capacity reason
    job_id = client.submit_job(jobName="wait", jobQueue="normal-spot", jobDefinition=JOB_DEF)["jobId"]
    env.batch.wait_for(job_id, {"RUNNABLE"})
    client.update_compute_environment(computeEnvironment=ce["computeEnvironmentArn"], computeResources={"maxvCpus": 2})
    assert env.batch.wait_for(job_id)["status"] == "SUCCEEDED"


def test_queues_definitions_and_tags(client: Any) -> None:
    # GIVEN the registered resources
    queues = client.describe_job_queues()["jobQueues"]
    definitions = client.describe_job_definitions(jobDefinitionName=JOB_DEF)["jobDefinitions"]
    # THEN they are described in AWS's shapes
    assert {q["jobQueueName"] for q in queues} == {"normal-spot", "normal-od"}
    assert definitions[0]["jobDefinitionArn"].endswith(f":job-definition/{JOB_DEF}:1")
    # WHEN a queue is tagged and untagged
    arn = queues[0]["jobQueueArn"]
    client.tag_resource(resourceArn=arn, tags={"team": "a", "env": "dev"})
    client.untag_resource(resourceArn=arn, tagKeys=["env"])
    # THEN ListTagsForResource shows what is left
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "a"}


def test_bad_request_is_a_client_exception(client: Any) -> None:
    # GIVEN / WHEN a job is submitted to a queue that does not exist
    with pytest.raises(ClientError) as raised:
        client.submit_job(jobName="x", jobQueue="no-such-queue", jobDefinition=JOB_DEF)
    # THEN botocore raises ClientException with HTTP 400
    error = raised.value.response
    assert error["Error"]["Code"] == "ClientException"
    assert error["Error"]["Message"] == "JobQueue no-such-queue not found."  # AWS's own words
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_describe_job_queues_leaves_out_a_queue_it_does_not_know(client: Any) -> None:
    # GIVEN one queue that exists and one that does not
    known = client.describe_job_queues()["jobQueues"][0]["jobQueueArn"]
    # WHEN both are described
    listed = client.describe_job_queues(jobQueues=[known, "no-such-queue"])["jobQueues"]
    # THEN, as AWS answers, only the one that exists is listed, with no error
    assert [q["jobQueueArn"] for q in listed] == [known]


def test_unknown_operation_is_a_400_with_a_clear_message(endpoint: str) -> None:
    # GIVEN / WHEN an operation this local Batch does not implement is called
    request = urllib.request.Request(f"{endpoint}/v1/createjobqueue", data=b"{}", method="POST")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310 - a local test server
    # THEN it is refused with AWS's JSON error shape
    assert raised.value.code == 400
    assert raised.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert "/v1/createjobqueue" in json.loads(raised.value.read())["message"]


def test_register_job_definition_makes_a_revision_per_call_and_refuses_what_fargate_cannot_run(client: Any) -> None:
    # GIVEN a Fargate definition as batchplane registers one
    container = {
        "image": "public.ecr.aws/amazonlinux/amazonlinux:2023",
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
    }
    body = {"jobDefinitionName": "own-img", "type": "container", "platformCapabilities": ["FARGATE"]}
    # WHEN it is registered twice
    first = client.register_job_definition(**body, containerProperties=container)
    second = client.register_job_definition(**body, containerProperties=container)
    # THEN each call is a new revision, as in AWS, and both are ACTIVE with what was registered
    assert (first["revision"], second["revision"]) == (1, 2)
    found = client.describe_job_definitions(jobDefinitionName="own-img", status="ACTIVE")["jobDefinitions"]
    assert sorted(d["revision"] for d in found) == [1, 2]
    assert found[0]["containerProperties"]["image"] == container["image"]
    assert found[0]["platformCapabilities"] == ["FARGATE"]
    # AND what Fargate cannot run is a ClientException
    for bad in (
        {**container, "executionRoleArn": None},
        {**container, "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "1000"}]},
        {**container, "privileged": True},
    ):
        with pytest.raises(ClientError) as caught:
            client.register_job_definition(**body, containerProperties={k: v for k, v in bad.items() if v is not None})
        assert caught.value.response["Error"]["Code"] == "ClientException"


def test_a_fargate_environment_is_described_as_aws_describes_one(env: Env, client: Any) -> None:
    env.batch.add_compute_environment("fargate-spot-ce", capacity="spot", max_vcpus=4, fargate=True)
    (ce,) = client.describe_compute_environments(computeEnvironments=["fargate-spot-ce"])["computeEnvironments"]
    assert ce["computeResources"]["type"] == "FARGATE_SPOT"
    assert "desiredvCpus" not in ce["computeResources"]
    assert "instanceTypes" not in ce["computeResources"]


def test_submitjob_over_the_accounts_rate_is_a_429_that_botocore_retries_as_a_throttle(env: Env, endpoint: str) -> None:
    # GIVEN a client that does not retry, and the account's SubmitJob rate at 2 a second (AWS's is 50: the same
    # bucket) on a clock that stands still, so a burst is a burst however slow the machine
    from batchplane_local.batch.throttle import SubmitRate

    now = [0.0]
    env.batch.submit_rate = SubmitRate(2, clock=lambda: now[0])

    def client(attempts: int) -> Any:
        return batch_client(endpoint, Config(retries={"mode": "standard", "total_max_attempts": attempts}))

    once = client(1)
    # WHEN 5 SubmitJob calls come at once (to a queue that does not exist: refused after the rate is counted)
    outcomes = []
    for i in range(5):
        with pytest.raises(ClientError) as raised:
            once.submit_job(jobName=f"burst-{i}", jobQueue="no-such-queue", jobDefinition=JOB_DEF)
        outcomes.append(
            (raised.value.response["ResponseMetadata"]["HTTPStatusCode"], raised.value.response["Error"]["Code"])
        )
    # THEN the first 2 were looked at (and refused for their queue), the rest throttled as AWS answers them
    assert outcomes == [(400, "ClientException")] * 2 + [(429, "TooManyRequestsException")] * 3
    assert env.batch.submit_rate.refused == 3

    # AND botocore's standard retry mode takes that answer for a throttle: with the clock moving 0.1 s per call
    # (a fifth of a token), the first tries are refused and a retry gets through
    def ticking() -> float:
        now[0] += 0.1
        return now[0]

    env.batch.submit_rate = SubmitRate(2, clock=ticking)
    for _ in range(2):
        env.batch.submit_rate.take()
    job_id = client(10).submit_job(jobName="after", jobQueue="normal-spot", jobDefinition=JOB_DEF)["jobId"]
    assert once.describe_jobs(jobs=[job_id])["jobs"][0]["jobName"] == "after"
    assert env.batch.submit_rate.refused >= 1


def test_the_submit_rate_is_a_bucket_of_one_seconds_worth_refilled_at_the_rate() -> None:
    from batchplane_local.batch.throttle import SubmitRate, TooManyRequestsError

    now = [0.0]
    rate = SubmitRate(50, clock=lambda: now[0])
    for _ in range(50):
        rate.take()
    with pytest.raises(TooManyRequestsError):
        rate.take()
    now[0] = 0.1  # 5 tokens back
    for _ in range(5):
        rate.take()
    with pytest.raises(TooManyRequestsError):
        rate.take()
    now[0] = 60.0  # a quiet minute saves up one second's worth, not sixty
    for _ in range(50):
        rate.take()
    with pytest.raises(TooManyRequestsError):
        rate.take()
    assert rate.refused == 3
    now[0] = 60.02  # the dispatcher's pace, one call per 20 ms, is never refused
    for step in range(500):
        now[0] = 60.021 + step * 0.0201
        rate.take()
