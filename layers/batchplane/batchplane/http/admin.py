"""Who is an admin: the principals the stack's ``AdminPrincipals`` parameter lists (env ``ADMIN_PRINCIPALS``,
comma-joined), compared with the caller's identity as the API sees it (an IAM principal ARN, or the JWT claim)."""

from __future__ import annotations

from batchplane.settings import settings


def is_admin(principal: str) -> bool:
    return bool(principal) and principal in settings().admin_principals
