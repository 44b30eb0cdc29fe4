"""What routes read from a request: the id guard every id route shares, and the Idempotency-Key header."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from batchplane.domain.errors import InvalidRequestError, NotFoundError
from batchplane.domain.ids import idempotent_job_id
from batchplane.http.request import MAX_IDEMPOTENCY_KEY, idempotency_key, known_id

pytestmark = pytest.mark.unit


def _event(headers: dict[str, str]) -> APIGatewayProxyEventV2:
    raw: dict[str, Any] = {"version": "2.0", "rawPath": "/jobs", "headers": headers, "requestContext": {}}
    return APIGatewayProxyEventV2(raw)


def test_an_id_of_ours_passes_the_guard() -> None:
    # GIVEN an id of our shape
    job_id = idempotent_job_id("tenant", "key")
    # WHEN a route guards it, THEN it is the id, unchanged
    assert known_id(job_id, "job") == job_id


@pytest.mark.parametrize("kind", ["job", "pipeline"])
def test_a_malformed_id_is_not_found_and_echoed_only_in_part(kind: str) -> None:
    # GIVEN an id that is not of our shape, and long
    value = "x" * 500
    # WHEN a route guards it
    with pytest.raises(NotFoundError) as caught:
        known_id(value, kind)
    # THEN 404 naming the kind, with only the first 64 characters of the id
    assert caught.value.detail == f"no {kind} {'x' * 64}"


def test_no_idempotency_key_is_none_and_a_good_one_is_itself() -> None:
    assert idempotency_key(_event({})) is None
    assert idempotency_key(_event({"idempotency-key": "run-42"})) == "run-42"


@pytest.mark.parametrize("key", ["", "k" * (MAX_IDEMPOTENCY_KEY + 1), "tab\there"], ids=["empty", "long", "control"])
def test_a_bad_idempotency_key_names_the_header(key: str) -> None:
    # GIVEN a key that is empty, too long or not printable
    # WHEN a route reads it
    with pytest.raises(InvalidRequestError) as caught:
        idempotency_key(_event({"idempotency-key": key}))
    # THEN 422 naming the header
    assert [e.field for e in caught.value.errors] == ["Idempotency-Key"]
