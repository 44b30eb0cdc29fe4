"""AWS Batch behind the BatchPort. AWS errors become batchplane errors here, by error code, never by message text."""

from __future__ import annotations

import contextvars
import math
import random
import threading
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from batchplane.domain.dispatch import PoolState
from batchplane.domain.errors import (
    FieldError,
    SubmissionRejectedError,
    SubmitRateLimitedError,
    UpstreamUnavailableError,
)
from batchplane.domain.ids import TAG_STACK, TAG_TENANT
from batchplane.domain.ratelimit import FairRateLimiter
from batchplane.domain.retry import scaling_out

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient

# Codes that mean "the request is wrong" rather than "AWS is unwell" (Batch's ClientException is both: it covers
# bad job definitions and queues, so we name the likely field).
# The pacing of the SubmitJob being made in this context (the dispatcher's send window), applied by a hook at
# botocore's before-call: after the request is built and authorised, at the moment the call leaves.
_pace: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("batchplane_pace", default=None)


def _paced(**_: Any) -> None:
    pace = _pace.get()
    if pace is not None:
        pace()


_CLIENT_CODES = {"ClientException", "ValidationException", "InvalidParameterValueException"}


def _translate(err: ClientError | BotoCoreError, op: str) -> Exception:
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        message = err.response.get("Error", {}).get("Message", "")
        if code in _CLIENT_CODES:
            field = "jobDefinition" if "definition" in message.lower() else "body"
            return SubmissionRejectedError(
                f"AWS Batch {op} rejected the request ({code})",
                errors=[FieldError(field, message[:300])],
                code=code,
                aws_message=message,
            )
    return UpstreamUnavailableError(
        f"AWS Batch {op} is unavailable; retry with the same Idempotency-Key", headers={"Retry-After": "2"}
    )


def translate_batch_error(err: ClientError | BotoCoreError | None, op: str) -> Exception:
    """A Batch error as a batchplane error (None: the call answered nothing usable, as if unavailable)."""
    if err is None:
        return UpstreamUnavailableError(
            f"AWS Batch {op} is unavailable; retry with the same Idempotency-Key", headers={"Retry-After": "2"}
        )
    return _translate(err, op)


SUBMIT_ATTEMPTS = 4
UNKNOWN_CAPACITY_VCPUS = 100_000
_THROTTLE_CODES = {"TooManyRequestsException", "ThrottlingException", "Throttling"}


class SubmitGate:
    """The container's SubmitJob admission: a FairRateLimiter behind a lock, waiting at most ``max_wait`` seconds
    for a token before answering 429 (the caller retries with the same Idempotency-Key; nothing was written)."""

    def __init__(
        self,
        limiter: FairRateLimiter,
        *,
        max_wait: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limiter = limiter
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def acquire(self, tenant: str) -> None:
        waited = 0.0
        while True:
            with self._lock:
                wait = self._limiter.reserve(tenant, self._clock())
            if wait <= 0:
                return
            if waited + wait > self._max_wait:
                raise SubmitRateLimitedError(
                    "too many job submissions right now (AWS Batch allows "
                    f"{self._limiter.ceiling:g} per second, shared fairly between tenants); "
                    "retry with the same Idempotency-Key",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
            self._sleep(wait)
            waited += wait

    def refund(self, tenant: str) -> None:
        with self._lock:
            self._limiter.refund(tenant)

    def throttled(self) -> None:
        with self._lock:
            self._limiter.throttled()

    def succeeded(self) -> None:
        with self._lock:
            self._limiter.succeeded()


class Gate(Protocol):
    """What takes a SubmitJob's place in a rate: the account budget (BudgetGate) or a container's limiter."""

    def acquire(self, tenant: str) -> None: ...
    def refund(self, tenant: str) -> None: ...
    def throttled(self) -> None: ...
    def succeeded(self) -> None: ...


class BatchAdapter:
    def __init__(
        self,
        client: BatchClient,
        submit_client: BatchClient | None = None,
        gate: Gate | None = None,
        *,
        stack_name: str = "",
        on_throttled: Callable[[], None] = lambda: None,
    ) -> None:
        self._on_throttled = on_throttled  # counts each TooManyRequestsException (the SubmitJobThrottled metric)
        self._batch = client
        self._submit = submit_client or client
        self._gate = gate
        self._stack = stack_name
        self._desired: dict[str, int] = {}  # compute environment -> desiredvCpus at the last look (scaling_up)
        self._submit.meta.events.register_first(
            "before-call.batch.SubmitJob", _paced, unique_id="batchplane-submitjob-pace"
        )

    def admit(self, tenant: str) -> None:
        """Take a SubmitJob token for ``tenant`` now (before anything is written), or raise SubmitRateLimitedError."""
        if self._gate is not None:
            self._gate.acquire(tenant)

    def refund(self, tenant: str) -> None:
        """An admitted submission turned out to have nothing to submit (an idempotent replay)."""
        if self._gate is not None:
            self._gate.refund(tenant)

    def submit(
        self,
        request: dict[str, Any],
        *,
        admitted: bool = False,
        maybe_submitted: bool = False,
        pace: Callable[[], None] | None = None,
    ) -> str:
        """SubmitJob, rate-limited and retried safely. SubmitJob has no idempotency token, so the SDK must not retry
        it blindly (an answer lost after Batch applied the call would make a second job): after a throttle, 5xx or
        lost answer we look the job up by its deterministic name first, and submit again only if Batch does not
        have it (a lookup that fails too is another try: never a blind SubmitJob). ``admitted``: the caller already
        took this call's token (``admit``). ``maybe_submitted``: an earlier SubmitJob of this job failed, so look
        first. ``pace``: called as each SubmitJob leaves (at botocore's before-call, once the request is built and
        authorised), and may hold it there (the dispatcher's send window)."""
        if not admitted:
            self.admit(str(request.get("tags", {}).get(TAG_TENANT, "")))
        if self._stack:  # every path submits here: every job carries its stack's tag (IAM conditions rely on it)
            request = {**request, "tags": {**request.get("tags", {}), TAG_STACK: self._stack}}
        last: ClientError | BotoCoreError | UpstreamUnavailableError | None = None
        for attempt in range(SUBMIT_ATTEMPTS):
            if attempt:
                time.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random() / 2))  # noqa: S311 - jitter
            if attempt or maybe_submitted:
                try:
                    found = self.find_job_id(request["jobQueue"], request["jobName"])
                except UpstreamUnavailableError as err:  # whether Batch has it is unknown: look again, never guess
                    last = err
                    continue
                if found is not None:
                    return found
            token = _pace.set(pace)
            try:
                out = self._submit.submit_job(**request)
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code", "")
                if code in _CLIENT_CODES:
                    raise _translate(err, "SubmitJob") from err
                if code in _THROTTLE_CODES:
                    self._on_throttled()
                if code in _THROTTLE_CODES and self._gate is not None:
                    self._gate.throttled()
                last = err
                continue
            except BotoCoreError as err:
                last = err
                continue
            finally:
                _pace.reset(token)
            if self._gate is not None:
                self._gate.succeeded()
            return out["jobId"]
        assert last is not None  # noqa: S101 - the loop ran at least once
        if isinstance(last, UpstreamUnavailableError):
            raise last
        raise _translate(last, "SubmitJob") from last

    def terminate(self, batch_job_id: str, reason: str) -> None:
        try:
            self._batch.terminate_job(jobId=batch_job_id, reason=reason)
        except (ClientError, BotoCoreError) as err:
            raise _translate(err, "TerminateJob") from err

    def find_job_id(self, queue_arn: str, job_name: str) -> str | None:
        try:
            pages = self._batch.get_paginator("list_jobs").paginate(
                jobQueue=queue_arn, filters=[{"name": "JOB_NAME", "values": [job_name]}]
            )
            for page in pages:
                for summary in page.get("jobSummaryList", []):
                    if summary.get("jobName") == job_name:
                        return summary["jobId"]
        except (ClientError, BotoCoreError) as err:
            raise _translate(err, "ListJobs") from err
        return None

    def failed_children(self, array_job_id: str) -> list[dict[str, Any]]:
        """The failed children of an array job: one ListJobs (arrayJobId, jobStatus FAILED), its first page only
        (100 summaries, each with its index, statusReason and container exit code and reason): enough to say why, and
        the parent's statusSummary counts the rest. Called once when an array attempt fails, never in normal running."""
        try:
            out = self._batch.list_jobs(arrayJobId=array_job_id, jobStatus="FAILED", maxResults=100)
        except (ClientError, BotoCoreError) as err:
            raise _translate(err, "ListJobs") from err
        return [dict(j) for j in out.get("jobSummaryList", [])]

    def describe(self, batch_job_ids: list[str]) -> list[dict[str, Any]]:
        """DescribeJobs: the sweeper's reconciliation, and a user's request for the logs of array children or nodes
        (their log streams are known only to Batch); never normal running."""
        if not batch_job_ids:
            return []
        try:
            out = self._batch.describe_jobs(jobs=batch_job_ids[:100])
        except (ClientError, BotoCoreError) as err:
            raise _translate(err, "DescribeJobs") from err
        return [dict(j) for j in out.get("jobs", [])]

    def scaling_up(self, queue_arn: str) -> bool:
        """Whether a compute environment behind the queue is scaling out (desiredvCpus rising while it stays VALID:
        `domain.retry.scaling_out`), compared with what this container saw at its last look."""
        try:
            queues = self._batch.describe_job_queues(jobQueues=[queue_arn]).get("jobQueues", [])
            envs = [e["computeEnvironment"] for q in queues for e in q.get("computeEnvironmentOrder", [])]
            if not envs:
                return False
            described = self._batch.describe_compute_environments(computeEnvironments=envs)
        except (ClientError, BotoCoreError):
            return True  # unknown: assume it may be scaling (no false kills)
        environments = [dict(ce) for ce in described.get("computeEnvironments", [])]
        rising, self._desired = scaling_out(environments, self._desired)
        return rising

    def queue_statuses(self, queue_arns: list[str]) -> dict[str, str]:
        """A fresh look at job queues: one DescribeJobQueues per 100 ARNs, ARN -> status of each that
        Batch lists. AWS leaves a queue it does not know out of the answer (no error), so a missing one is absent."""
        out: dict[str, str] = {}
        for start in range(0, len(queue_arns), 100):
            try:
                page = self._batch.describe_job_queues(jobQueues=queue_arns[start : start + 100])
            except (ClientError, BotoCoreError) as err:
                raise _translate(err, "DescribeJobQueues") from err
            out.update({str(q["jobQueueArn"]): str(q.get("status") or "VALID") for q in page.get("jobQueues", [])})
        return out

    def pools(self, queue_arns: list[str], gpu_queues: Collection[str]) -> list[PoolState]:
        """The pools the queues fill first: each queue's order-1 compute environment, with its maxvCpus (an
        unmanaged one's unmanagedvCpus). Two calls (DescribeJobQueues, DescribeComputeEnvironments); the
        dispatcher caches the answer."""
        try:
            queues = self._batch.describe_job_queues(jobQueues=queue_arns[:100]).get("jobQueues", [])
            first: dict[str, str] = {}
            for q in queues:
                order = sorted(q.get("computeEnvironmentOrder", []), key=lambda e: e.get("order", 0))
                if order:
                    first[q["jobQueueName"]] = order[0]["computeEnvironment"]
            envs = sorted(set(first.values()))
            described = (
                self._batch.describe_compute_environments(computeEnvironments=envs).get("computeEnvironments", [])
                if envs
                else []
            )
        except (ClientError, BotoCoreError) as err:
            raise _translate(err, "DescribeJobQueues") from err
        by_arn = {ce["computeEnvironmentArn"]: ce for ce in described}
        by_name = {ce["computeEnvironmentName"]: ce for ce in described}
        out: list[PoolState] = []
        for env in envs:
            ce: Any = by_arn.get(env) or by_name.get(env.rsplit("/", 1)[-1]) or {}
            resources = ce.get("computeResources") or {}
            # an unmanaged environment without unmanagedvCpus: its capacity is unknown to Batch too, so not bounded
            max_vcpus = int(resources.get("maxvCpus") or ce.get("unmanagedvCpus") or UNKNOWN_CAPACITY_VCPUS)
            mine = tuple(sorted(name for name, e in first.items() if e == env))
            gpus = max_vcpus if any(q in gpu_queues for q in mine) else 0
            out.append(
                PoolState(str(ce.get("computeEnvironmentName") or env.rsplit("/", 1)[-1]), max_vcpus, mine, gpus=gpus)
            )
        return out
