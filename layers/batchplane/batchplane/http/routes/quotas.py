"""/quotas: tenant quotas and fair-share weights, for admins only (AdminPrincipals). A tenant in a path is its
identity as the API sees it (an IAM principal ARN, or the JWT claim), URL-encoded."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import BaseModel, ConfigDict, Field

from batchplane import wiring
from batchplane.domain.errors import FieldError, ForbiddenError, InvalidRequestError
from batchplane.http.admin import is_admin
from batchplane.http.request import tenant
from batchplane.http.routes import new_router
from batchplane.services.quotas import QuotaChange

router = new_router()

TenantName = Annotated[str, Path(alias="tenant", min_length=1, max_length=2048)]
Limit = Annotated[int | None, Field(default=None, ge=0, le=10_000_000)]


class QuotaUpdate(BaseModel):
    """A partial change: fields left out keep their value; null means no limit (a weight of null: the default)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)  # built on first use

    max_running_vcpus: Limit = Field(default=None, alias="maxRunningVcpus", ge=0, le=10_000_000)
    max_running_memory_mib: Limit = Field(default=None, alias="maxRunningMemoryMiB", ge=0, le=10_000_000_000)
    max_running_gpus: Limit = Field(default=None, alias="maxRunningGpus", ge=0, le=100_000)
    max_queued_jobs: Limit = Field(default=None, alias="maxQueuedJobs", ge=0, le=10_000_000)
    weight: float | None = Field(default=None, gt=0, le=1000, description="fair-share weight (default 1)")
    reset: bool = Field(default=False, description="drop every override first: back to the defaults")


def _admin() -> str:
    caller = tenant(router.current_event)
    if not is_admin(caller):
        raise ForbiddenError("quotas are for admins only (the stack's AdminPrincipals)")
    return caller


# A tenant as tenant_of derives it from an IAM caller: a principal ARN of IAM or STS (an assumed role without its
# session name), in any partition.
_IAM_TENANT = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+$")


def _tenant(value: str, caller: str) -> str:
    """The tenant a path names, asked by ``caller`` (the admin). With IAM authorisation (the admin's own identity is
    a principal ARN: the API has one authoriser) every tenant is a principal ARN, so a bare name (``alice``) names no
    one who can submit: 422 with the form to use, rather than a quota that holds nobody."""
    name = unquote(value).strip()
    if not name or len(name) > 1024:
        raise InvalidRequestError("tenant is not a tenant name", errors=[FieldError("tenant", "1 to 1,024 characters")])
    if _IAM_TENANT.match(caller) and not _IAM_TENANT.match(name):
        account = caller.split(":")[4]
        raise InvalidRequestError(
            f"tenant {name[:64]!r} is not an IAM principal ARN",
            errors=[
                FieldError(
                    "tenant",
                    "with IAM authorization a tenant is its caller's IAM principal ARN, as GET /quotas lists it "
                    f"(e.g. arn:aws:iam::{account}:user/{name[:64]} or arn:aws:iam::{account}:role/<name>; an "
                    f"assumed role is arn:aws:sts::{account}:assumed-role/<role>)",
                )
            ],
        )
    return name


@router.get("/quotas")
def list_quotas() -> dict[str, Any]:
    """Every tenant's quota, weight and usage, and the defaults."""
    _admin()
    return wiring.quota_service().list()


@router.get("/quotas/<tenant>")
def get_quota(name: TenantName) -> dict[str, Any]:
    """One tenant's quota, weight and current usage."""
    return wiring.quota_service().get(_tenant(name, _admin()))


@router.put("/quotas/<tenant>")
def put_quota(name: TenantName, body: Annotated[QuotaUpdate, Body()]) -> dict[str, Any]:
    """Set a tenant's quota overrides and weight (only the fields given change)."""
    caller = _admin()
    given = body.model_fields_set
    by_alias = {
        "max_running_vcpus": "maxRunningVcpus",
        "max_running_memory_mib": "maxRunningMemoryMiB",
        "max_running_gpus": "maxRunningGpus",
        "max_queued_jobs": "maxQueuedJobs",
    }
    change = QuotaChange(
        values={api: getattr(body, field) for field, api in by_alias.items() if field in given},
        weight=body.weight,
        clear_weight="weight" in given and body.weight is None,
        reset=body.reset,
    )
    return wiring.quota_service().put(_tenant(name, caller), change)
