"""The composition root: builds services from settings and adapters, once per container."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from functools import cache

from batchplane.adapters import aws
from batchplane.adapters.batch import BatchAdapter
from batchplane.adapters.dynamo import DynamoArtifacts, DynamoDependencies, DynamoJobStore, DynamoLifecycleStore
from batchplane.adapters.logs import LogsAdapter
from batchplane.domain.arbiter import QueueCatalogue
from batchplane.domain.submit_request import JobDefinitions
from batchplane.services.jobs import JobService
from batchplane.services.lifecycle import LifecycleService
from batchplane.settings import settings


@cache
def catalogue() -> QueueCatalogue:
    return settings().catalogue()


@cache
def job_service() -> JobService:
    cfg = settings()
    return JobService(
        store=DynamoJobStore(aws.dynamodb(), cfg.table_name),
        batch=BatchAdapter(aws.batch()),
        catalogue=catalogue(),
        definitions=JobDefinitions(
            by_name=dict(cfg.job_definitions),
            multi_node=cfg.multinode_job_definitions,
            default=cfg.default_job_definition,
        ),
        entropy=os.urandom,
        logs=LogsAdapter(aws.client("logs")),
        artifacts=DynamoArtifacts(aws.dynamodb(), cfg.table_name),
    )


@cache
def lifecycle_service(on_metric: Callable[[str, float], None] | None = None) -> LifecycleService:
    cfg = settings()
    return LifecycleService(
        store=DynamoLifecycleStore(aws.dynamodb(), cfg.table_name),
        batch=BatchAdapter(aws.batch()),
        catalogue=catalogue(),
        jitter=random.random,
        default_memory_mib=cfg.default_memory_mib,
        repair_after_seconds=cfg.repair_after_seconds,
        reconcile_after_seconds=cfg.reconcile_after_seconds,
        on_metric=on_metric or (lambda _n, _v: None),
        artifacts=DynamoArtifacts(aws.dynamodb(), cfg.table_name),
        dependencies=DynamoDependencies(aws.dynamodb(), cfg.table_name),
    )


def reset() -> None:
    """Forget everything built (tests and the local stack change the environment between runs)."""
    catalogue.cache_clear()
    job_service.cache_clear()
    lifecycle_service.cache_clear()
    settings.cache_clear()
    aws.reset()
