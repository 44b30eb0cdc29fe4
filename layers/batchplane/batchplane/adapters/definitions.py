"""AWS Batch job definitions for jobs with their own image, behind the JobDefinitionRegistry port.

RegisterJobDefinition makes a new revision at every call, so it is never called per submission: the name (a hash of
the content) is looked up first, and this container remembers name → ARN, so a known image costs no AWS call."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from batchplane.adapters.batch import translate_batch_error
from batchplane.domain.containers import DefinitionSpec, pick_revision

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient


class BatchJobDefinitions:
    def __init__(self, client: BatchClient) -> None:
        self._batch = client
        self._known: dict[str, str] = {}  # name -> ARN, for the life of this container
        self._lock = threading.Lock()

    def ensure(self, spec: DefinitionSpec) -> str:
        with self._lock:
            known = self._known.get(spec.name)
        if known is not None:
            return known
        try:
            arn = pick_revision(self._find(spec.name))
            if arn is None:
                self._batch.register_job_definition(**spec.body)
                # A racing registration may have made another revision: every submitter takes the lowest ACTIVE one
                arn = pick_revision(self._find(spec.name))
        except (ClientError, BotoCoreError) as err:
            raise translate_batch_error(err, "RegisterJobDefinition") from err
        if arn is None:  # registered, yet not listed: Batch's read lags its write; use what we registered next time
            raise translate_batch_error(None, "DescribeJobDefinitions")
        with self._lock:
            self._known[spec.name] = arn
        return arn

    def _find(self, name: str) -> list[dict[str, Any]]:
        out = self._batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")
        return [dict(d) for d in out.get("jobDefinitions", [])]
