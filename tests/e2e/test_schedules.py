"""Scheduled submissions end to end: a rate(1 minute) schedule (60 s / --schedule-scale 30 = 2 s locally) fires, and
each firing submits exactly once."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e


def test_a_rate_schedule_fires_and_submits_once_per_firing(api: Api) -> None:
    # GIVEN a schedule every minute (every 2 s locally)
    body = {"name": "ticker", "expression": "rate(1 minute)", "job": {"name": "tick", "command": ["echo", "tick"]}}
    r = api.http.post("/schedules", json=body, headers={"X-Batchplane-Tenant": "scheduler-test"})
    assert r.status_code == 201, r.text
    # WHEN a few firings have passed
    time.sleep(7)
    r = api.http.delete("/schedules/ticker", headers={"X-Batchplane-Tenant": "scheduler-test"})
    assert r.status_code == 204
    time.sleep(1)
    listed = api.http.get(
        "/jobs", params={"name": "tick", "limit": 100}, headers={"X-Batchplane-Tenant": "scheduler-test"}
    )
    jobs = [
        api.http.get(f"/jobs/{j['jobId']}", headers={"X-Batchplane-Tenant": "scheduler-test"}).json()
        for j in listed.json()["jobs"]
    ]
    # THEN it fired, each job records its schedule and firing, and no firing submitted twice
    assert 2 <= len(jobs) <= 5, jobs
    origins = Counter(j["origin"] for j in jobs)
    assert all(o.startswith("schedule:ticker@") for o in origins)
    assert all(n == 1 for n in origins.values()), origins
    # AND once deleted it fires no more
    time.sleep(2.5)
    again = api.http.get(
        "/jobs", params={"name": "tick", "limit": 100}, headers={"X-Batchplane-Tenant": "scheduler-test"}
    )
    assert len(again.json()["jobs"]) == len(jobs)


def test_bad_schedules_are_refused(api: Api) -> None:
    for expression, field in [("every minute", "expression"), ("cron(0 3 * * *)", "expression")]:
        r = api.http.post("/schedules", json={"name": "bad", "expression": expression, "job": {"name": "x"}})
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field
    r = api.http.post("/schedules", json={"name": "both", "expression": "rate(5 minutes)"})
    assert r.status_code == 422
