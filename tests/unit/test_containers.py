"""Your own image: the operator's allow-lists, Fargate's shapes and the content-hashed job definition are pure."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane.domain.arbiter import Demand, QueueCatalogue
from batchplane.domain.containers import (
    FARGATE_MEMORY_MIB,
    ContainerPolicy,
    Volume,
    is_registered_name,
    pick_revision,
)
from batchplane.domain.errors import InvalidRequestError
from batchplane.domain.models import Capacity, JobRequest, Platform
from batchplane.settings import Settings
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

pytestmark = pytest.mark.unit

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
ROLE = "arn:aws:iam::123456789012:role/etl-job"
POLICY = ContainerPolicy(
    stack="bp",
    registries=(ECR, "public.ecr.aws/amazonlinux/"),
    job_roles=frozenset({ROLE}),
    volumes={"shared": Volume("shared", "fs-0123456789abcdef0", "/mnt/shared")},
    fargate=True,
    execution_role_arn="arn:aws:iam::123456789012:role/bp-exec",
)


def req(**kw: Any) -> JobRequest:
    return JobRequest.model_validate({"name": "j", **kw})


def refused_fields(request: JobRequest, policy: ContainerPolicy = POLICY) -> list[str]:
    with pytest.raises(InvalidRequestError) as caught:
        policy.check(request)
    return [e.field for e in caught.value.errors]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"image": "docker.io/library/alpine:3"}, "image"),
        ({"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.io/x"}, "image"),
        ({"image": f"{ECR}etl:1", "jobRoleArn": "arn:aws:iam::123456789012:role/admin"}, "jobRoleArn"),
        ({"image": f"{ECR}etl:1", "volumes": ["scratch"]}, "volumes"),
        ({"image": f"{ECR}etl:1", "jobDefinition": "sample"}, "jobDefinition"),
        ({"image": f"{ECR}etl:1", "nodes": {"count": 2}}, "nodes"),
        ({"jobRoleArn": ROLE}, "jobRoleArn"),
        ({"volumes": ["shared"]}, "volumes"),
        ({"platform": "fargate"}, "platform"),
        ({"image": f"{ECR}etl:1", "platform": "fargate", "gpus": 1}, "gpus"),
        ({"image": f"{ECR}etl:1", "platform": "fargate", "vcpus": 3, "memoryMiB": 8192}, "vcpus"),
        ({"image": f"{ECR}etl:1", "platform": "fargate", "vcpus": 1, "memoryMiB": 1000}, "memoryMiB"),
        ({"image": f"{ECR}etl:1", "platform": "fargate", "vcpus": 8, "memoryMiB": 17408}, "memoryMiB"),
    ],
)
def test_what_the_operator_did_not_allow_is_a_422_naming_the_field(body: dict[str, Any], field: str) -> None:
    assert field in refused_fields(req(**body))


def test_no_registry_allowed_means_no_image_runs() -> None:
    assert refused_fields(req(image="public.ecr.aws/amazonlinux/amazonlinux:2023"), ContainerPolicy("bp")) == ["image"]


def test_fargate_must_be_turned_on() -> None:
    policy = ContainerPolicy("bp", registries=(ECR,))
    assert refused_fields(req(image=f"{ECR}x:1", platform="fargate"), policy) == ["platform"]


def test_allowed_requests_pass() -> None:
    POLICY.check(req(image=f"{ECR}etl:1", jobRoleArn=ROLE, volumes=["shared"]))
    POLICY.check(req(image=f"{ECR}etl:1", platform="fargate", vcpus=4, memoryMiB=30720))
    POLICY.check(req())  # a plain job: nothing to check


@pytest.mark.parametrize("bad", ["alpine:3 ; rm -rf /", "", "x" * 300, "-rm"])
def test_an_image_reference_is_validated_at_the_edge(bad: str) -> None:
    with pytest.raises(ValidationError):
        req(image=bad)


@given(vcpus=st.sampled_from(sorted(FARGATE_MEMORY_MIB)), memory=st.integers(min_value=512, max_value=130_000))
def test_fargate_pairs_are_exactly_the_table(vcpus: int, memory: int) -> None:
    request = req(image=f"{ECR}x:1", platform="fargate", vcpus=vcpus, memoryMiB=memory)
    if memory in FARGATE_MEMORY_MIB[vcpus]:
        POLICY.check(request)
    else:
        assert refused_fields(request) == ["memoryMiB"]


def test_same_image_and_shape_share_a_name_another_image_does_not() -> None:
    a = POLICY.definition(req(image=f"{ECR}etl:1", vcpus=2, memoryMiB=4096, command=["a"]))
    b = POLICY.definition(
        req(name="other", image=f"{ECR}etl:1", vcpus=2, memoryMiB=4096, command=["b"], tags={"x": "y"})
    )
    c = POLICY.definition(req(image=f"{ECR}etl:2", vcpus=2, memoryMiB=4096))
    d = POLICY.definition(req(image=f"{ECR}etl:1", vcpus=2, memoryMiB=8192))
    assert a.name == b.name  # command, name and tags are SubmitJob's, not the definition's
    assert len({a.name, c.name, d.name}) == 3
    assert is_registered_name(a.name, "bp")
    assert not is_registered_name(a.name, "bp2")
    assert len(a.name) <= 128


def test_the_definition_is_never_privileged_and_efs_is_encrypted_in_transit() -> None:
    spec = POLICY.definition(req(image=f"{ECR}etl:1", jobRoleArn=ROLE, volumes=["shared"]))
    container = spec.body["containerProperties"]
    assert container["privileged"] is False
    assert container["jobRoleArn"] == ROLE
    assert container["volumes"] == [
        {
            "name": "shared",
            "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0", "transitEncryption": "ENABLED"},
        }
    ]
    assert container["mountPoints"] == [{"sourceVolume": "shared", "containerPath": "/mnt/shared", "readOnly": False}]
    assert not any("host" in v for v in container["volumes"])
    assert spec.body["platformCapabilities"] == ["EC2"]
    assert spec.body["jobDefinitionName"] == spec.name


def test_a_fargate_definition_has_what_fargate_needs() -> None:
    spec = POLICY.definition(req(image=f"{ECR}etl:1", platform="fargate", vcpus=2, memoryMiB=4096))
    container = spec.body["containerProperties"]
    assert spec.body["platformCapabilities"] == ["FARGATE"]
    assert spec.platform == "fargate"
    assert container["executionRoleArn"] == POLICY.execution_role_arn
    assert container["fargatePlatformConfiguration"] == {"platformVersion": "LATEST"}
    assert {"type": "VCPU", "value": "2"} in container["resourceRequirements"]


def test_racing_registrations_converge_on_the_lowest_active_revision() -> None:
    found = [
        {"jobDefinitionArn": "arn:x:3", "revision": 3, "status": "ACTIVE"},
        {"jobDefinitionArn": "arn:x:2", "revision": 2, "status": "ACTIVE"},
        {"jobDefinitionArn": "arn:x:1", "revision": 1, "status": "INACTIVE"},
    ]
    assert pick_revision(found) == "arn:x:2"
    assert pick_revision([]) is None


def test_a_request_without_container_fields_hashes_as_before() -> None:
    assert "image" not in req().canonical()
    assert "platform" not in req().canonical()
    assert req(image=f"{ECR}x:1").canonical()["image"] == f"{ECR}x:1"


def fargate_catalogue() -> QueueCatalogue:
    env = {
        "TABLE_NAME": "t",
        "PRIORITY_CLASSES": "low,normal,high,urgent",
        "QUEUE_ARN_PREFIX": "arn:aws:batch:us-east-1:123456789012:job-queue/bp_",
        "FARGATE_ENABLED": "true",
    }
    return Settings.from_environ(env).catalogue()


def test_a_fargate_job_lands_on_a_fargate_queue_and_falls_back_to_fargate() -> None:
    catalogue = fargate_catalogue()
    placed = catalogue.place(Demand.of(req(image=f"{ECR}x:1", platform="fargate", priority="high")))
    assert placed.queue.queue_name == "bp_high_fargate-spot"
    assert placed.queue.platform is Platform.FARGATE
    peer = catalogue.on_demand_peer(placed.queue)
    assert peer is not None
    assert peer.queue_name == "bp_high_fargate-on-demand"
    assert peer.capacity is Capacity.ON_DEMAND
    # and an EC2 job still lands on EC2, falling back to EC2
    ec2 = catalogue.place(Demand.of(req(priority="high")))
    assert ec2.queue.queue_name == "bp_high_spot"
    assert catalogue.on_demand_peer(ec2.queue).queue_name == "bp_high_on-demand"  # type: ignore[union-attr]


def test_without_fargate_no_fargate_queue_exists() -> None:
    env = {
        "TABLE_NAME": "t",
        "PRIORITY_CLASSES": "normal",
        "QUEUE_ARN_PREFIX": "arn:aws:batch:us-east-1:123456789012:job-queue/bp_",
    }
    catalogue = Settings.from_environ(env).catalogue()
    assert not [q for q in catalogue.queues if q.platform is Platform.FARGATE]


@pytest.mark.parametrize(
    ("vcpus", "memory", "escalated"),
    [
        (1, 2048, 4096),  # x2 lands on an allowed size
        (1, 3000, 6144),  # x2 = 6000 rounds up to the next allowed size
        (1, 6144, 8192),  # x2 = 12288 is past 1 vCPU's largest: capped there
        (8, 16384, 32768),
        (None, 2048, 4096),  # no vcpus asked: the definition's 1
    ],
)
def test_a_memory_escalation_on_fargate_lands_on_an_allowed_size(
    vcpus: int | None, memory: int, escalated: int
) -> None:
    from batchplane.domain.failures import FailureSignal
    from batchplane.domain.lifecycle import judge_failure
    from batchplane.domain.models import CapacityPreference, JobStatus
    from batchplane.domain.records import AttemptRecord, JobRecord

    # GIVEN a Fargate job whose attempt ran out of memory on the Fargate Spot queue
    catalogue = fargate_catalogue()
    queue = catalogue.place(Demand.of(req(image=f"{ECR}x:1", platform="fargate"))).queue
    request = req(image=f"{ECR}x:1", platform="fargate", retry={"attempts": 3})
    attempt = AttemptRecord.new(
        "J", "j", after=None, reason="initial", queue_arn=queue.queue_arn, capacity=Capacity.SPOT, now_ms=0,
        memory_mib=memory, vcpus=vcpus, explanation="",
    )  # fmt: skip
    job = JobRecord(
        job_id="J", tenant="t", name="j", status=JobStatus.FAILED, created_at="", updated_at="",
        request=request.canonical(), request_hash="", priority="normal", preference=CapacityPreference.SPOT_FIRST,
        queue_arn=queue.queue_arn, capacity=Capacity.SPOT, placement_reason="", job_definition="d", attempts=[attempt],
    )  # fmt: skip
    oom = FailureSignal(
        "FAILED", "Essential container in task exited", "OutOfMemoryError: Container killed", 137, "SPOT"
    )
    # WHEN the failure is judged
    verdict = judge_failure(job, oom, catalogue, 0.0, 2048)
    # THEN the next attempt asks Fargate for a size it offers with that many vCPUs
    assert verdict.next_attempt is not None, verdict.decision
    assert verdict.next_attempt.memory_mib == escalated
    assert escalated in FARGATE_MEMORY_MIB[vcpus or 1]


def test_a_fargate_oom_at_the_largest_size_for_its_vcpus_gives_up() -> None:
    from batchplane.domain.containers import fargate_memory

    assert fargate_memory(1, 8192) == 8192
    assert fargate_memory(1, 9000) == 8192
    assert fargate_memory(16, 1) == 32768


def test_a_fargate_definition_with_efs_pins_platform_1_4_0() -> None:
    spec = POLICY.definition(req(image=f"{ECR}etl:1", platform="fargate", volumes=["shared"]))
    assert spec.body["containerProperties"]["fargatePlatformConfiguration"] == {"platformVersion": "1.4.0"}


def test_a_fargate_spot_interruption_event_falls_back_to_the_fargate_queue_of_its_class() -> None:
    from batchplane.domain.events import JobDetail
    from batchplane.domain.failures import FailureClass, classify, signal_from_detail
    from batchplane.domain.lifecycle import judge_failure
    from batchplane.domain.models import CapacityPreference, JobStatus
    from batchplane.domain.records import AttemptRecord, JobRecord

    from tests.eventdata import load_event

    # GIVEN AWS's event for a Fargate Spot task that was interrupted, of a job on its class's Fargate Spot queue
    detail = JobDetail.model_validate(load_event("batch-job-state-change-failed-fargate-spot")["detail"])
    signal = signal_from_detail(detail, "spot")
    catalogue = fargate_catalogue()
    queue = catalogue.by_arn(detail.job_queue.replace("batchplane_", "bp_"))
    assert queue is not None
    request = req(image=f"{ECR}etl:1.4", platform="fargate")
    attempt = AttemptRecord.new(
        "J", "j", after=None, reason="initial", queue_arn=queue.queue_arn, capacity=Capacity.SPOT, now_ms=0,
        memory_mib=None, vcpus=None, explanation="",
    )  # fmt: skip
    job = JobRecord(
        job_id="J", tenant="t", name="j", status=JobStatus.FAILED, created_at="", updated_at="",
        request=request.canonical(), request_hash="", priority="normal", preference=CapacityPreference.SPOT_FIRST,
        queue_arn=queue.queue_arn, capacity=Capacity.SPOT, placement_reason="", job_definition="d", attempts=[attempt],
    )  # fmt: skip
    # WHEN it is classified and judged
    verdict = judge_failure(job, signal, catalogue, 0.0, 2048)
    # THEN it is a Spot reclaim, and the next attempt runs on the Fargate (On-Demand) queue of the same class
    assert classify(signal) is FailureClass.SPOT_RECLAIM
    assert verdict.next_attempt is not None
    assert verdict.next_attempt.queue.queue_name == "bp_normal_fargate-on-demand"
    assert verdict.next_attempt.reason == "spot-fallback"
