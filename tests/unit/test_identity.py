"""The tenant is the verified caller: the IAM principal (an assumed role without its session) or a JWT claim."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane.domain.errors import UnauthenticatedError
from batchplane.http.identity import tenant_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("authorizer", "tenant"),
    [
        ({"iam": {"userArn": "arn:aws:iam::123456789012:user/alice"}}, "arn:aws:iam::123456789012:user/alice"),
        (
            {"iam": {"userArn": "arn:aws:sts::123456789012:assumed-role/etl/session-1"}},
            "arn:aws:sts::123456789012:assumed-role/etl",
        ),
        ({"jwt": {"claims": {"sub": "user-42", "email": "a@b.c"}}}, "user-42"),
    ],
    ids=["iam-user", "assumed-role-drops-session", "jwt-sub"],
)
def test_the_tenant_is_the_verified_caller(authorizer: dict[str, Any], tenant: str) -> None:
    assert tenant_of({"requestContext": {"authorizer": authorizer}}, "sub") == tenant


def test_the_jwt_claim_is_configurable() -> None:
    event = {"requestContext": {"authorizer": {"jwt": {"claims": {"sub": "u", "org": "acme"}}}}}
    assert tenant_of(event, "org") == "acme"


@pytest.mark.parametrize(
    "event",
    [{}, {"requestContext": {}}, {"requestContext": {"authorizer": {"jwt": {"claims": {"email": "x"}}}}}],
    ids=["no-context", "no-authorizer", "claim-missing"],
)
def test_no_verified_identity_is_unauthenticated(event: dict[str, Any]) -> None:
    with pytest.raises(UnauthenticatedError):
        tenant_of(event, "sub")
