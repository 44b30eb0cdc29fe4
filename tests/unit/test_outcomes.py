"""One vocabulary for what an event did and what it counts: every failure class and retry reason has its metric."""

from __future__ import annotations

import pytest
from batchplane.domain.failures import FailureClass
from batchplane.domain.outcomes import FAILURE_METRICS, RETRY_METRICS, SUBMITTED_AS, Metric, Outcome
from batchplane.domain.retry import AttemptReason

pytestmark = pytest.mark.unit


def test_every_failure_class_has_its_metric() -> None:
    # GIVEN every failure class WHEN its metric is looked up THEN it is named after the class
    assert {cls: FAILURE_METRICS[cls].value for cls in FailureClass} == {cls: "Failures." + cls for cls in FailureClass}


def test_every_retry_reason_has_its_metric_and_outcomes() -> None:
    # GIVEN every reason a new attempt can have after a failure
    reasons = [r for r in AttemptReason if r is not AttemptReason.INITIAL]
    for reason in reasons:
        # THEN it has a metric, and an outcome when submitted, scheduled or deferred
        assert RETRY_METRICS[reason] == Metric("Retries." + reason)
        submitted = SUBMITTED_AS[reason]
        assert (submitted, submitted.scheduled, submitted.deferred) == (
            reason.value,
            reason.value + "-scheduled",
            reason.value + "-deferred",
        )


def test_outcomes_read_as_their_text() -> None:
    # GIVEN an outcome WHEN logged or returned THEN it reads as the text tests and dashboards know
    assert Outcome.STALE_RETOLD == "stale-retold"
    assert Outcome.RELEASED.deferred == "released-deferred"
