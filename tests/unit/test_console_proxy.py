"""`batchplane console`'s loopback server: the console's assets, and /api forwarded to the API SigV4-signed for
execute-api (or with a bearer token), against an httpx.MockTransport: no network."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from batchplane_local.console.assets import CONSOLE_HEADER
from batchplane_local.console.proxy import ConsoleProxy, canonical_query
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import Session
from werkzeug.test import Client, TestResponse

pytestmark = pytest.mark.unit

API = "https://abc123defg.execute-api.eu-west-1.amazonaws.com"
PORT = 8765
HOST = f"127.0.0.1:{PORT}"
KEY, SECRET, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example"
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def _session() -> Session:
    session = Session()
    session.set_credentials(KEY, SECRET, TOKEN)
    return session


def _proxy(seen: list[httpx.Request], **kwargs: Any) -> Client:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"jobs": []}, headers={"Location": "/jobs/x"})

    proxy = ConsoleProxy(API, transport=httpx.MockTransport(answer), session=_session(), **kwargs)
    proxy.bind(PORT)
    return Client(proxy)


def _get(client: Client, path: str, **headers: str) -> TestResponse:
    return client.get(path, headers={"Host": HOST, **headers})


def test_api_calls_are_forwarded_signed_with_sigv4_for_execute_api() -> None:
    # GIVEN the proxy in front of a deployed API with IAM auth
    seen: list[httpx.Request] = []
    client = _proxy(seen, sign=True)
    # WHEN the console lists failed jobs through it
    response = client.get("/api/jobs?status=FAILED&limit=50", headers={"Host": HOST, CONSOLE_HEADER: "1"})
    # THEN the API got one request, to the same path, signed for execute-api in the API's region with the user's keys
    assert response.status_code == 200
    assert json.loads(response.data) == {"jobs": []}
    [forwarded] = seen
    assert str(forwarded.url) == f"{API}/jobs?status=FAILED&limit=50"
    auth = _AUTH.match(forwarded.headers["Authorization"])
    assert auth is not None, forwarded.headers["Authorization"]
    assert (auth["key"], auth["region"], auth["service"]) == (KEY, "eu-west-1", "execute-api")
    assert "host" in auth["signed"].split(";")
    assert forwarded.headers["X-Amz-Security-Token"] == TOKEN
    # AND the signature is the one AWS computes for that request (recomputed here with botocore from what was sent)
    signed = {name: forwarded.headers[name] for name in auth["signed"].split(";")}
    again = AWSRequest(method="GET", url=str(forwarded.url), headers=signed)
    again.context["timestamp"] = forwarded.headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(KEY, SECRET, TOKEN), "execute-api", "eu-west-1")
    expected = signer.signature(signer.string_to_sign(again, signer.canonical_request(again)), again)
    assert auth["signature"] == expected


def test_a_submission_is_forwarded_with_its_body_and_idempotency_key_signed() -> None:
    seen: list[httpx.Request] = []
    client = _proxy(seen, sign=True)
    body = {"name": "x", "command": ["echo", "hi"]}
    response = client.post(
        "/api/jobs",
        data=json.dumps(body),
        headers={"Host": HOST, CONSOLE_HEADER: "1", "Content-Type": "application/json", "Idempotency-Key": "k-1"},
    )
    assert response.status_code == 200
    [forwarded] = seen
    assert json.loads(forwarded.content) == body
    signed = _AUTH.match(forwarded.headers["Authorization"])["signed"].split(";")
    assert {"content-type", "host", "idempotency-key", "x-amz-date"} <= set(signed)
    assert response.headers["Location"] == "/jobs/x"


def test_queries_are_sent_in_sigv4s_canonical_encoding() -> None:
    # a browser's URLSearchParams writes a space as "+": SigV4 signs %20, so the proxy re-encodes
    assert canonical_query("name=my+job&tag=team%3Dgenomics") == "name=my%20job&tag=team%3Dgenomics"
    seen: list[httpx.Request] = []
    client = _proxy(seen, sign=True)
    client.get("/api/jobs?name=my+job", headers={"Host": HOST, CONSOLE_HEADER: "1"})
    assert seen[0].url.query == b"name=my%20job"


def test_a_bearer_token_is_forwarded_instead_of_a_signature() -> None:
    seen: list[httpx.Request] = []
    jwt = "eyJhbGciOi.example.token"
    client = _proxy(seen, sign=True, token=jwt)
    client.get("/api/queues", headers={"Host": HOST, CONSOLE_HEADER: "1"})
    assert seen[0].headers["Authorization"] == f"Bearer {jwt}"
    assert "X-Amz-Date" not in seen[0].headers


def test_nothing_is_forwarded_without_the_consoles_header() -> None:
    # a page of another origin can make the browser send a simple request here, but not with a custom header
    seen: list[httpx.Request] = []
    client = _proxy(seen, sign=True)
    response = client.post("/api/jobs", data="{}", headers={"Host": HOST, "Content-Type": "text/plain"})
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    assert CONSOLE_HEADER in json.loads(response.data)["detail"]
    assert seen == []


@pytest.mark.parametrize("host", ["evil.example:8765", f"127.0.0.1:{PORT + 1}", "attacker.localhost"])
def test_a_request_for_another_host_is_refused_against_dns_rebinding(host: str) -> None:
    seen: list[httpx.Request] = []
    client = _proxy(seen, sign=True)
    response = client.get("/api/jobs", headers={"Host": host, CONSOLE_HEADER: "1"})
    assert response.status_code == 421
    assert seen == []


def test_the_console_is_served_with_its_config_and_a_strict_policy() -> None:
    client = _proxy([], sign=True)
    page = _get(client, "/console/")
    assert page.status_code == 200
    assert b'<script src="app.js" defer></script>' in page.data
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    config = json.loads(_get(client, "/console/config.json").data)
    assert config == {
        "apiBase": "/api",
        "mode": "proxy",
        "apiUrl": API,
        "tenantHeader": False,
        "consoleHeader": CONSOLE_HEADER,
    }
    script = _get(client, "/console/vendor/cytoscape.min.js")
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert _get(client, "/").headers["Location"] == "/console/"


@pytest.mark.parametrize(
    "path", ["/console/../proxy.py", "/console/vendor/../../assets.py", "/console/.hidden.js", "/console/nope.js"]
)
def test_nothing_outside_the_assets_is_served(path: str) -> None:
    response = _get(_proxy([], sign=True), path)
    assert response.status_code == 404


def test_an_unreachable_api_is_a_502_problem_not_a_traceback() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    proxy = ConsoleProxy(API, sign=True, transport=httpx.MockTransport(refuse), session=_session())
    proxy.bind(PORT)
    response = Client(proxy).get("/api/jobs", headers={"Host": HOST, CONSOLE_HEADER: "1"})
    assert response.status_code == 502
    assert json.loads(response.data)["title"] == "Bad gateway"
