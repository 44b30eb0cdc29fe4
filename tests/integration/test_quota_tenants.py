"""A quota names a tenant as batchplane derives it from the caller. With IAM authorization that is a principal ARN:
a bare name (``alice``, as the local stack's ``X-Batchplane-Tenant`` header takes it) would hold nobody, so it is
refused with the form to use; with JWT, a tenant is a token claim, any string. On moto, enforced IAM roles."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.apigw import http_event, response_json
from tests.integration.conftest import Plane
from tests.integration.test_admission import ADMIN, BOB, _quota

JWT_ADMIN = "ops-admin"


@pytest.fixture
def stack_parameters() -> dict[str, Any]:
    return {"AdminPrincipals": f"{ADMIN},{JWT_ADMIN}"}


@pytest.mark.parametrize("method", ["PUT", "GET"])
def test_a_bare_name_is_not_an_iam_tenant(plane: Plane, method: str) -> None:
    # GIVEN an IAM admin; WHEN it sets (or reads) the quota of "alice"
    answer = _quota(plane, method, "alice", ADMIN, {"maxRunningVcpus": 0} if method == "PUT" else None)
    # THEN 422, naming the tenant and the ARN to use, and no quota was written for "alice"
    assert answer["statusCode"] == 422, answer["body"]
    problem = response_json(answer)
    assert [e["field"] for e in problem["errors"]] == ["tenant"]
    assert "arn:aws:iam::123456789012:user/alice" in problem["errors"][0]["message"]
    listed = response_json(_quota_list(plane, ADMIN))
    assert "alice" not in {t["tenant"] for t in listed["tenants"]}
    # AND the tenant's ARN is taken
    assert _quota(plane, "PUT", BOB, ADMIN, {"maxRunningVcpus": 2})["statusCode"] == 200
    assert _quota(plane, "GET", BOB, ADMIN)["statusCode"] == 200


def test_with_jwt_a_tenant_is_any_claim(plane: Plane) -> None:
    # GIVEN an admin authenticated by a JWT (its tenant is the token's claim)
    event = http_event(
        "PUT",
        "/quotas/alice",
        body={"maxRunningVcpus": 1},
        caller=None,
        route="PUT /quotas/{tenant}",
        path_parameters={"tenant": quote("alice", safe="")},
    )
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {"sub": JWT_ADMIN}, "scopes": None}}
    # WHEN it sets alice's quota; THEN it is set
    answer = plane.gateway.lambda_handler(event, plane.ctx)
    assert answer["statusCode"] == 200, answer["body"]
    assert response_json(answer)["quota"]["maxRunningVcpus"] == 1


def _quota_list(plane: Plane, caller: str) -> dict[str, Any]:
    event = http_event("GET", "/quotas", caller=caller, route="GET /quotas")
    return plane.gateway.lambda_handler(event, plane.ctx)
