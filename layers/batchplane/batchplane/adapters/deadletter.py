"""Poison events go to the dead-letter queue at once (never into a retry loop)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from batchplane.adapters import aws


def dead_letter(queue_url: str | None, event: Mapping[str, Any], reason: str) -> bool:
    if not queue_url:
        return False
    body = json.dumps({"reason": reason[:2000], "event": event}, default=str)[:250_000]
    aws.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)
    return True
