"""The composition root: builds services from settings and adapters, once per container."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from batchplane.adapters import aws
from batchplane.settings import settings
from batchplane.snapstart import after_restore, build_models

# Each function imports only what it uses: the services are imported when first built, not at cold start.
if TYPE_CHECKING:
    from batchplane.adapters.batch import BatchAdapter
    from batchplane.adapters.dynamo.admission import DynamoAdmission
    from batchplane.adapters.dynamo.ratebudget import DynamoRateBudget
    from batchplane.domain.arbiter import QueueCatalogue
    from batchplane.domain.costs import PriceTable
    from batchplane.domain.records import AttemptRecord, JobRecord
    from batchplane.services.costs import CostService
    from batchplane.services.dispatcher import Dispatcher
    from batchplane.services.jobs import JobService
    from batchplane.services.lifecycle import LifecycleService
    from batchplane.services.pipelines import PipelineService
    from batchplane.services.prices import PriceService
    from batchplane.services.priority import PriorityService
    from batchplane.services.quotas import QuotaService
    from batchplane.services.schedules import ScheduleService


@cache
def catalogue() -> QueueCatalogue:
    return settings().catalogue()


@cache
def rate_budget() -> DynamoRateBudget:
    """The account-wide SubmitJob budget (one table item): every function that submits takes its slots there."""
    from batchplane.adapters.dynamo.ratebudget import DynamoRateBudget

    return DynamoRateBudget(aws.dynamodb(), settings().table_name, settings().submit_jobs_per_second)


@cache
def batch_adapter() -> BatchAdapter:
    """The container's one Batch adapter: a SubmitJob that is not the dispatcher's (a retry, a fallback, a release)
    takes one slot of the account's budget first; the dispatcher reserves its slots in bulk."""
    from batchplane.adapters.batch import BatchAdapter
    from batchplane.adapters.dynamo.ratebudget import BudgetGate

    return BatchAdapter(
        aws.batch(),
        aws.batch_submit(),
        BudgetGate(rate_budget()),
        stack_name=settings().stack_name,
        on_throttled=_submit_throttled,
    )


def _submit_throttled() -> None:
    """AWS Batch answered a SubmitJob TooManyRequestsException: count it (dashboard; SubmitJobThrottlingAlarm).
    Powertools' Metrics instances share one metric set: the handler's log_metrics flushes it."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    from batchplane.domain.outcomes import Metric

    Metrics().add_metric(name=Metric.SUBMIT_JOB_THROTTLED, unit=MetricUnit.Count, value=1)


@cache
def admission_store() -> DynamoAdmission:
    from batchplane.adapters.dynamo.admission import DynamoAdmission

    cfg = settings()
    return DynamoAdmission(aws.dynamodb(), cfg.table_name, retention_days=cfg.retention_days, sweep=cfg.sweep_index())


@cache
def dispatcher(on_metric: Callable[[str, float], None] | None = None) -> Dispatcher:
    """The container's dispatcher; ``on_metric`` counts what its lifecycle engine ends (JobsFailed and the failure
    class of a job Batch refused or whose job queue is gone)."""
    from datetime import UTC, datetime

    from batchplane.services.dispatcher import Dispatcher

    cfg = settings()
    return Dispatcher(
        store=admission_store(),
        budget=rate_budget(),
        pools=batch_adapter(),
        engine=lifecycle_service(on_metric),
        catalogue=catalogue(),
        default_quota=cfg.default_quota(),
        default_memory_mib=cfg.default_memory_mib,
        rate_per_second=cfg.submit_jobs_per_second,
        clock=lambda: datetime.now(UTC),
        lease_owner=os.urandom(8).hex(),
    )


@cache
def quota_service() -> QuotaService:
    from batchplane.services.quotas import QuotaService

    return QuotaService(store=admission_store(), default_quota=settings().default_quota())


@cache
def job_service() -> JobService:
    from batchplane.adapters.definitions import BatchJobDefinitions
    from batchplane.adapters.dynamo.artifacts import DynamoArtifacts
    from batchplane.adapters.dynamo.dependencies import DynamoDependencies
    from batchplane.adapters.dynamo.jobs import DynamoJobStore
    from batchplane.adapters.logs import LogsAdapter
    from batchplane.domain.submit_request import JobDefinitions
    from batchplane.services.jobs import JobService

    cfg = settings()
    return JobService(
        store=DynamoJobStore(
            aws.dynamodb(), cfg.table_name, retention_days=cfg.retention_days, sweep=cfg.sweep_index()
        ),
        batch=batch_adapter(),
        catalogue=catalogue(),
        definitions=JobDefinitions(
            by_name=dict(cfg.job_definitions),
            multi_node=cfg.multinode_job_definitions,
            default=cfg.default_job_definition,
            allowed=cfg.allowed_job_definitions,
            tag_counts=dict(cfg.job_definition_tags),
        ),
        entropy=os.urandom,
        logs=LogsAdapter(aws.client("logs")),
        artifacts=DynamoArtifacts(aws.dynamodb(), cfg.table_name),
        dependencies=DynamoDependencies(
            aws.dynamodb(), cfg.table_name, retention_days=cfg.retention_days, sweep=cfg.sweep_index()
        ),
        describer=batch_adapter(),  # the log streams of array children and nodes
        admission=admission_store(),
        default_max_queued=cfg.default_max_queued_jobs,
        containers=cfg.container_policy(),
        registry=BatchJobDefinitions(aws.batch()),
    )


@cache
def pipeline_service() -> PipelineService:
    from batchplane.adapters.pipeline_runs import SqsReleases, StepFunctionsAdapter
    from batchplane.adapters.pipelines import DynamoPipelineStore
    from batchplane.services.pipelines import PipelineService

    cfg = settings()
    return PipelineService(
        store=DynamoPipelineStore(aws.dynamodb(), cfg.table_name, retention_days=cfg.retention_days),
        executions=StepFunctionsAdapter(aws.client("stepfunctions"), cfg.pipeline_state_machine_arn),
        jobs=job_service(),
        entropy=os.urandom,
        releases=SqsReleases(aws.client("sqs"), cfg.stage_queue_url) if cfg.stage_queue_url else None,
    )


@cache
def schedule_service() -> ScheduleService:
    from batchplane.adapters.schedules import DynamoScheduleStore, SchedulerAdapter
    from batchplane.services.schedules import ScheduleService

    cfg = settings()
    return ScheduleService(
        store=DynamoScheduleStore(aws.dynamodb(), cfg.table_name),
        scheduler=SchedulerAdapter(
            aws.client("scheduler"),
            target_arn=cfg.scheduled_submit_function_arn,
            role_arn=cfg.scheduler_role_arn,
            dead_letter_arn=cfg.schedule_dead_letter_arn or None,
            group_name=cfg.schedule_group_name,
        ),
        jobs=job_service,
        pipelines=pipeline_service,
    )


@cache
def cost_service() -> CostService:
    """Costs from records alone: the price table (shipped, or PRICE_TABLE_FILE) and the stack's fleet, read once per
    container; the rollup in the table."""
    from batchplane.adapters.dynamo.costs import DynamoCostLedger
    from batchplane.domain.costs import fleet_of
    from batchplane.domain.job_costs import Costing
    from batchplane.services.costs import CostService

    cfg = settings()
    costing = Costing(
        table=_price_table(),
        fleet=fleet_of(cfg.instance_types, cfg.multinode_instance_types, cfg.gpu_instance_types),
        catalogue=catalogue(),
        default_memory_mib=cfg.default_memory_mib,
    )
    return CostService(ledger=DynamoCostLedger(aws.dynamodb(), cfg.table_name), costing=costing)


def _price_table() -> PriceTable:
    """The prices attempts are priced with, read once per container: PRICE_TABLE_FILE when set; else, with
    PriceSource "aws", the table the sweeper last fetched (one GetItem); else (or none stored yet, or that read
    failing) the table shipped in the package. Each cost's basis names the table's source and date."""
    from batchplane.adapters.prices import load_price_table
    from batchplane.domain.costs import PriceTable

    cfg = settings()
    if cfg.price_table_file:
        return load_price_table(cfg.price_table_file)
    if cfg.price_source == "aws":
        try:
            stored = price_service().stored()
        except Exception:  # noqa: BLE001 - an estimate on the shipped prices (the basis says which) beats no answer
            stored = None
        if stored is not None:
            return PriceTable.from_mapping(stored)
    return load_price_table(None)


@cache
def price_service() -> PriceService:
    from batchplane.adapters.price_feed import PRICING_REGION, AwsPriceFeed, DynamoPriceStore
    from batchplane.domain.costs import fleet_of
    from batchplane.services.prices import PriceService

    cfg = settings()
    fleet = fleet_of(cfg.instance_types, cfg.multinode_instance_types, cfg.gpu_instance_types)
    return PriceService(
        feed=AwsPriceFeed(aws.client("pricing", region=PRICING_REGION), aws.client("ec2"), cfg.region),
        store=DynamoPriceStore(aws.dynamodb(), cfg.table_name),
        instance_types=sorted({name for names in fleet.types.values() for name in names}),
        region=cfg.region,
    )


_PRICE_CHECK_SECONDS = 3600.0
_last_price_check: list[float] = []


def refresh_prices(on_metric: Callable[[str, float], None]) -> str | None:
    """The sweeper's daily price refresh (PriceSource "aws"): at most one look per container per hour at the stored
    table's age (one GetItem), a fetch when it is a day old. A failure is counted, never raised: the sweep is done
    and attempts keep the last prices. None when not looked at."""
    import time

    from batchplane.domain.outcomes import Metric

    now = time.monotonic()
    if settings().price_source != "aws" or (_last_price_check and now - _last_price_check[0] < _PRICE_CHECK_SECONDS):
        return None
    _last_price_check[:] = [now]
    try:
        outcome = price_service().refresh()
    except Exception:  # noqa: BLE001 - counted (PriceRefreshFailed); tried again in an hour
        on_metric(Metric.PRICE_REFRESH_FAILED, 1)
        return "failed"
    if outcome == "refreshed":
        on_metric(Metric.PRICES_REFRESHED, 1)
    return outcome


def dead_letter(queue_url: str | None, event: Mapping[str, Any], reason: str) -> bool:
    """Send a poison event to the dead-letter queue, at once (never into a retry loop); False when there is none. The
    adapter is loaded on first use: most invocations never need it."""
    from batchplane.adapters.deadletter import dead_letter as send

    return send(queue_url, event, reason)


def _pipeline_hook(job: JobRecord, status: str) -> None:
    """A job ended: give back its admission (once: a conditional transaction), then, for a managed job of a pipeline,
    tell its pipeline. A job the sweeper failed fast (its end asked for, its failure a misconfiguration) FAILED; only
    a cancel is CANCELLED."""
    if job.holds_admission:
        admission_store().release(job)
    if job.pipeline_id and job.pipeline_key:
        cancelled = job.cancel_requested and job.current.failure_class != "misconfiguration"
        pipeline_service().on_job_terminal(job.pipeline_id, job.pipeline_key, job.job_id, status, cancelled)


def _cost_hook(on_metric: Callable[[str, float], None]) -> Callable[[JobRecord, AttemptRecord, str | None], None]:
    """An ended attempt: its cost into the rollup and the CostEstimated / CostWasted metrics (cost per hour)."""

    def hook(job: JobRecord, attempt: AttemptRecord, failure_class: str | None) -> None:
        from batchplane.domain.outcomes import Metric

        service = cost_service()
        line = service.costing.line(job, attempt, failure_class)
        if line is None:
            return
        on_metric(Metric.COST_ESTIMATED, float(line.amount))
        if line.wasted:
            on_metric(Metric.COST_WASTED, float(line.wasted))
        service.add(line, job.pipeline_id)

    return hook


@cache
def lifecycle_service(on_metric: Callable[[str, float], None] | None = None) -> LifecycleService:
    from batchplane.adapters.dynamo.artifacts import DynamoArtifacts
    from batchplane.adapters.dynamo.attempts import DynamoLifecycleStore
    from batchplane.adapters.dynamo.dependencies import DynamoDependencies
    from batchplane.services.lifecycle import LifecycleService

    cfg = settings()
    return LifecycleService(
        store=DynamoLifecycleStore(
            aws.dynamodb(), cfg.table_name, retention_days=cfg.retention_days, sweep=cfg.sweep_index()
        ),
        batch=batch_adapter(),
        catalogue=catalogue(),
        jitter=random.random,
        default_memory_mib=cfg.default_memory_mib,
        repair_after_seconds=cfg.repair_after_seconds,
        reconcile_after_seconds=cfg.reconcile_after_seconds,
        on_metric=on_metric or (lambda _n, _v: None),
        artifacts=DynamoArtifacts(aws.dynamodb(), cfg.table_name),
        dependencies=DynamoDependencies(
            aws.dynamodb(), cfg.table_name, retention_days=cfg.retention_days, sweep=cfg.sweep_index()
        ),
        on_terminal=_pipeline_hook,
        lease_owner=os.urandom(8).hex(),  # this container, as the sweeper lease's holder
        on_attempt_end=_cost_hook(on_metric or (lambda _n, _v: None)),
    )


@cache
def priority_service() -> PriorityService:
    """Re-prioritising (the gateway): its writes, and the lifecycle engine's SubmitJob (deferred to the sweeper when it
    fails, as every other path's)."""
    from batchplane.adapters.dynamo.priority import DynamoPriorityStore
    from batchplane.services.priority import PriorityService

    cfg = settings()
    return PriorityService(
        store=DynamoPriorityStore(
            aws.dynamodb(), cfg.table_name, retention_days=cfg.retention_days, sweep=cfg.sweep_index()
        ),
        batch=batch_adapter(),
        catalogue=catalogue(),
        engine=lifecycle_service(),
    )


def prime_gateway() -> None:
    """SnapStart (before the snapshot): make the gateway's clients, build its services and every pydantic model its
    modules deferred (the routes' requests and views), with no AWS call."""
    job_service()
    pipeline_service()
    schedule_service()
    priority_service()
    build_models()


def prime_lifecycle(on_metric: Callable[[str, float], None]) -> None:
    """SnapStart (before the snapshot): make job_events' clients, build its services and the pydantic models its
    modules deferred (the retry policy's, the job request's), with no AWS call."""
    lifecycle_service(on_metric)
    pipeline_service()
    build_models()


@after_restore
def renew_container_identity() -> None:
    """SnapStart (after a restore): what must differ between containers is made again on first use. The lifecycle
    service carries the sweeper lease's holder, drawn at build: rebuilt (cheaply: its clients stay made), each
    restored container draws its own."""
    lifecycle_service.cache_clear()


def reset() -> None:
    """Forget everything built (tests and the local stack change the environment between runs)."""
    catalogue.cache_clear()
    rate_budget.cache_clear()
    admission_store.cache_clear()
    dispatcher.cache_clear()
    quota_service.cache_clear()
    batch_adapter.cache_clear()
    job_service.cache_clear()
    lifecycle_service.cache_clear()
    priority_service.cache_clear()
    pipeline_service.cache_clear()
    schedule_service.cache_clear()
    cost_service.cache_clear()
    price_service.cache_clear()
    _last_price_check.clear()
    settings.cache_clear()
    aws.reset()
