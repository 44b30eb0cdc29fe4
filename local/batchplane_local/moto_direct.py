"""The local stack's DynamoDB data-plane calls answered by moto's own DynamoDB handler, without the request moto
would build first.

moto answers a request by normalising it into a werkzeug request (a WSGI environ built from the URL, headers and
body), then ``setup_class`` reads that request back (its form, files, query string, and the JSON body parsed as a
query string too), and moto's generic parser turns the JSON body into parameters by the service model. For a
DynamoDB call that is a third of moto's own work on the call (profile of a 300-job pipeline: normalising 6.9% and
setup 11.6% of moto's process). Here the handler gets what ``setup_class`` would have given it, made directly: the
parameters are the JSON body as ``json.loads`` reads it, which is what moto's parser gives for DynamoDB's JSON
protocol except for binary values (base64 in the body, bytes once parsed): a request with any ``B`` or ``BS`` value,
a compressed body, or an operation outside ``OPERATIONS`` goes moto's own way. The handler then does what it does
(``call_action``: moto's action, its errors and its serialiser), so the answer is moto's.
tests/local/test_loopback.py compares the answers with moto's server over TCP; test_moto_direct.py byte for byte
with moto's own in-process dispatch.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import urlparse

OPERATIONS = frozenset(
    (
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
    )
)
_BINARY = re.compile(rb'"BS?"\s*:')  # a binary attribute value (or a name "B"/"BS", which only costs the long way)


class _Seen:
    """What moto's region lookup reads of a request: its headers."""

    __slots__ = ("headers",)

    def __init__(self, headers: Any) -> None:
        self.headers = headers


_NO_IAM_KEY: set[str] = set()  # access keys moto's IAM did not know: its DEFAULT_ACCOUNT_ID's


def _account(handler: Any) -> str:
    """``handler.get_current_account()``, without walking every IAM backend on each call for an access key it has
    already not found (moto makes access key ids at random: a key unknown now is not made later)."""
    from moto.core import DEFAULT_ACCOUNT_ID

    chosen = bool(os.environ.get("MOTO_ACCOUNT_ID")) or "x-moto-account-id" in handler.headers
    if not chosen and handler.access_key in _NO_IAM_KEY:
        return DEFAULT_ACCOUNT_ID
    account: str = handler.get_current_account()
    if not chosen and account == DEFAULT_ACCOUNT_ID:
        _NO_IAM_KEY.add(handler.access_key)
    return account


def fast_request_ids() -> None:
    """moto's request id (52 letters and digits, on every answer) drawn in one ``choices`` call, not 52 ``choice``
    calls: 4% of moto's time on a DynamoDB call. The same generator (moto's seedable one), the same alphabet."""
    import string

    from moto.core import responses
    from moto.moto_api._internal import mock_random

    alphabet = string.ascii_letters + string.digits

    def request_id(headerdict: dict[str, Any] | None = None) -> str:
        req_id = "".join(mock_random.choices(alphabet, k=52))
        if headerdict is not None and isinstance(headerdict, dict):
            headerdict.update({"x-amzn-requestid": req_id})
        return req_id

    responses.gen_amzn_requestid_long = request_id  # type: ignore[attr-defined]


class Counts:
    answered = 0  # requests answered here (tests check that a corpus took this way)


def answer(operation: str, url: str, headers: Any, body: bytes) -> Any:
    """moto's answer (status, headers, body) to one DynamoDB request, or None when it must go moto's own way."""
    if operation not in OPERATIONS or _BINARY.search(body) or headers.get("Content-Encoding"):
        return None
    from moto.core.utils import utcnow
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.models import mark_account_as_visited
    from moto.utilities.utils import get_partition
    from werkzeug.datastructures import Headers
    from werkzeug.http import http_date

    seen = Headers()
    for name, value in headers.items():
        seen.add(name, value.decode("latin-1") if isinstance(value, bytes) else value)
    parsed = urlparse(url)
    handler = DynamoHandler()
    # what BaseResponse.setup_class sets, for a POST with a JSON body and no query string, form or files
    handler.is_werkzeug_request = False
    handler.normalized_request = None
    handler.parsed_url = parsed
    handler.raw_body = body
    handler.body = body.decode("utf-8")
    handler.form_data = {}
    handler.querystring = {}
    handler.data = handler.querystring
    handler.uri = url
    handler.path = parsed.path
    handler.raw_path = parsed.path or "/"
    handler.method = "POST"
    handler.headers = seen
    handler.region = handler.get_region_from_url(_Seen(seen), url)
    handler.partition = get_partition(handler.region)
    handler.uri_match = {}
    handler.response_headers = {"server": "amazon.com", "date": http_date(utcnow())}
    handler.params = json.loads(body) if body else {}
    handler.access_key = handler.get_access_key()
    handler.current_account = _account(handler)
    mark_account_as_visited(
        account_id=handler.current_account,
        access_key=handler.access_key,
        service=handler.service_name,
        region=handler.region,
    )
    Counts.answered += 1
    return handler.call_action()
