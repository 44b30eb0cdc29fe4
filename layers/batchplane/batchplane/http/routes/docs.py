"""/openapi.json: the OpenAPI document as the API really answers; /docs: Swagger UI over it."""

from __future__ import annotations

import json
from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

from batchplane.http.openapi import TITLE, VERSION, with_problems
from batchplane.http.routes import new_router

router = new_router()


def _document() -> str:
    resolver = router.api_resolver
    if not isinstance(resolver, ApiGatewayResolver):
        raise TypeError("the docs router is served only once a resolver includes it")
    schema = json.loads(resolver.get_openapi_json_schema(title=TITLE, version=VERSION))
    return json.dumps(with_problems(schema))


@router.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=_document())


@router.get("/docs", include_in_schema=False)
def swagger_ui() -> Response[str]:
    """Swagger UI over the document /openapi.json serves. Built on request: Powertools' Swagger UI and OpenAPI models
    are imported here, on the rare request that needs them, not at every cold start (its ``enable_swagger`` imports
    them when the resolver is made: the largest single module of the gateway's import)."""
    from aws_lambda_powertools.event_handler.openapi import swagger_ui as powertools_swagger

    bundle = Path(powertools_swagger.__file__).parent
    spec = _document().replace("</", "<\\/")  # a "</script>" inside the JSON must not end the page's script
    html = powertools_swagger.generate_swagger_html(
        spec,
        (bundle / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (bundle / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
    )
    return Response(status_code=200, content_type="text/html", body=html)
