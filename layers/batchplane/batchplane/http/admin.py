"""Who is an administrator: the principals of the template's AdminPrincipals parameter (ADMIN_PRINCIPALS,
comma-joined), compared with the caller's tenant as `batchplane.http.identity.tenant_of` derives it (an IAM user or
role ARN, an assumed role's session name dropped; a JWT claim). Locally the local user is one."""

from __future__ import annotations

from batchplane.settings import settings


def is_admin(principal: str) -> bool:
    return bool(principal) and principal in settings().admin_principals
