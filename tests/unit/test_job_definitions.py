"""Which job definitions a caller may run: the template's, and the names an operator lists; nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from batchplane.domain.errors import InvalidRequestError
from batchplane.domain.models import JobRequest
from batchplane.domain.submit_request import JobDefinitions

pytestmark = pytest.mark.unit

HOME = "arn:aws:batch:us-east-1:123456789012:job-definition/"
DEFINITIONS = JobDefinitions(
    by_name={"sample": f"{HOME}stack-Sample-x1:3", "mnp-sample": f"{HOME}stack-Mnp-y2:1"},
    multi_node=frozenset({"mnp-sample"}),
    default="sample",
    allowed=frozenset({"etl"}),
)


def request(definition: str | None, **extra: Any) -> JobRequest:
    return JobRequest.model_validate({"name": "j", **({"jobDefinition": definition} if definition else {}), **extra})


@pytest.mark.parametrize(
    ("given", "submitted"),
    [
        (None, f"{HOME}stack-Sample-x1:3"),  # the default
        ("sample", f"{HOME}stack-Sample-x1:3"),
        (f"{HOME}stack-Sample-x1:3", f"{HOME}stack-Sample-x1:3"),  # a declared definition's own ARN
        ("etl", "etl"),  # an operator's: Batch runs its latest ACTIVE revision
        (f"{HOME}etl:7", f"{HOME}etl:7"),  # any revision of an operator's definition, in this account and Region
        (f"{HOME}etl", f"{HOME}etl"),
    ],
)
def test_declared_and_allowed_definitions_are_usable(given: str | None, submitted: str) -> None:
    # GIVEN a definition the template declares or the operator allows
    # WHEN a job names it
    # THEN it is submitted with it
    assert DEFINITIONS.resolve(request(given)) == submitted


@pytest.mark.parametrize(
    "given",
    [
        "other",  # a name in the account nobody allowed
        f"{HOME}other:1",  # any other definition's ARN
        f"{HOME}stack-Sample-x1:2",  # another revision of a declared definition (IAM allows only the declared one)
        "arn:aws:batch:us-east-1:999999999999:job-definition/etl:1",  # an allowed name in another account
        "arn:aws:batch:eu-west-1:123456789012:job-definition/etl:1",  # ... or another Region
    ],
)
def test_any_other_definition_is_a_422_naming_job_definition(given: str) -> None:
    # GIVEN a definition neither declared nor allowed
    # WHEN a job names it
    with pytest.raises(InvalidRequestError) as raised:
        DEFINITIONS.resolve(request(given))
    # THEN it is refused, naming the field and what is usable
    (error,) = raised.value.errors
    assert error.field == "jobDefinition"
    assert "etl, mnp-sample, sample" in error.message


def test_multi_node_rules_still_hold_for_declared_definitions() -> None:
    # GIVEN the declared multi-node definition, by name and by its ARN
    for given in ("mnp-sample", f"{HOME}stack-Mnp-y2:1"):
        # THEN it needs nodes
        with pytest.raises(InvalidRequestError) as raised:
            DEFINITIONS.resolve(request(given))
        assert raised.value.errors[0].field == "nodes"
        assert DEFINITIONS.resolve(request(given, nodes={"count": 2})) == f"{HOME}stack-Mnp-y2:1"
    # AND a container definition refuses nodes
    with pytest.raises(InvalidRequestError) as raised:
        DEFINITIONS.resolve(request("sample", nodes={"count": 2}))
    assert raised.value.errors[0].field == "jobDefinition"
