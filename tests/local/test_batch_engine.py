"""LocalBatch runs jobs for real and reports them as AWS Batch does (states, reasons, events, logs)."""

from __future__ import annotations

import re
import sys
import time

import pytest
from batchplane_local.batch import BatchClientError
from batchplane_local.batch.model import (
    CAPACITY_REASON,
    DEPENDENCY_FAILED,
    ESSENTIAL_EXITED,
    MAX_RESOURCE_REASON,
    OOM_REASON,
    TIMEOUT_REASON,
)

from tests.local.conftest import JOB_DEF, Env, alive

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
HOST_TERMINATED = re.compile(r"^Host EC2 \(instance i-[0-9a-f]{17}\) terminated\.$")
HOG = (
    "import time\n"
    "chunks = []\n"
    "for _ in range(200):\n"
    "    chunks.append(b'x' * 5_000_000)\n"
    "    time.sleep(0.005)\n"
    "time.sleep(10)\n"
)


def test_echo_job_succeeds_with_its_logs_and_aws_shaped_events(env: Env) -> None:
    # GIVEN a job definition whose command echoes two lines
    # WHEN a job is submitted and runs
    job_id = env.submit(jobName="echo")
    detail = env.batch.wait_for(job_id)

    # THEN it SUCCEEDED with exit code 0 and the container's output as its log stream
    assert detail["status"] == "SUCCEEDED"
    assert detail["statusReason"] == ESSENTIAL_EXITED
    (attempt,) = detail["attempts"]
    assert attempt["container"]["exitCode"] == 0
    assert re.fullmatch(rf"{JOB_DEF}/default/[0-9a-f]{{32}}", attempt["container"]["logStreamName"])
    assert env.batch.logs(attempt["container"]["logStreamName"]) == ["hello", "world"]
    assert detail["createdAt"] <= detail["startedAt"] <= detail["stoppedAt"]
    # AND every transition after SUBMITTED was published, in order, in EventBridge's shape
    assert env.statuses(job_id) == ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    last = env.recorder.of(job_id)[-1]
    assert set(last) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert (last["version"], last["detail-type"], last["source"]) == ("0", "Batch Job State Change", "aws.batch")
    assert (last["account"], last["region"]) == ("123456789012", "us-east-1")
    assert ISO_Z.match(last["time"])
    assert last["resources"] == [f"arn:aws:batch:us-east-1:123456789012:job/{job_id}"]
    assert last["detail"] == detail
    assert last["detail"]["jobQueue"] == "arn:aws:batch:us-east-1:123456789012:job-queue/normal-spot"
    assert last["detail"]["jobDefinition"] == f"arn:aws:batch:us-east-1:123456789012:job-definition/{JOB_DEF}:1"
    starting = env.recorder.of(job_id)[1]["detail"]
    assert starting["container"]["logStreamName"] == attempt["container"]["logStreamName"]


def test_non_zero_exit_fails_with_the_exit_code(env: Env) -> None:
    # GIVEN a command exiting 3
    # WHEN it runs
    detail = env.batch.wait_for(env.submit(["sh", "-c", "echo boom >&2; exit 3"]))

    # THEN the job FAILED as AWS reports an application error
    assert detail["status"] == "FAILED"
    assert detail["statusReason"] == ESSENTIAL_EXITED
    assert detail["attempts"][0]["container"]["exitCode"] == 3
    assert detail["container"]["exitCode"] == 3
    assert env.batch.logs(detail["container"]["logStreamName"]) == ["boom"]


def test_memory_hog_is_killed_as_out_of_memory(env: Env) -> None:
    # GIVEN a job limited to 64 MiB whose process keeps allocating
    resources = [{"type": "MEMORY", "value": "64"}]
    # WHEN it runs
    job_id = env.submit([sys.executable, "-c", HOG], containerOverrides={"resourceRequirements": resources})
    detail = env.batch.wait_for(job_id, timeout=20)

    # THEN it was killed with 137 and the OOM reason on the container
    assert detail["status"] == "FAILED"
    assert detail["statusReason"] == ESSENTIAL_EXITED
    container = detail["attempts"][0]["container"]
    assert (container["exitCode"], container["reason"]) == (137, OOM_REASON)


# One short burst of 100 MiB, freed at once: the allocation that slipped between 50 ms samples of the tree's RSS.
BURST = "b = b'x' * (100 * 1024 * 1024); del b\n"


@pytest.mark.parametrize(
    ("after", "what"),
    [("", "exits at once (its peak is read when it is reaped)"), ("import time; time.sleep(2)\n", "lives on")],
)
def test_a_short_burst_over_the_memory_limit_is_an_oom_every_time(env: Env, after: str, what: str) -> None:
    # GIVEN a 64 MiB job whose process allocates 100 MiB in one short burst, then {what}
    resources = [{"type": "MEMORY", "value": "64"}]
    outcomes = []
    for _ in range(10):
        # WHEN it runs (ten times)
        job_id = env.submit(
            [sys.executable, "-c", BURST + after], containerOverrides={"resourceRequirements": resources}
        )
        detail = env.batch.wait_for(job_id, timeout=20)
        container = detail["attempts"][0]["container"]
        outcomes.append((detail["status"], detail["statusReason"], container.get("exitCode"), container.get("reason")))

    # THEN every run was killed as a container over its memory is, never passed
    assert outcomes == [("FAILED", ESSENTIAL_EXITED, 137, OOM_REASON)] * 10, what


def test_a_job_within_its_memory_limit_is_not_an_oom(env: Env) -> None:
    # GIVEN a 64 MiB job whose process peaks at 20 MiB
    resources = [{"type": "MEMORY", "value": "64"}]
    # WHEN it runs
    small = "b = b'x' * (20 * 1024 * 1024); del b"
    detail = env.batch.wait_for(
        env.submit([sys.executable, "-c", small], containerOverrides={"resourceRequirements": resources})
    )

    # THEN it succeeded
    assert detail["status"] == "SUCCEEDED", detail
    assert detail["container"]["exitCode"] == 0


def test_attempt_over_its_timeout_is_stopped(env: Env) -> None:
    # GIVEN a 0.3 s attempt timeout on a job that sleeps 30 s
    started = time.monotonic()
    job_id = env.submit(["sleep", "30"], timeout={"attemptDurationSeconds": 0.3})
    # WHEN it runs
    detail = env.batch.wait_for(job_id, timeout=10)

    # THEN it FAILED with AWS's timeout reason, long before 30 s
    assert detail["status"] == "FAILED"
    assert detail["statusReason"] == TIMEOUT_REASON
    assert detail["timeout"] == {"attemptDurationSeconds": 0.3}
    assert detail["attempts"][0]["container"]["exitCode"] in {137, 143}
    assert time.monotonic() - started < 5


def test_interrupt_on_spot_is_a_host_terminated_failure(env: Env) -> None:
    # GIVEN a long job RUNNING on the Spot compute environment
    job_id = env.submit(["sleep", "30"])
    env.batch.wait_for(job_id, {"RUNNING"})
    # WHEN its instance is reclaimed
    assert env.batch.interrupt(job_id)
    detail = env.batch.wait_for(job_id)

    # THEN it FAILED as a Spot reclaim: host terminated, no exit code
    assert detail["status"] == "FAILED"
    assert HOST_TERMINATED.match(detail["statusReason"])
    assert detail["attempts"][0]["statusReason"] == detail["statusReason"]
    assert "exitCode" not in detail["attempts"][0]["container"]


def test_zero_capacity_keeps_job_runnable_with_the_capacity_reason_until_restored(env: Env) -> None:
    # GIVEN a Spot compute environment with no capacity
    env.batch.set_capacity("spot-ce", 0)
    job_id = env.submit()
    # WHEN the scheduler looks at the job
    deadline = time.monotonic() + 5
    while "statusReason" not in env.batch.describe_jobs([job_id])[0] and time.monotonic() < deadline:
        time.sleep(0.01)

    # THEN it stays RUNNABLE with AWS's capacity reason naming the first instance type, published as an event
    detail = env.batch.describe_jobs([job_id])[0]
    assert detail["status"] == "RUNNABLE"
    assert detail["statusReason"] == CAPACITY_REASON.format(instance_type="m5.large")
    assert detail["statusReason"].endswith("for instance type [m5.large]")
    env.batch.flush_events()
    assert env.recorder.of(job_id)[-1]["detail"]["statusReason"] == detail["statusReason"]
    # AND once capacity is back the job runs
    env.batch.set_capacity("spot-ce", 4)
    assert env.batch.wait_for(job_id)["status"] == "SUCCEEDED"
    assert env.statuses(job_id) == ["RUNNABLE", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    ce = next(c for c in env.batch.compute_environments() if c["name"] == "spot-ce")
    assert (ce["maxvCpus"], ce["usedvCpus"], ce["capacity"]) == (4, 0, "spot")


def test_only_the_job_at_the_head_of_a_blocked_queue_carries_the_reason(env: Env) -> None:
    # GIVEN a Spot compute environment with no capacity and three jobs queued on it
    env.batch.set_capacity("spot-ce", 0)
    first, second, third = (env.submit(jobName=f"j{i}") for i in range(3))

    def reason(job_id: str) -> str | None:
        return env.batch.describe_jobs([job_id])[0].get("statusReason")

    deadline = time.monotonic() + 5
    while reason(first) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # a few more scheduler passes
    # THEN only the head carries AWS's capacity reason, with one "Batch Job Queue Blocked" event; the others wait
    # RUNNABLE with neither (AWS: "a RUNNABLE job at the head and blocking the queue")
    assert reason(first) == CAPACITY_REASON.format(instance_type="m5.large")
    assert (reason(second), reason(third)) == (None, None)
    env.batch.flush_events()

    def blocked(job_id: str) -> list[dict[str, object]]:
        return [e for e in env.recorder.of(job_id) if e["detail-type"] == "Batch Job Queue Blocked"]

    assert len(blocked(first)) == 1
    assert blocked(first)[0]["detail"]["status"] == "RUNNABLE"  # type: ignore[index]
    assert blocked(first)[0]["resources"][1].endswith(":job-queue/normal-spot")  # type: ignore[index]
    assert (blocked(second), blocked(third)) == ([], [])
    # WHEN the head leaves the queue THEN the next job is the head and is judged in turn
    env.batch.terminate_job(first, "moved")
    deadline = time.monotonic() + 5
    while reason(second) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reason(second) == CAPACITY_REASON.format(instance_type="m5.large")
    assert reason(third) is None
    env.batch.flush_events()
    assert len(blocked(second)) == 1


def test_desired_vcpus_follow_queue_demand_while_the_environment_stays_valid(env: Env) -> None:
    # GIVEN a job waiting RUNNABLE for the Spot environment (too big to be placed) and nothing running
    env.submit(jobName="big", containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "16"}]})
    deadline = time.monotonic() + 5
    ce: dict[str, object] = {}
    while time.monotonic() < deadline:
        ce = next(c for c in env.batch.describe_compute_environments(["spot-ce"]))
        if ce["computeResources"]["desiredvCpus"]:  # type: ignore[index]
            break
        time.sleep(0.01)
    # THEN, as AWS reports a managed environment scaling for its queue's demand, it stays VALID while desiredvCpus
    # rises above what runs, up to maxvCpus (UPDATING is for UpdateComputeEnvironment, never a scale-out)
    assert (ce["type"], ce["state"], ce["status"]) == ("MANAGED", "ENABLED", "VALID")
    assert ce["computeResources"]["desiredvCpus"] == 4  # type: ignore[index]
    assert next(c for c in env.batch.compute_environments() if c["name"] == "spot-ce")["usedvCpus"] == 0


def test_job_bigger_than_every_compute_environment_is_a_misconfiguration(env: Env) -> None:
    # GIVEN a job asking 16 vCPUs of a 4-vCPU compute environment
    job_id = env.submit(containerOverrides={"resourceRequirements": [{"type": "VCPU", "value": "16"}]})
    # WHEN the scheduler looks at it
    deadline = time.monotonic() + 5
    while "statusReason" not in env.batch.describe_jobs([job_id])[0] and time.monotonic() < deadline:
        time.sleep(0.01)
    # THEN it is RUNNABLE with the MISCONFIGURATION reason
    assert env.batch.describe_jobs([job_id])[0]["statusReason"] == MAX_RESOURCE_REASON


def test_higher_priority_queue_goes_first_and_fifo_within_a_queue(env: Env) -> None:
    # GIVEN one vCPU shared by a low- and a high-priority queue, busy with a blocker
    env.batch.add_compute_environment("one", capacity="on-demand", max_vcpus=1)
    env.batch.add_job_queue("low", priority=1, compute_environments=["one"])
    env.batch.add_job_queue("high", priority=100, compute_environments=["one"])
    blocker = env.submit(["sleep", "0.4"], jobQueue="low")
    env.batch.wait_for(blocker, {"STARTING", "RUNNING"})
    # WHEN two low-priority jobs and then a high-priority one are queued
    low1 = env.submit(jobQueue="low", jobName="low1")
    low2 = env.submit(jobQueue="low", jobName="low2")
    high = env.submit(jobQueue="high", jobName="high")
    for job_id in (low1, low2, high):
        env.batch.wait_for(job_id)

    # THEN the high-priority job started first, then the low ones in submission order
    env.batch.flush_events()
    started = [e["detail"]["jobId"] for e in env.recorder.events if e["detail"]["status"] == "STARTING"]
    assert started == [blocker, high, low1, low2]


def test_cancel_affects_a_runnable_job_and_terminate_stops_a_running_one(env: Env) -> None:
    # GIVEN one vCPU: a RUNNING job and a RUNNABLE one behind it
    env.batch.set_capacity("spot-ce", 1)
    running = env.submit(["sleep", "30"])
    env.batch.wait_for(running, {"RUNNING"})
    waiting = env.submit(jobName="waiting")
    env.batch.wait_for(waiting, {"RUNNABLE"})

    # WHEN both are cancelled
    env.batch.cancel_job(waiting, "no longer needed")
    env.batch.cancel_job(running, "too late")
    # THEN the RUNNABLE one FAILED with the caller's reason and the RUNNING one carries on
    cancelled = env.batch.wait_for(waiting)
    assert (cancelled["status"], cancelled["statusReason"], cancelled["isCancelled"]) == (
        "FAILED",
        "no longer needed",
        True,
    )
    assert cancelled["attempts"] == []
    assert env.batch.describe_jobs([running])[0]["status"] == "RUNNING"

    # WHEN the running one is terminated
    env.batch.terminate_job(running, "terminated by test")
    terminated = env.batch.wait_for(running, timeout=5)
    # THEN it FAILED with the caller's reason
    assert (terminated["status"], terminated["statusReason"], terminated["isTerminated"]) == (
        "FAILED",
        "terminated by test",
        True,
    )
    assert env.statuses(running) == ["RUNNABLE", "STARTING", "RUNNING", "FAILED"]


def test_retry_strategy_adds_attempts_and_evaluate_on_exit_can_stop_them(env: Env) -> None:
    # GIVEN a command that fails on attempt 1 and succeeds on attempt 2
    flaky = ["sh", "-c", 'test "$AWS_BATCH_JOB_ATTEMPT" = 2 || exit 3']
    # WHEN it is allowed 2 attempts
    retried = env.batch.wait_for(env.submit(flaky, retryStrategy={"attempts": 2}))
    # THEN it SUCCEEDED on the second attempt, the first one recorded
    assert retried["status"] == "SUCCEEDED"
    assert [a["container"]["exitCode"] for a in retried["attempts"]] == [3, 0]

    # WHEN an evaluateOnExit rule says EXIT on exit code 3
    rule = {"onExitCode": "3", "action": "EXIT"}
    stopped = env.batch.wait_for(env.submit(flaky, retryStrategy={"attempts": 2, "evaluateOnExit": [rule]}))
    # THEN there is no second attempt
    assert stopped["status"] == "FAILED"
    assert len(stopped["attempts"]) == 1


def test_depends_on_waits_for_success_and_fails_on_a_failed_dependency(env: Env) -> None:
    # GIVEN a job that takes a moment and one that fails
    first = env.submit(["sleep", "0.3"], jobName="first")
    broken = env.submit(["sh", "-c", "exit 1"], jobName="broken")
    # WHEN jobs depend on them
    after = env.submit(jobName="after", dependsOn=[{"jobId": first}])
    orphan = env.submit(jobName="orphan", dependsOn=[{"jobId": broken}])

    # THEN the dependent ran only after its dependency SUCCEEDED, going through PENDING
    after_detail = env.batch.wait_for(after)
    first_detail = env.batch.wait_for(first)
    assert after_detail["status"] == "SUCCEEDED"
    assert after_detail["startedAt"] >= first_detail["stoppedAt"]
    assert env.statuses(after)[0] == "PENDING"
    # AND the job depending on a failed one FAILED without running
    orphan_detail = env.batch.wait_for(orphan)
    assert (orphan_detail["status"], orphan_detail["statusReason"]) == ("FAILED", DEPENDENCY_FAILED)
    assert orphan_detail["attempts"] == []


def test_array_job_runs_every_index_and_summarises_children(env: Env) -> None:
    # GIVEN an array job of 20 children printing their index
    command = ["sh", "-c", "echo $AWS_BATCH_JOB_ARRAY_INDEX/$AWS_BATCH_JOB_ARRAY_SIZE $AWS_BATCH_JOB_ID"]
    parent = env.submit(command, jobName="array", arrayProperties={"size": 20})
    # WHEN it runs
    detail = env.batch.wait_for(parent, timeout=30)

    # THEN every child ran with its own index and the parent SUCCEEDED with a full summary
    assert detail["status"] == "SUCCEEDED"
    assert detail["arrayProperties"]["size"] == 20
    assert detail["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 20
    children = env.batch.list_jobs(arrayJobId=parent, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert sorted(c["arrayProperties"]["index"] for c in children) == list(range(20))
    child_details = env.batch.describe_jobs([f"{parent}:{i}" for i in range(20)])
    lines = {env.batch.logs(c["container"]["logStreamName"])[0] for c in child_details}
    assert lines == {f"{i}/20 {parent}:{i}" for i in range(20)}
    # AND child events were published with their index
    env.batch.flush_events()
    child_events = [e for e in env.recorder.events if e["detail"]["jobId"].startswith(f"{parent}:")]
    assert {e["detail"]["arrayProperties"]["index"] for e in child_events} == set(range(20))
    assert env.statuses(parent)[-1] == "SUCCEEDED"
    # AND ListJobs on the queue shows the parent, not the children
    listed = env.batch.list_jobs(jobQueue="normal-spot", jobStatus="SUCCEEDED")["jobSummaryList"]
    assert [j["jobId"] for j in listed] == [parent]


def test_sequential_array_stops_at_a_failing_child_and_fails_the_parent(env: Env) -> None:
    # GIVEN a SEQUENTIAL array of 3 whose index 1 fails
    command = ["sh", "-c", 'test "$AWS_BATCH_JOB_ARRAY_INDEX" != 1']
    parent = env.submit(command, arrayProperties={"size": 3}, dependsOn=[{"type": "SEQUENTIAL"}])
    # WHEN it runs
    detail = env.batch.wait_for(parent)
    # THEN child 0 SUCCEEDED, child 1 FAILED, child 2 never ran, and the parent FAILED
    children = env.batch.describe_jobs([f"{parent}:{i}" for i in range(3)])
    assert [c["status"] for c in children] == ["SUCCEEDED", "FAILED", "FAILED"]
    assert children[2]["statusReason"] == DEPENDENCY_FAILED
    assert children[0]["stoppedAt"] <= children[1]["startedAt"]
    assert detail["status"] == "FAILED"
    assert detail["arrayProperties"]["statusSummary"]["FAILED"] == 2


def test_an_array_with_a_failed_child_fails_as_aws_says_and_lists_the_child(env: Env) -> None:
    # GIVEN an array of 3 whose index 1 exits 1
    command = ["sh", "-c", 'test "$AWS_BATCH_JOB_ARRAY_INDEX" != 1']
    parent = env.submit(command, arrayProperties={"size": 3})
    # WHEN it runs
    detail = env.batch.wait_for(parent)
    env.batch.flush_events()
    # THEN the parent FAILED with AWS's reason and no container outcome of its own, after every child ended
    assert (detail["status"], detail["statusReason"]) == ("FAILED", "Array Child Job failed")
    assert detail["attempts"] == []
    assert detail["arrayProperties"]["statusSummary"]["FAILED"] == 1
    assert detail["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 2
    last = [e["detail"] for e in env.recorder.of(parent)][-1]
    assert (last["status"], last["statusReason"]) == ("FAILED", "Array Child Job failed")
    # AND ListJobs of the array's FAILED children names the child, its exit code and reason
    failed = env.batch.list_jobs(arrayJobId=parent, jobStatus="FAILED")["jobSummaryList"]
    assert [(f["arrayProperties"]["index"], f["container"]["exitCode"], f["statusReason"]) for f in failed] == [
        (1, 1, "Essential container in task exited")
    ]


@pytest.mark.parametrize(("main_exit", "expected"), [(0, "SUCCEEDED"), (5, "FAILED")])
def test_multi_node_job_outcome_is_the_main_nodes(env: Env, main_exit: int, expected: str) -> None:
    # GIVEN a 3-node parallel job: node 0 (main) exits after a moment, nodes 1-2 would run for 30 s
    env.batch.register_job_definition(
        "mnp",
        type="multinode",
        node_properties={
            "numNodes": 3,
            "mainNode": 0,
            "nodeRangeProperties": [
                {
                    "targetNodes": "0",
                    "container": {"image": "x", "command": ["sh", "-c", f"sleep 0.3; exit {main_exit}"]},
                },
                {
                    "targetNodes": "1:",
                    "container": {
                        "image": "x",
                        "command": [
                            "sh",
                            "-c",
                            "echo $AWS_BATCH_JOB_NODE_INDEX $AWS_BATCH_JOB_NUM_NODES $AWS_BATCH_JOB_MAIN_NODE_INDEX "
                            "$AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS; sleep 30",
                        ],
                    },
                },
            ],
        },
    )
    # WHEN it runs
    job_id = env.submit(jobDefinition="mnp", jobQueue="normal-od")
    detail = env.batch.wait_for(job_id, timeout=10)

    # THEN the job's status and exit code are the main node's, and the other nodes were stopped
    assert detail["status"] == expected
    assert detail["attempts"][-1]["container"]["exitCode"] == main_exit
    nodes = env.batch.list_jobs(multiNodeJobId=job_id, filters=[{"name": "JOB_NAME", "values": ["*"]}])
    assert sorted(n["jobId"] for n in nodes["jobSummaryList"]) == [f"{job_id}#{i}" for i in range(3)]
    node1 = env.batch.describe_jobs([f"{job_id}#1"])[0]
    assert node1["nodeDetails"] == {"nodeIndex": 1, "isMainNode": False}
    assert env.batch.logs(node1["container"]["logStreamName"]) == ["1 3 0 127.0.0.1"]
    ce = next(c for c in env.batch.compute_environments() if c["name"] == "od-ce")
    assert ce["usedvCpus"] == 0


def test_parameters_are_substituted_and_batch_variables_set(env: Env, tmp_path: object) -> None:
    # GIVEN a definition with a Ref:: parameter default and an environment variable
    env.batch.register_job_definition(
        "params",
        container_properties={
            "image": "x",
            "command": [
                "sh",
                "-c",
                "echo Ref::greeting Ref::who; echo $COLOR $AWS_BATCH_JQ_NAME $AWS_BATCH_CE_NAME; pwd",
            ],
            "environment": [{"name": "COLOR", "value": "blue"}],
        },
        parameters={"greeting": "hello", "who": "nobody"},
    )
    # WHEN a job overrides one parameter and the variable
    job_id = env.submit(
        jobDefinition="params",
        parameters={"who": "world"},
        containerOverrides={"environment": [{"name": "COLOR", "value": "red"}]},
    )
    detail = env.batch.wait_for(job_id)

    # THEN the command saw the substituted parameters, the override and Batch's variables, in its own directory
    lines = env.batch.logs(detail["container"]["logStreamName"])
    assert lines[:2] == ["hello world", "red normal-spot spot-ce"]
    assert "/work/" in lines[2]
    assert detail["container"]["command"][2].startswith("echo hello world;")
    assert detail["parameters"] == {"greeting": "hello", "who": "world"}


def test_bad_submissions_are_client_errors(env: Env) -> None:
    # GIVEN / WHEN / THEN: unknown queue, unknown definition, bad array size are refused as AWS would
    with pytest.raises(BatchClientError, match="nope"):
        env.submit(jobQueue="nope")
    with pytest.raises(BatchClientError, match="missing"):
        env.submit(jobDefinition="missing")
    with pytest.raises(BatchClientError, match="Array"):
        env.submit(arrayProperties={"size": 1})


def test_stop_kills_every_process_it_started(env: Env) -> None:
    # GIVEN a running job whose shell spawned a long-lived child
    job_id = env.submit(["sh", "-c", "sleep 30 & echo $!; wait"])
    env.batch.wait_for(job_id, {"RUNNING"})
    stream = env.batch.describe_jobs([job_id])[0]["container"]["logStreamName"]
    deadline = time.monotonic() + 5
    while not env.batch.logs(stream) and time.monotonic() < deadline:
        time.sleep(0.01)
    child_pid = int(env.batch.logs(stream)[0])
    # WHEN the emulator stops
    env.batch.stop()
    # THEN the whole process group is gone
    deadline = time.monotonic() + 2
    while alive(child_pid):
        assert time.monotonic() < deadline, "the job's child survived stop()"
        time.sleep(0.01)


def test_a_submit_job_of_30_kib_or_more_is_refused_as_aws_refuses_it(env: Env) -> None:
    # GIVEN a SubmitJob whose request is about 40 KiB (AWS: "Job size must be less than 30 KiB, got 47 KiB")
    # WHEN it is submitted THEN Batch answers ClientException, and nothing was queued
    with pytest.raises(BatchClientError, match=r"^Job size must be less than 30 KiB, got 4\d KiB$"):
        env.submit(["echo", "x" * 40_000])
    assert env.batch.submitted() == []


@pytest.mark.parametrize(
    "overrides",
    [{"command": ["echo", "a\x00b"]}, {"command": ["true"], "environment": [{"name": "V", "value": "a\x00b"}]}],
    ids=["nul-in-command", "nul-in-environment"],
)
def test_a_job_that_cannot_be_started_fails_and_frees_its_vcpus(env: Env, overrides: dict[str, object]) -> None:
    # GIVEN a job holding all 4 vCPUs whose process cannot be spawned (the OS takes no NUL byte in argv or env)
    bad = env.submit(containerOverrides={**overrides, "resourceRequirements": [{"type": "VCPU", "value": "4"}]})
    # WHEN it is started THEN it FAILS with a reason instead of staying STARTING
    detail = env.batch.wait_for(bad, timeout=5)
    assert detail["status"] == "FAILED"
    assert detail["attempts"][-1]["container"]["reason"].startswith("CannotStartContainerError")
    # AND its vCPUs are free: the next job runs
    assert env.batch.wait_for(env.submit(jobName="next"), timeout=10)["status"] == "SUCCEEDED"


def test_a_command_that_does_not_exist_fails_to_start(env: Env) -> None:
    # GIVEN a command that is not on PATH (the fork server, which would start it, is told to)
    # WHEN it is submitted
    detail = env.batch.wait_for(env.submit(["no-such-command-here"]))

    # THEN it never ran: FAILED as a task that failed to start, with no RUNNING state
    assert detail["status"] == "FAILED"
    assert detail["statusReason"] == "Task failed to start"
    assert detail["container"]["reason"].startswith("CannotStartContainerError: ")
    assert "RUNNING" not in env.statuses(detail["jobId"])


def test_a_scheduling_pass_looks_only_at_jobs_that_have_not_ended(env: Env) -> None:
    # GIVEN two jobs and an array job of 5 children, run to their end
    ids = [env.submit(jobName=f"j{i}") for i in range(2)]
    parent = env.submit(["true"], jobName="array", arrayProperties={"size": 5})
    for job_id in [*ids, parent]:
        assert env.batch.wait_for(job_id, timeout=30)["status"] == "SUCCEEDED"
    state = env.batch._state
    # THEN Batch still knows all eight, and none of them is left where a scheduling pass looks
    with state.lock:
        assert {*ids, parent, *(f"{parent}:{i}" for i in range(5))} <= set(state.jobs)
        assert not {*ids, parent} & set(state.unended)
        assert not any(j.startswith(f"{parent}:") for j in state.unended)
    # AND a job waiting for capacity is where a pass looks, until it ends
    env.batch.set_capacity("spot-ce", 0)
    waiting = env.submit(["true"], jobName="waiting")
    deadline = time.monotonic() + 10
    while env.batch.describe_jobs([waiting])[0]["status"] != "RUNNABLE" and time.monotonic() < deadline:
        time.sleep(0.05)
    with state.lock:
        assert waiting in state.unended
    env.batch.set_capacity("spot-ce", 4)
    assert env.batch.wait_for(waiting, timeout=30)["status"] == "SUCCEEDED"
    with state.lock:
        assert waiting not in state.unended
