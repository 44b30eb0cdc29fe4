"""Configuration: read once from the environment (set by template.yaml), validated, then passed down.

Nothing below the handlers reads ``os.environ``: this module is the only place that does."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from batchplane.domain.arbiter import QueueCatalogue, QueueClass
from batchplane.domain.models import Capacity


class QueueEntry(BaseModel):
    """One QUEUE_CATALOGUE entry as the template writes it (short keys keep Lambda's 4 KB environment small)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    p: str  # priority class, or "*"
    c: Capacity
    q: str = Field(min_length=1)  # job queue ARN
    v: int = 256  # largest vCPUs one job may ask on this queue
    m: int = 1_000_000  # largest memory (MiB) one job may ask on this queue
    g: int = 0  # GPUs
    mnp: bool = False


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str
    stack_name: str = ""  # tags every Batch job batchplane:stack (template: AWS::StackName)
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

    @field_validator("queues")
    @classmethod
    def _some_queue(cls, value: tuple[QueueEntry, ...]) -> tuple[QueueEntry, ...]:
        if not value:
            msg = "QUEUE_CATALOGUE declares no queue"
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
            )
            for e in self.queues
        )

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        def js(name: str, default: str) -> Any:
            return json.loads(env.get(name) or default)

        return cls(
            table_name=env.get("TABLE_NAME", ""),
            stack_name=env.get("STACK_NAME") or "",
            queues=tuple(QueueEntry.model_validate(e) for e in js("QUEUE_CATALOGUE", "[]")),
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
        )


@cache
def settings() -> Settings:
    """The settings of this container (read on first use, once)."""
    return Settings.from_environ(os.environ)
