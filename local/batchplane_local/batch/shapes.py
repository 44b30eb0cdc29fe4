"""The local Batch's records in the shapes AWS Batch's API and events give them: JobDetail (DescribeJobs and the
``detail`` of a "Batch Job State Change" event), JobSummary (ListJobs), job definitions, job queues, compute
environments. Pure functions of the records: no lock, no clock but the event's timestamp."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from batchplane_local.batch.model import (
    STATUSES,
    BatchClientError,
    ComputeEnvironment,
    Job,
    JobDefinition,
    JobQueue,
    glob,
    iso_now,
)


def job_detail(job: Job) -> dict[str, Any]:
    d: dict[str, Any] = {
        "jobArn": job.arn,
        "jobName": job.name,
        "jobId": job.job_id,
        "jobQueue": job.queue.arn,
        "status": job.status,
        "attempts": copy.deepcopy(job.attempts),
        "createdAt": job.created_at,
        "retryStrategy": copy.deepcopy(job.retry_strategy),
        "dependsOn": copy.deepcopy(job.depends_on),
        "jobDefinition": job.definition.arn,
        "parameters": dict(job.parameters),
        "tags": dict(job.tags),
        "propagateTags": job.propagate_tags,
        "platformCapabilities": list(job.definition.platform_capabilities),
        "eksAttempts": [],
    }
    if job.status_reason is not None:
        d["statusReason"] = job.status_reason
    if job.started_at is not None:
        d["startedAt"] = job.started_at
    if job.stopped_at is not None:
        d["stoppedAt"] = job.stopped_at
    if job.container is not None:
        d["container"] = copy.deepcopy(job.container)
    if job.timeout is not None:
        d["timeout"] = dict(job.timeout)
    if job.share_identifier is not None:
        d["shareIdentifier"] = job.share_identifier
    if job.scheduling_priority is not None:
        d["schedulingPriority"] = job.scheduling_priority
    if job.is_cancelled:
        d["isCancelled"] = True
    if job.is_terminated:
        d["isTerminated"] = True
    if job.is_array_parent:
        d["arrayProperties"] = {"statusSummary": status_summary(job), "size": job.array_size}
        if job.summary_updated_at is not None:
            d["arrayProperties"]["statusSummaryLastUpdatedAt"] = job.summary_updated_at
    elif job.array_index is not None:
        d["arrayProperties"] = {"index": job.array_index}
    if job.node_properties is not None:
        d["nodeProperties"] = copy.deepcopy(job.node_properties)
        if job.node_index is not None:
            d["nodeDetails"] = {"nodeIndex": job.node_index, "isMainNode": job.is_main_node}
    return d


def status_summary(job: Job) -> dict[str, int]:
    if not job.children:
        return {}
    summary = dict.fromkeys(STATUSES, 0)
    for child in job.children:
        summary[child.status] += 1
    return summary


def job_summary(job: Job) -> dict[str, Any]:
    s: dict[str, Any] = {
        "jobArn": job.arn,
        "jobId": job.job_id,
        "jobName": job.name,
        "createdAt": job.created_at,
        "status": job.status,
        "jobDefinition": job.definition.arn,
    }
    optional = {
        "statusReason": job.status_reason,
        "startedAt": job.started_at,
        "stoppedAt": job.stopped_at,
        "shareIdentifier": job.share_identifier,
    }
    s.update({key: value for key, value in optional.items() if value is not None})
    if job.container is not None and job.attempts:
        last = job.attempts[-1].get("container", {})
        s["container"] = {k: last[k] for k in ("exitCode", "reason") if k in last}
    if job.is_array_parent:
        s["arrayProperties"] = {"size": job.array_size, "statusSummary": status_summary(job)}
    elif job.array_index is not None:
        s["arrayProperties"] = {"index": job.array_index}
    if job.node_properties is not None:
        s["nodeProperties"] = {"numNodes": job.node_properties["numNodes"]}
        if job.node_index is not None:
            s["nodeProperties"].update(nodeIndex=job.node_index, isMainNode=job.is_main_node)
    if job.is_cancelled:
        s["isCancelled"] = True
    if job.is_terminated:
        s["isTerminated"] = True
    return s


def definition_detail(jd: JobDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {
        "jobDefinitionName": jd.name,
        "jobDefinitionArn": jd.arn,
        "revision": jd.revision,
        "status": jd.status,
        "type": jd.type,
        "parameters": dict(jd.parameters),
        "tags": dict(jd.tags),
        "propagateTags": jd.propagate_tags,
        "platformCapabilities": list(jd.platform_capabilities),
        "containerOrchestrationType": "ECS",
    }
    if jd.container_properties is not None:
        out["containerProperties"] = copy.deepcopy(jd.container_properties)
    if jd.node_properties is not None:
        out["nodeProperties"] = copy.deepcopy(jd.node_properties)
    if jd.retry_strategy is not None:
        out["retryStrategy"] = copy.deepcopy(jd.retry_strategy)
    if jd.timeout is not None:
        out["timeout"] = dict(jd.timeout)
    return out


def filter_matches(job: Job, name: str, values: list[str]) -> bool:
    if not values:
        return True
    value = values[0]
    if name == "JOB_NAME":
        return glob(value, job.name)
    if name == "JOB_DEFINITION":
        return value in (job.definition.arn, job.definition.name, f"{job.definition.name}:*") or glob(
            value, f"{job.definition.name}:{job.definition.revision}"
        )
    if name == "BEFORE_CREATED_AT":
        return job.created_at < int(value)
    if name == "AFTER_CREATED_AT":
        return job.created_at > int(value)
    raise BatchClientError(f"Invalid filter name {name}")


def queue_detail(jq: JobQueue, ces: Mapping[str, ComputeEnvironment]) -> dict[str, Any]:
    """A JobQueueDetail (DescribeJobQueues)."""
    return {
        "jobQueueName": jq.name,
        "jobQueueArn": jq.arn,
        "state": "ENABLED",
        "status": "VALID",
        "statusReason": "JobQueue Healthy",
        "priority": jq.priority,
        "computeEnvironmentOrder": [
            {"order": i + 1, "computeEnvironment": ces[ce].arn} for i, ce in enumerate(jq.compute_environments)
        ],
        "jobQueueType": "ECS",
        "tags": dict(jq.tags),
        "jobStateTimeLimitActions": [],
    }


def compute_environment_detail(
    ce: ComputeEnvironment, region: str, account: str, waiting_vcpus: float
) -> dict[str, Any]:
    """A ComputeEnvironmentDetail (DescribeComputeEnvironments); ``waiting_vcpus``: the RUNNABLE demand on it. A
    Fargate environment, as AWS describes one, has a FARGATE(_SPOT) type and no instances, allocation strategy or
    desiredvCpus."""
    if ce.fargate:
        return {
            "computeEnvironmentName": ce.name,
            "computeEnvironmentArn": ce.arn,
            "ecsClusterArn": f"arn:aws:ecs:{region}:{account}:cluster/{ce.cluster_name}",
            "tags": dict(ce.tags),
            "type": "MANAGED",
            "state": "ENABLED",
            "status": "VALID",
            "statusReason": "ComputeEnvironment Healthy",
            "computeResources": {
                "type": "FARGATE_SPOT" if ce.capacity == "spot" else "FARGATE",
                "maxvCpus": ce.max_vcpus,
                "subnets": [],
                "securityGroupIds": [],
            },
            "containerOrchestrationType": "ECS",
            "uuid": ce.uuid,
        }
    return {
        "computeEnvironmentName": ce.name,
        "computeEnvironmentArn": ce.arn,
        "ecsClusterArn": f"arn:aws:ecs:{region}:{account}:cluster/{ce.cluster_name}",
        "tags": dict(ce.tags),
        "type": "MANAGED",
        "state": "ENABLED",
        "status": "VALID",
        "statusReason": "ComputeEnvironment Healthy",
        "computeResources": {
            "type": "SPOT" if ce.capacity == "spot" else "EC2",
            "allocationStrategy": (
                "SPOT_PRICE_CAPACITY_OPTIMIZED" if ce.capacity == "spot" else "BEST_FIT_PROGRESSIVE"
            ),
            "minvCpus": 0,
            "maxvCpus": ce.max_vcpus,
            # as Batch sets it from queue demand: what runs plus what waits RUNNABLE for it, up to max
            "desiredvCpus": min(ce.max_vcpus, int(ce.used_vcpus + waiting_vcpus + 0.999)),
            "instanceTypes": list(ce.instance_types),
            "subnets": [],
            "securityGroupIds": [],
            "tags": {},
            "ec2Configuration": [{"imageType": "ECS_AL2023"}],
        },
        "serviceRole": f"arn:aws:iam::{account}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch",
        "updatePolicy": {"terminateJobsOnUpdate": False, "jobExecutionTimeoutMinutes": 30},
        "containerOrchestrationType": "ECS",
        "uuid": ce.uuid,
    }


def state_change_event(job: Job, region: str, account: str) -> dict[str, Any]:
    """The EventBridge "Batch Job State Change" event for the job as it is now."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Batch Job State Change",
        "source": "aws.batch",
        "account": account,
        "time": iso_now(),
        "region": region,
        "resources": [job.arn],
        "detail": job_detail(job),
    }


def queue_blocked_event(job: Job, region: str, account: str) -> dict[str, Any]:
    """AWS's "Batch Job Queue Blocked" event: the JobDetail of the RUNNABLE job blocking the head of its queue."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Batch Job Queue Blocked",
        "source": "aws.batch",
        "account": account,
        "time": iso_now(),
        "region": region,
        "resources": [job.arn, job.queue.arn],
        "detail": job_detail(job),
    }
