"""The bench's 1,000-job DAG (tests/perf/local_dag.py) in its two forms: what each submits, and AWS's floor."""

from __future__ import annotations

from batchplane.domain.pipelines import PipelineRequest, expand_maps

from tests.perf.local_dag import dag, medians, submit_floor_s


def test_the_map_form_is_one_submitted_job_per_dag_job() -> None:
    jobs = expand_maps(PipelineRequest.model_validate(dag(1000)))
    assert len(jobs) == 1000
    assert all(j.request.array_size is None for j in jobs)


def test_the_array_form_is_three_submitted_jobs_the_middle_one_an_array_of_998() -> None:
    jobs = expand_maps(PipelineRequest.model_validate(dag(1000, array=True)))
    assert [(j.id, j.request.array_size) for j in jobs] == [("split", None), ("work", 998), ("merge", None)]
    assert [e.id for e in jobs[2].depends_on] == ["work"]


def test_the_map_form_cannot_be_faster_than_batchs_submitjob_quota_allows() -> None:
    # 1,000 SubmitJob calls at AWS Batch's fixed 50 a second per account
    assert submit_floor_s(1000) == 20.0


def test_medians_are_taken_per_column_and_a_missing_run_leaves_its_column_unmeasured() -> None:
    runs = [(50.0, 8.0, 1.5, 51.0), (40.0, 7.0, 1.2, None), (45.0, 9.0, 1.9, 49.0)]
    assert medians(runs) == [45.0, 8.0, 1.5, None]
