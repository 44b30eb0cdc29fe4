"""Fault injection with a botocore ``before-send`` hook: a seeded share of AWS calls answered by a throttle or a 5xx
instead of AWS. Nothing in functions/ or layers/ changes: the hook sits on the boto3 session their clients come from.

Two kinds of loss, as on a real network:
- ``lost-request``: the call never reached AWS; the caller gets the error.
- ``lost-answer``: AWS did the work (the request is sent for real) and the answer was lost on the way back; the
  caller gets the error anyway. This is the case that catches non-idempotent retries.
When moto runs in-process (``mock_aws``) it answers before a before-send hook can, so there every fault is a lost
answer; against a moto server (the local stack) both kinds happen."""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections import Counter
from typing import Any

from botocore.awsrequest import AWSResponse

from batchplane_local.loopback import mark_answered

THROTTLE_CODES = {  # what each service calls a throttle in its error shape
    "dynamodb": "ProvisionedThroughputExceededException",
    "states": "ThrottlingException",
    "scheduler": "ThrottlingException",
    "batch": "TooManyRequestsException",
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def service_of(url: str) -> str:
    """The service an endpoint URL or the local stack's path-style URL serves ("dynamodb", "batch", "states"...)."""
    host = url.split("//", 1)[-1].split("/", 1)[0]
    return host.split(".", 1)[0]


class Faults:
    """A botocore before-send hook: ``rate`` of calls fail, half of them after AWS applied them (unless
    ``send_lost_answers`` is off: moto in-process has applied every call already)."""

    def __init__(self, rate: float, seed: int, *, send_lost_answers: bool = True) -> None:
        self.rate = rate
        self.seed = seed
        # one sequence of draws per service, so which of a service's calls fail does not depend on how the threads
        # calling other services interleave: a seed reproduces each service's faults, its first ones included
        self._rngs: dict[str, random.Random] = {}
        self.on = True
        self.send_lost_answers = send_lost_answers
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._http: Any = None

    def _service(self, request: Any) -> str:
        target = request.headers.get("X-Amz-Target")
        if target:  # JSON protocol: "DynamoDB_20120810.PutItem", "AWSStepFunctions.SendTaskSuccess"
            prefix = (target.decode() if isinstance(target, bytes) else str(target)).split(".", 1)[0]
            return {"DynamoDB_20120810": "dynamodb", "AWSStepFunctions": "states"}.get(prefix, prefix.lower())
        auth = request.headers.get("Authorization") or b""
        text = auth.decode() if isinstance(auth, bytes) else str(auth)
        if "Credential=" in text:  # SigV4 scope: .../<date>/<region>/<service>/aws4_request
            return text.split("Credential=", 1)[1].split(",", 1)[0].split("/")[3]
        return service_of(request.url)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        service = self._service(request)
        with self._lock:
            rng = self._rngs.setdefault(service, random.Random(f"{self.seed}/{service}"))  # noqa: S311 - not crypto
            if not self.on or rng.random() >= self.rate:
                return None
            kind = rng.choice(["throttle", "5xx"])
            lost_answer = self.send_lost_answers and rng.random() < 0.5
            self.injected[f"{service}:{kind}:{'answer' if lost_answer else 'request'}"] += 1
        if lost_answer:
            self._send(request)
        mark_answered(request)  # the local stack's in-process transport must not apply it too
        if kind == "5xx":
            return AWSResponse(request.url, 503, {}, _Raw(b""))
        code = THROTTLE_CODES.get(service, "ThrottlingException")
        if request.headers.get("X-Amz-Target"):  # JSON protocol
            body = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/json"}
        return AWSResponse(request.url, 429, headers, _Raw(b'{"message": "Rate exceeded"}'))

    def _send(self, request: Any) -> None:
        """Deliver the request for real and throw the answer away."""
        from botocore.httpsession import URLLib3Session

        if self._http is None:
            self._http = URLLib3Session()
        with contextlib.suppress(Exception):  # the answer is lost either way
            self._http.send(request)
