"""AWS Batch's REST-JSON wire protocol in front of a LocalBatch, as a plain WSGI app.

Paths, methods and members are botocore's batch 2016-08-10 service model, so an unmodified boto3 client works:

    boto3.client("batch", endpoint_url="http://127.0.0.1:PORT", region_name="us-east-1", ...)

or ``AWS_ENDPOINT_URL_BATCH=http://127.0.0.1:PORT``. Errors use AWS's JSON error shape (``x-amzn-ErrorType`` header,
``{"__type", "message"}`` body): a ClientException is HTTP 400, so botocore raises ClientError with Code
"ClientException". Serve it with e.g. ``werkzeug.serving.make_server("127.0.0.1", 0, BatchApi(batch), threaded=True)``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from batchplane_local.batch.engine import BatchClientError, LocalBatch

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
_Handler = Callable[["BatchApi", dict[str, Any]], dict[str, Any]]
_TAGS_PREFIX = "/v1/tags/"


class _ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# Fargate's vCPU -> memory (MiB) sizes (AWS Batch API reference, ResourceRequirement), fractional vCPUs included
_FARGATE_MEMORY = {
    "0.25": range(512, 2049, 512),
    "0.5": range(1024, 4097, 1024),
    "1": range(2048, 8193, 1024),
    "2": range(4096, 16385, 1024),
    "4": range(8192, 30721, 1024),
    "8": range(16384, 61441, 4096),
    "16": range(32768, 122881, 8192),
}


def _check_fargate(container: Mapping[str, Any]) -> None:
    """What Batch refuses in a Fargate job definition: no execution role, a vCPU/memory pair Fargate does not offer,
    a privileged container, GPUs."""
    if not container.get("executionRoleArn"):
        raise _ApiError("ClientException", "Fargate job definitions require an executionRoleArn")
    if container.get("privileged"):
        raise _ApiError("ClientException", "privileged is not supported on Fargate")
    wants = {str(r.get("type")): str(r.get("value")) for r in container.get("resourceRequirements") or []}
    if "GPU" in wants:
        raise _ApiError("ClientException", "GPU resources are not supported on Fargate")
    vcpus, memory = wants.get("VCPU"), wants.get("MEMORY")
    if vcpus not in _FARGATE_MEMORY or not memory or not memory.isdigit() or int(memory) not in _FARGATE_MEMORY[vcpus]:
        raise _ApiError("ClientException", f"Fargate does not support {vcpus} vCPU with {memory} MiB of memory")


class BatchApi:
    """WSGI application: ``BatchApi(local_batch)(environ, start_response)``."""

    def __init__(self, batch: LocalBatch) -> None:
        self.batch = batch
        self._routes: dict[tuple[str, str], _Handler] = {
            ("POST", "/v1/submitjob"): BatchApi._submit_job,
            ("POST", "/v1/describejobs"): BatchApi._describe_jobs,
            ("POST", "/v1/listjobs"): BatchApi._list_jobs,
            ("POST", "/v1/canceljob"): BatchApi._cancel_job,
            ("POST", "/v1/terminatejob"): BatchApi._terminate_job,
            ("POST", "/v1/describejobqueues"): BatchApi._describe_job_queues,
            ("POST", "/v1/describecomputeenvironments"): BatchApi._describe_compute_environments,
            ("POST", "/v1/updatecomputeenvironment"): BatchApi._update_compute_environment,
            ("POST", "/v1/describejobdefinitions"): BatchApi._describe_job_definitions,
            ("POST", "/v1/registerjobdefinition"): BatchApi._register_job_definition,
        }

    def __call__(self, environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "/")) or "/"
        try:
            body = self._read_body(environ)
            if path.startswith(_TAGS_PREFIX):
                result = self._tags(method, unquote(path[len(_TAGS_PREFIX) :]), body, environ)
            else:
                result = self._route(method, path)(self, body)
            return self._respond(start_response, 200, result)
        except BatchClientError as exc:
            return self._error(start_response, _ApiError(exc.code, exc.message, exc.status))
        except _ApiError as exc:
            return self._error(start_response, exc)
        except Exception as exc:
            log.exception("local batch API failed on %s %s", method, path)
            return self._error(start_response, _ApiError("ServerException", f"{type(exc).__name__}: {exc}", 500))

    # ------------------------------------------------------------------ plumbing

    def _route(self, method: str, path: str) -> _Handler:
        handler = self._routes.get((method, path.rstrip("/") or "/"))
        if handler is None:
            raise _ApiError(
                "UnknownOperationException",
                f"{method} {path} is not an AWS Batch operation this local Batch implements",
            )
        return handler

    @staticmethod
    def _read_body(environ: Mapping[str, Any]) -> dict[str, Any]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _ApiError("ClientException", f"Request body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise _ApiError("ClientException", "Request body must be a JSON object")
        return body

    @staticmethod
    def _respond(start_response: StartResponse, status: int, payload: Mapping[str, Any]) -> list[bytes]:
        data = json.dumps(payload).encode()
        reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}.get(status, "Error")
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        start_response(f"{status} {reason}", headers)
        return [data]

    @staticmethod
    def _error(start_response: StartResponse, exc: _ApiError) -> list[bytes]:
        data = json.dumps({"__type": exc.code, "message": exc.message}).encode()
        reason = {400: "Bad Request", 429: "Too Many Requests"}.get(exc.status, "Internal Server Error")
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("x-amzn-ErrorType", exc.code),
        ]
        start_response(f"{exc.status} {reason}", headers)
        return [data]

    @staticmethod
    def _require(body: Mapping[str, Any], *names: str) -> None:
        for name in names:
            if body.get(name) in (None, ""):
                raise _ApiError("ClientException", f"{name} is required")

    # ------------------------------------------------------------------ operations

    def _submit_job(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.batch.submit_job(**body)

    def _describe_jobs(self, body: dict[str, Any]) -> dict[str, Any]:
        self._require(body, "jobs")
        return {"jobs": self.batch.describe_jobs(body["jobs"])}

    def _list_jobs(self, body: dict[str, Any]) -> dict[str, Any]:
        members = ("jobQueue", "arrayJobId", "multiNodeJobId", "jobStatus", "filters", "maxResults", "nextToken")
        return self.batch.list_jobs(**{k: body[k] for k in members if body.get(k) is not None})

    def _cancel_job(self, body: dict[str, Any]) -> dict[str, Any]:
        self._require(body, "jobId", "reason")
        self.batch.cancel_job(body["jobId"], body["reason"])
        return {}

    def _terminate_job(self, body: dict[str, Any]) -> dict[str, Any]:
        self._require(body, "jobId", "reason")
        self.batch.terminate_job(body["jobId"], body["reason"])
        return {}

    def _describe_job_queues(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"jobQueues": self.batch.describe_job_queues(body.get("jobQueues"))}

    def _describe_compute_environments(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"computeEnvironments": self.batch.describe_compute_environments(body.get("computeEnvironments"))}

    def _update_compute_environment(self, body: dict[str, Any]) -> dict[str, Any]:
        self._require(body, "computeEnvironment")
        detail = self.batch.describe_compute_environments([body["computeEnvironment"]])[0]
        max_vcpus = (body.get("computeResources") or {}).get("maxvCpus")
        if max_vcpus is not None:
            if int(max_vcpus) < 0:
                raise _ApiError("ClientException", "computeResources.maxvCpus must be at least 0")
            self.batch.set_capacity(detail["computeEnvironmentName"], int(max_vcpus))
        return {
            "computeEnvironmentName": detail["computeEnvironmentName"],
            "computeEnvironmentArn": detail["computeEnvironmentArn"],
        }

    def _describe_job_definitions(self, body: dict[str, Any]) -> dict[str, Any]:
        defs = self.batch.describe_job_definitions(
            body.get("jobDefinitions"),
            job_definition_name=body.get("jobDefinitionName"),
            status=body.get("status"),
        )
        return {"jobDefinitions": defs}

    def _register_job_definition(self, body: dict[str, Any]) -> dict[str, Any]:
        """RegisterJobDefinition: a new revision at every call, as AWS does (Fargate fields are stored and shown; the
        local Batch runs the command as a process and only records the image)."""
        self._require(body, "jobDefinitionName", "type")
        if body["type"] not in ("container", "multinode"):
            raise _ApiError("ClientException", f"type {body['type']!r} is not container or multinode")
        if "FARGATE" in (body.get("platformCapabilities") or []):
            _check_fargate(body.get("containerProperties") or {})
        arn = self.batch.register_job_definition(
            body["jobDefinitionName"],
            type=body["type"],
            container_properties=body.get("containerProperties"),
            node_properties=body.get("nodeProperties"),
            parameters=body.get("parameters"),
            timeout=body.get("timeout"),
            retry_strategy=body.get("retryStrategy"),
            tags=body.get("tags"),
            propagate_tags=bool(body.get("propagateTags", False)),
            platform_capabilities=body.get("platformCapabilities") or ["EC2"],
        )
        name, _, revision = arn.rsplit("/", 1)[-1].partition(":")
        return {"jobDefinitionName": name, "jobDefinitionArn": arn, "revision": int(revision)}

    def _tags(self, method: str, arn: str, body: dict[str, Any], environ: Mapping[str, Any]) -> dict[str, Any]:
        if not arn:
            raise _ApiError("ClientException", "resourceArn is required")
        if method == "GET":
            return {"tags": self.batch.list_tags_for_resource(arn)}
        if method == "POST":
            self.batch.tag_resource(arn, body.get("tags") or {})
            return {}
        if method == "DELETE":
            keys = parse_qs(str(environ.get("QUERY_STRING", ""))).get("tagKeys", [])
            self.batch.untag_resource(arn, keys)
            return {}
        raise _ApiError("UnknownOperationException", f"{method} {_TAGS_PREFIX}{{resourceArn}} is not an operation")
