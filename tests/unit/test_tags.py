"""Tags on a Batch job: 50 at most, batchplane's own and the job definition's propagated tags included, each in
ECS's character set (propagated tags reach the ECS task, which refuses anything else)."""

from __future__ import annotations

import pytest
from batchplane.domain.errors import InvalidRequestError
from batchplane.domain.ids import BATCHPLANE_JOB_TAG_KEYS, attempt_tags, tag_safe
from batchplane.domain.models import JobRequest
from batchplane.domain.submit_request import JobDefinitions, submit_job_request
from pydantic import ValidationError

pytestmark = pytest.mark.unit

ARN = "arn:aws:batch:us-east-1:123456789012:job-definition/"
DEFINITIONS = JobDefinitions(
    by_name={"sample": f"{ARN}s:1", "heavy": f"{ARN}h:1"},
    multi_node=frozenset(),
    default="sample",
    allowed=frozenset({"etl"}),
    tag_counts={"sample": 1, "heavy": 10},
)


def tags(n: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(n)}


@pytest.mark.parametrize(("definition", "limit"), [("sample", 45), ("heavy", 36), ("etl", 46)])
def test_the_user_tag_limit_is_50_minus_batchplanes_and_the_definitions(definition: str, limit: int) -> None:
    # GIVEN batchplane's own tags (jobId, attempt, tenant, stack) and each definition's propagated tags
    assert len(BATCHPLANE_JOB_TAG_KEYS) == 4
    # WHEN a job carries exactly the limit, THEN it is accepted
    DEFINITIONS.resolve(JobRequest.model_validate({"name": "j", "jobDefinition": definition, "tags": tags(limit)}))
    # AND one more is a 422 naming tags (past batchplane's own 4, already when the request is parsed)
    if limit + 1 > 50 - 4:
        with pytest.raises(ValidationError) as invalid:
            JobRequest.model_validate({"name": "j", "jobDefinition": definition, "tags": tags(limit + 1)})
        assert invalid.value.errors()[0]["loc"][0] == "tags"
        return
    with pytest.raises(InvalidRequestError) as raised:
        DEFINITIONS.resolve(
            JobRequest.model_validate({"name": "j", "jobDefinition": definition, "tags": tags(limit + 1)})
        )
    assert raised.value.errors[0].field == "tags"
    assert f"at most {limit}" in raised.value.errors[0].message


def test_the_job_never_carries_more_than_50_tags_with_its_definitions() -> None:
    # GIVEN the most tags the sample definition allows
    request = JobRequest.model_validate({"name": "j", "tags": tags(DEFINITIONS.user_tag_limit("sample"))})
    # WHEN the SubmitJob request is built (the stack's tag is added at submission)
    sent = submit_job_request(
        request=request, job_id="0" * 26, attempt=1, tenant="t", queue_arn="q", job_definition="d", memory_mib=None
    )
    # THEN the job's tags, the stack's and the definition's one propagated tag make exactly 50
    assert len(sent["tags"]) + 1 + DEFINITIONS.tag_counts["sample"] == 50


@pytest.mark.parametrize("value", ["a|b", "semi;colon", 'quote"', "tab\tbad", "<x>", "a,b"])
def test_user_tag_values_outside_ecs_characters_are_refused_naming_tags(value: str) -> None:
    # WHEN a job's tag value has a character ECS refuses
    with pytest.raises(ValidationError) as raised:
        JobRequest.model_validate({"name": "j", "tags": {"team": value}})
    # THEN the request is invalid at tags
    assert raised.value.errors()[0]["loc"][0] == "tags"


@pytest.mark.parametrize("value", ["genomics", "a b", "x+y-z=1.2_3:4/5@6", "équipe", "数据", ""])
def test_user_tag_values_in_ecs_characters_are_accepted(value: str) -> None:
    assert JobRequest.model_validate({"name": "j", "tags": {"team": value}}).tags == {"team": value}


def test_a_tenant_with_characters_ecs_refuses_is_sanitised_in_batchplanes_tag() -> None:
    # GIVEN a JWT subject with "|" (as Auth0 issues them)
    tenant = "auth0|5f7c8ec7c33c6c004bbafe82"
    # WHEN its job is tagged
    tag = attempt_tags("0" * 26, 1, tenant)["batchplane:tenant"]
    # THEN the tag value is in ECS's character set, and still says who
    assert tag == "auth0_5f7c8ec7c33c6c004bbafe82"
    assert tag_safe("arn:aws:sts::123456789012:assumed-role/team") == "arn:aws:sts::123456789012:assumed-role/team"
    assert len(tag_safe("x" * 300)) == 256
