"""The one place that makes boto3 clients. Clients are made once per container and honour AWS_ENDPOINT_URL
(boto3 reads it natively), so the same code reaches AWS or the local stack. SDK retries cover throttling and 5xx
only (botocore's "standard" mode); batchplane's own retries are classified (see README, "Who retries what").

boto3 is imported when the first session is made, not when this module is: importing boto3 (and the s3transfer it
pulls in) is the largest part of a handler's cold import, and a handler makes its clients on its first request or,
with SnapStart, in its before-snapshot priming (``wiring.prime_gateway``), so the snapshot still holds them."""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_dynamodb import DynamoDBClient


@cache
def _configs() -> tuple[Config, Config]:
    """(the clients' config, the same without SDK retries), made with the first client."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=3,
        read_timeout=10,
        tcp_keepalive=True,
        # AWS validates every request itself; botocore's client-side copy of that walk was a fifth of a submission's CPU
        parameter_validation=False,
    )
    return config, config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))


_lock = threading.Lock()
_session: boto3.Session | None = None
_clients: dict[str, Any] = {}


def session() -> boto3.Session:
    """The boto3 session all clients come from (tests register botocore event hooks on its event system)."""
    global _session  # noqa: PLW0603 - one session per container, made on first use
    with _lock:
        if _session is None:
            import boto3

            _session = boto3.Session()
        return _session


def client(service: str, *, sdk_retries: bool = True, region: str | None = None) -> Any:
    """The container's client for ``service``. ``sdk_retries=False`` gives a client that never retries by itself,
    for calls that are not idempotent (SubmitJob: a retry after a lost answer would make a second Batch job);
    ``region`` for a service that answers in other Regions only (the Price List API)."""
    key = (service if sdk_retries else f"{service}:no-retry") + (f"@{region}" if region else "")
    found = _clients.get(key)
    if found is not None:
        return found
    config = _configs()[0 if sdk_retries else 1]
    made = session().client(service, config=config, region_name=region)  # type: ignore[call-overload]
    with _lock:
        return _clients.setdefault(key, made)


def dynamodb() -> DynamoDBClient:
    return client("dynamodb")  # type: ignore[no-any-return]


def batch() -> BatchClient:
    return client("batch")  # type: ignore[no-any-return]


def batch_submit() -> BatchClient:
    return client("batch", sdk_retries=False)  # type: ignore[no-any-return]


def reset() -> None:
    """Forget the session and clients (tests, and the local stack when it re-points the endpoint)."""
    global _session  # noqa: PLW0603
    with _lock:
        _session = None
        _clients.clear()
