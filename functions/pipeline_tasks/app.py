"""pipeline_tasks: the stage queue (SQS). A message is either a task token from the pipeline state machine (a pipeline
job, or the pipeline's end, waits on the control plane: record the token and advance the pipeline), or release work
from the control plane itself (start pipeline jobs whose dependency succeeded: a wide fan-out is started here, ten
messages of up to ten jobs an invocation, never in one long invocation). A failed record is retried alone (partial
batch response)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from batchplane import wiring
from batchplane.tracing import traced

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> str:
    body = json.loads(record.body)
    if "start" in body:
        after = body.get("after")
        keys = [str(k) for k in body["start"]]
        outcome = wiring.pipeline_service().on_release(
            str(body["pipelineId"]), int(body["run"]), keys, str(after) if after is not None else None
        )
        logger.info("release", extra={"pipeline_id": body["pipelineId"], "keys": len(keys), "outcome": outcome})
        return outcome
    outcome = wiring.pipeline_service().on_token(
        str(body["pipelineId"]), int(body["run"]), str(body["key"]), str(body["taskToken"])
    )
    logger.info("task token", extra={"pipeline_id": body["pipelineId"], "key": body["key"], "outcome": outcome})
    return outcome


@traced
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
