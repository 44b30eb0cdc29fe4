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
    handler.current_account = handler.get_current_account()
    mark_account_as_visited(
        account_id=handler.current_account,
        access_key=handler.access_key,
        service=handler.service_name,
        region=handler.region,
    )
    Counts.answered += 1
    return handler.call_action()
