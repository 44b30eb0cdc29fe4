"""Who is calling: the tenant, from the identity API Gateway verified (IAM principal or a JWT claim)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from batchplane.domain.errors import UnauthenticatedError

_ASSUMED_ROLE = re.compile(r"^(arn:aws[a-z-]*:sts::\d{12}:assumed-role/[^/]+)/.+$")


def tenant_of(event: Mapping[str, Any], claim: str) -> str:
    """The caller's tenant. For IAM, the principal ARN, with an assumed role's session name dropped so that every
    session of one role is one tenant; for JWT, the configured claim (default ``sub``)."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    iam = authorizer.get("iam") or {}
    arn = iam.get("userArn")
    if isinstance(arn, str) and arn:
        match = _ASSUMED_ROLE.match(arn)
        return match.group(1) if match else arn
    jwt = authorizer.get("jwt") or {}
    value = (jwt.get("claims") or {}).get(claim)
    if isinstance(value, str) and value:
        return value
    lambda_ctx = authorizer.get("lambda") or {}
    tenant = lambda_ctx.get("tenant")
    if isinstance(tenant, str) and tenant:
        return tenant
    raise UnauthenticatedError("the request carries no verified caller identity")
