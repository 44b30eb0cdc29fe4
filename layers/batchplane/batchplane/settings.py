"""Configuration: read once from the environment (set by template.yaml), validated, then passed down.

Nothing below the handlers reads ``os.environ``: this module is the only place that does."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from batchplane.domain.arbiter import ANY_PRIORITY, QueueCatalogue, QueueClass
from batchplane.domain.containers import ContainerPolicy, Volume
from batchplane.domain.models import Capacity, Platform, Priority
from batchplane.domain.quotas import Quota
from batchplane.domain.sweep_keys import SweepIndex

# The classes the domain knows (JobRequest.priority): a class the template adds needs its line in Priority too
KNOWN_PRIORITY_CLASSES: frozenset[str] = frozenset(p.value for p in Priority)
# What template.yaml's QUEUE_ARN_PREFIX is: "arn:<partition>:batch:<region>:<account>:job-queue/<stack>_"
_QUEUE_ARN_PREFIX = re.compile(r"^arn:aws[a-z-]*:batch:[a-z0-9-]+:\d{12}:job-queue/[A-Za-z][A-Za-z0-9-]*_$")


class QueueEntry(BaseModel):
    """One queue of the catalogue, derived from PRIORITY_CLASSES and QUEUE_ARN_PREFIX (see :func:`derive_queues`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p: str  # priority class, or "*"
    c: Capacity
    q: str = Field(min_length=1)  # job queue ARN
    v: int = 256  # largest vCPUs one job may ask on this queue
    m: int = 1_000_000  # largest memory (MiB) one job may ask on this queue
    g: int = 0  # GPUs
    mnp: bool = False
    f: bool = False  # a Fargate queue


def derive_queues(
    prefix: str,
    classes: tuple[str, ...],
    *,
    max_vcpus: int,
    max_memory_mib: int,
    gpu_max_memory_mib: int,
    gpus: int,
    known: Collection[str] = KNOWN_PRIORITY_CLASSES,
    fargate: bool = False,
) -> tuple[QueueEntry, ...]:
    """The stack's job queues as template.yaml names them: "<prefix><class>_spot" and "<prefix><class>_on-demand" per
    class, "<prefix>multinode", "<prefix>gpu" when ``gpus`` > 0, and with ``fargate`` "<prefix><class>_fargate-spot"
    and "<prefix><class>_fargate-on-demand" per class (Fargate: at most 16 vCPUs and 120 GiB a job).
    Refuses (ValueError, naming it) a prefix that is
    not a stack's queue ARN prefix, no class, a class twice, or a class the domain does not know."""
    if not _QUEUE_ARN_PREFIX.match(prefix):
        msg = f"QUEUE_ARN_PREFIX {prefix!r} is not arn:<partition>:batch:<region>:<account>:job-queue/<stack>_"
        raise ValueError(msg)
    if not classes:
        msg = "PRIORITY_CLASSES names no priority class"
        raise ValueError(msg)
    if len(set(classes)) != len(classes):
        msg = f"PRIORITY_CLASSES names a class twice: {','.join(classes)}"
        raise ValueError(msg)
    unknown = [c for c in classes if c not in known]
    if unknown:
        msg = (
            f"PRIORITY_CLASSES has {', '.join(unknown)}, which batchplane.domain.models.Priority does not name: "
            "add the class there too"
        )
        raise ValueError(msg)
    limits = {"v": max_vcpus, "m": max_memory_mib}
    queues = [
        QueueEntry(p=cls, c=capacity, q=f"{prefix}{cls}_{capacity.value}", **limits)
        for cls in classes
        for capacity in (Capacity.SPOT, Capacity.ON_DEMAND)
    ]
    if fargate:
        queues.extend(
            QueueEntry(p=cls, c=capacity, q=f"{prefix}{cls}_fargate-{capacity.value}", v=16, m=122_880, f=True)
            for cls in classes
            for capacity in (Capacity.SPOT, Capacity.ON_DEMAND)
        )
    queues.append(QueueEntry(p=ANY_PRIORITY, c=Capacity.ON_DEMAND, q=f"{prefix}multinode", mnp=True, **limits))
    if gpus > 0:
        queues.append(
            QueueEntry(
                p=ANY_PRIORITY, c=Capacity.ON_DEMAND, q=f"{prefix}gpu", v=max_vcpus, m=gpu_max_memory_mib, g=gpus
            )
        )
    return tuple(queues)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str
    stack_name: str = ""  # tags every Batch job batchplane:stack (template: AWS::StackName)
    priority_classes: tuple[str, ...] = ()  # template: PriorityClasses, lowest first
    queues: tuple[QueueEntry, ...]
    job_definitions: dict[str, str]
    multinode_job_definitions: frozenset[str] = frozenset()
    allowed_job_definitions: frozenset[str] = frozenset()  # AllowedJobDefinitions: operator-listed names
    job_definition_tags: dict[str, int] = Field(default_factory=dict)  # declared name -> its propagated tags
    default_job_definition: str = "sample"
    tenant_claim: str = "sub"
    max_body_bytes: int = 262_144
    default_memory_mib: int = 2048  # memory of an attempt whose events did not say (the sample definition's)
    repair_after_seconds: float = 120.0  # an attempt with no event and no Batch job after this is resubmitted
    reconcile_after_seconds: float = 900.0  # an active job silent this long is described (lost events)
    dead_letter_queue_url: str | None = None
    pipeline_state_machine_arn: str = ""
    stage_queue_url: str = ""  # where wide fan-outs are handed over as release work (empty: started inline)
    scheduled_submit_function_arn: str = ""
    scheduler_role_arn: str = ""
    schedule_dead_letter_arn: str = ""
    schedule_group_name: str = "default"  # the stack's EventBridge Scheduler group (template: ScheduleGroup)
    retention_days: int = Field(default=90, ge=1)  # an ended job or pipeline expires (TTL) this long after
    submit_jobs_per_second: float = Field(default=50.0, gt=0)  # AWS Batch: SubmitJob 50/s per account
    sweeper_shards: int = Field(default=16, ge=1, le=256)  # gsi2 partition keys per bucket (template: SweeperShards)
    # the default tenant quota (template: DefaultMaxRunningVcpus, ...; empty: no limit) and the admins
    default_max_running_vcpus: int | None = Field(default=None, ge=0)
    default_max_running_memory_mib: int | None = Field(default=None, ge=0)
    default_max_running_gpus: int | None = Field(default=None, ge=0)
    default_max_queued_jobs: int | None = Field(default=None, ge=0)
    dispatcher_loop_seconds: float = Field(default=50.0, ge=0)  # how long one dispatcher invocation ticks
    dispatcher_tick_seconds: float = Field(default=0.5, gt=0)  # its pause when nothing was admissible

    def default_quota(self) -> Quota:
        return Quota(
            max_running_vcpus=self.default_max_running_vcpus,
            max_running_memory_mib=self.default_max_running_memory_mib,
            max_running_gpus=self.default_max_running_gpus,
            max_queued_jobs=self.default_max_queued_jobs,
        )

    admin_principals: frozenset[str] = frozenset()  # template: AdminPrincipals (ADMIN_PRINCIPALS, comma-joined)
    # the compute environments' instance types (template: InstanceTypes, MultiNodeInstanceTypes, GpuInstanceTypes),
    # comma-joined: what an attempt is priced on (Batch's events do not name the instance type)
    instance_types: str = ""
    multinode_instance_types: str = ""
    gpu_instance_types: str = ""
    price_table_file: str = ""  # a JSON price table replacing the shipped one (batchplane.domain.prices)
    price_source: str = "shipped"  # template: PriceSource; "aws": fetched daily by the sweeper (Price List, Spot)
    region: str = "us-east-1"  # the functions' Region (Lambda's AWS_REGION): whose prices are fetched
    # Your own image (template: AllowedImageRegistries, AllowedJobRoleArns, EnableFargate, EfsFileSystemId, ...)
    allowed_image_registries: tuple[str, ...] = ()
    allowed_job_role_arns: frozenset[str] = frozenset()
    fargate_enabled: bool = False
    fargate_execution_role_arn: str = ""
    efs_file_system_id: str = ""
    efs_access_point_id: str = ""
    shared_volume_path: str = "/mnt/shared"

    @field_validator("queues")
    @classmethod
    def _some_queue(cls, value: tuple[QueueEntry, ...]) -> tuple[QueueEntry, ...]:
        if not value:
            msg = "the queue catalogue has no queue"
            raise ValueError(msg)
        return value

    def catalogue(self) -> QueueCatalogue:
        return QueueCatalogue(
            QueueClass(
                priority=e.p,
                capacity=e.c,
                queue_arn=e.q,
                max_vcpus=e.v,
                max_memory_mib=e.m,
                max_gpus=e.g,
                multi_node=e.mnp,
                platform=Platform.FARGATE if e.f else Platform.EC2,
            )
            for e in self.queues
        )

    def container_policy(self) -> ContainerPolicy:
        volumes = {}
        if self.efs_file_system_id:
            volumes["shared"] = Volume(
                "shared", self.efs_file_system_id, self.shared_volume_path, self.efs_access_point_id or None
            )
        return ContainerPolicy(
            stack=self.stack_name or "batchplane",
            registries=self.allowed_image_registries,
            job_roles=self.allowed_job_role_arns,
            volumes=volumes,
            fargate=self.fargate_enabled,
            execution_role_arn=self.fargate_execution_role_arn,
        )

    @classmethod
    def from_environ(
        cls, env: Mapping[str, str], *, known_classes: Collection[str] = KNOWN_PRIORITY_CLASSES
    ) -> Settings:
        def js(name: str, default: str) -> Any:
            return json.loads(env.get(name) or default)

        def items(name: str) -> tuple[str, ...]:
            return tuple(x.strip() for x in (env.get(name) or "").split(",") if x.strip())

        classes = items("PRIORITY_CLASSES")
        fargate = (env.get("FARGATE_ENABLED") or "").strip().lower() == "true"
        return cls(
            table_name=env.get("TABLE_NAME", ""),
            stack_name=env.get("STACK_NAME") or "",
            priority_classes=classes,
            queues=derive_queues(
                env.get("QUEUE_ARN_PREFIX") or "",
                classes,
                max_vcpus=int(env.get("MAX_JOB_VCPUS") or 8),
                max_memory_mib=int(env.get("MAX_JOB_MEMORY_MIB") or 62_000),
                gpu_max_memory_mib=int(env.get("GPU_MAX_JOB_MEMORY_MIB") or 62_000),
                gpus=int(env.get("GPU_QUEUE_MAX_GPUS") or 0),
                known=known_classes,
                fargate=fargate,
            ),
            job_definitions=js("JOB_DEFINITIONS", "{}"),
            job_definition_tags=js("JOB_DEFINITION_TAGS", "{}"),
            multinode_job_definitions=frozenset(
                n for n in (env.get("MULTINODE_JOB_DEFINITIONS") or "").split(",") if n.strip()
            ),
            allowed_job_definitions=frozenset(
                n.strip() for n in (env.get("ALLOWED_JOB_DEFINITIONS") or "").split(",") if n.strip()
            ),
            default_job_definition=env.get("DEFAULT_JOB_DEFINITION") or "sample",
            tenant_claim=env.get("TENANT_CLAIM") or "sub",
            max_body_bytes=int(env.get("MAX_BODY_BYTES") or 262_144),
            default_memory_mib=int(env.get("DEFAULT_MEMORY_MIB") or 2048),
            repair_after_seconds=float(env.get("REPAIR_AFTER_SECONDS") or 120),
            reconcile_after_seconds=float(env.get("RECONCILE_AFTER_SECONDS") or 900),
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL") or None,
            pipeline_state_machine_arn=env.get("PIPELINE_STATE_MACHINE_ARN") or "",
            stage_queue_url=env.get("STAGE_QUEUE_URL") or "",
            scheduled_submit_function_arn=env.get("SCHEDULED_SUBMIT_FUNCTION_ARN") or "",
            scheduler_role_arn=env.get("SCHEDULER_ROLE_ARN") or "",
            schedule_dead_letter_arn=env.get("SCHEDULE_DEAD_LETTER_ARN") or "",
            schedule_group_name=env.get("SCHEDULE_GROUP_NAME") or "default",
            retention_days=int(env.get("RETENTION_DAYS") or 90),
            submit_jobs_per_second=float(env.get("SUBMIT_JOBS_PER_SECOND") or 50),
            sweeper_shards=int(env.get("SWEEPER_SHARDS") or 16),
            default_max_running_vcpus=_limit(env.get("DEFAULT_MAX_RUNNING_VCPUS")),
            default_max_running_memory_mib=_limit(env.get("DEFAULT_MAX_RUNNING_MEMORY_MIB")),
            default_max_running_gpus=_limit(env.get("DEFAULT_MAX_RUNNING_GPUS")),
            default_max_queued_jobs=_limit(env.get("DEFAULT_MAX_QUEUED_JOBS")),
            dispatcher_loop_seconds=float(env.get("DISPATCHER_LOOP_SECONDS") or 50),
            dispatcher_tick_seconds=float(env.get("DISPATCHER_TICK_SECONDS") or 0.5),
            admin_principals=frozenset(p.strip() for p in (env.get("ADMIN_PRINCIPALS") or "").split(",") if p.strip()),
            instance_types=env.get("INSTANCE_TYPES") or "",
            multinode_instance_types=env.get("MULTINODE_INSTANCE_TYPES") or "",
            gpu_instance_types=env.get("GPU_INSTANCE_TYPES") or "",
            price_table_file=env.get("PRICE_TABLE_FILE") or "",
            price_source=env.get("PRICE_SOURCE") or "shipped",
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            allowed_image_registries=items("ALLOWED_IMAGE_REGISTRIES"),
            allowed_job_role_arns=frozenset(items("ALLOWED_JOB_ROLE_ARNS")),
            fargate_enabled=fargate,
            fargate_execution_role_arn=env.get("FARGATE_EXECUTION_ROLE_ARN") or "",
            efs_file_system_id=env.get("EFS_FILE_SYSTEM_ID") or "",
            efs_access_point_id=env.get("EFS_ACCESS_POINT_ID") or "",
            shared_volume_path=env.get("SHARED_VOLUME_PATH") or "/mnt/shared",
        )

    def sweep_index(self) -> SweepIndex:
        """How jobs are filed in the sweeper's index: the shard count and the sweeper's windows."""
        return SweepIndex(
            self.sweeper_shards,
            repair_seconds=self.repair_after_seconds,
            reconcile_seconds=self.reconcile_after_seconds,
        )


def _limit(value: str | None) -> int | None:
    """A quota parameter: empty is no limit."""
    return int(value) if value and value.strip() else None


@cache
def settings() -> Settings:
    """The settings of this container (read on first use, once)."""
    return Settings.from_environ(os.environ)


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """X-Ray tracing is on only when the stack turns it on (template.yaml's Tracing parameter sets
    POWERTOOLS_TRACE_DISABLED to "false"); unset, as in the tests and the local stack, it is off."""
    return environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() in {"false", "0"}
