"""/openapi.json: the OpenAPI document as the API really answers (Swagger UI is at /docs)."""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

from batchplane.http.openapi import TITLE, VERSION, with_problems
from batchplane.http.routes import new_router

router = new_router()


@router.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    resolver = router.api_resolver
    if not isinstance(resolver, ApiGatewayResolver):
        raise TypeError("the docs router is served only once a resolver includes it")
    schema = json.loads(resolver.get_openapi_json_schema(title=TITLE, version=VERSION))
    return Response(status_code=200, content_type="application/json", body=json.dumps(with_problems(schema)))
