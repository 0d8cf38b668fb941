"""`bench.runner processor` reports a speed only for a run that processed the whole file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from bench import generate, runner
from bench.backends import REGION, moto_server
from bench.runner import IncompleteRunError, Measurement, check_complete

ROOT = Path(__file__).resolve().parents[2]
_KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}


def _measurement(status: str, rows: dict[str, int]) -> Measurement:
    detail = {"jobId": "j", "rows": rows, "errors": []}
    return Measurement("processor", "f.csv", rows.get("total", 0), 0.01, 0.01, 50.0, status, detail)


@pytest.mark.parametrize(
    ("status", "rows"),
    [
        ("?", {}),  # the processor found no job
        ("PROCESSING", {"total": 0, "accepted": 0, "rejected": 0, "duplicates": 0}),
        ("FAILED", {"total": 10, "accepted": 4, "rejected": 0, "duplicates": 0}),
    ],
)
def test_fails_run_without_a_final_job_or_with_rows_unaccounted_for(status, rows):
    with pytest.raises(IncompleteRunError):
        check_complete(_measurement(status, rows))


def test_complete_run_is_a_measurement():
    rows = {"total": 10, "accepted": 7, "rejected": 2, "duplicates": 1}
    check_complete(_measurement("COMPLETED_WITH_ERRORS", rows))


def test_fails_processor_command_that_stored_nothing_exits_1_and_prints_no_speed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run in which the processor found no job and stored nothing (the `make bench-file`
    # run that printed rows/s: 441863)
    monkeypatch.setattr(runner, "_run_processor", lambda path, args, *_: _measurement("?", {}))
    file = tmp_path / "f.csv"
    file.write_text("symbol,price,volume,timestamp\n")
    # When the processor command runs (it sets the processor's environment: restored after)
    saved = dict(os.environ)
    try:
        with pytest.raises(SystemExit) as exited:
            runner.main(["processor", str(file), "--no-create"])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    # Then it exits non-zero and prints no speed
    out = capsys.readouterr()
    assert exited.value.code == 1
    assert "rows/s" not in out.out
    assert "rows_per_second" not in out.out
    assert "not a measurement" in out.err


# `make bench-file FILE=... S3=... DDB=...`: the job event goes to a given endpoint or nowhere.

_AWS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE")


def _bench_file(
    file: Path, moto: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command `make bench-file` runs, in a clean environment with no AWS settings."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_ENDPOINT_URL", "BUCKET_", "JOBS_", "RESULTS_"))
        and k not in _AWS_VARIABLES
    }
    clean.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
        **(env or {}),
    )
    command = [sys.executable, "-m", "bench.runner", "processor", str(file)]
    return subprocess.run(
        [*command, "--s3", moto, "--ddb", moto, *extra],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "trades.csv"
    generate.generate(path, rows=50, symbols=3, bad_share=0.0, seed=3)
    return path


def test_fails_bench_file_against_given_endpoints_completes_without_reaching_aws(
    moto: str, small_csv: Path
) -> None:
    # Given S3 and DynamoDB endpoints and no EventBridge endpoint (`make bench-file` with S3 and
    # DDB only), which used to send the job event to AWS and fail the run on it
    # When the processor runs on the file
    done = _bench_file(small_csv, moto)
    # Then the run completes and reports a speed; the job event was answered in-process
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("rows/s: ")
    measured = json.loads(lines[-2])
    assert measured["status"] == "COMPLETED"
    assert measured["detail"]["jobEvents"] == {"published": 1, "endpoint": None}


def test_bench_file_sends_the_job_event_to_a_given_eventbridge_endpoint(
    moto: str, small_csv: Path
) -> None:
    # Given moto's EventBridge, with a rule that forwards the pipeline's events to a queue
    sqs = boto3.client("sqs", endpoint_url=moto, region_name=REGION, **_KEYS)
    events = boto3.client("events", endpoint_url=moto, region_name=REGION, **_KEYS)
    queue = sqs.create_queue(QueueName=f"bench-events-{os.getpid()}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="bench-jobs", EventPattern=json.dumps({"source": ["financial-pipeline"]}))
    events.put_targets(Rule="bench-jobs", Targets=[{"Id": "queue", "Arn": arn}])
    # When bench-file runs with that endpoint (make: EVENTS=url)
    done = _bench_file(small_csv, moto, "--events", moto)
    # Then the job's one event went there
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-2])
    assert measured["detail"]["jobEvents"] == {"published": 1, "endpoint": moto}
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    assert [json.loads(m["Body"])["detail"]["jobId"] for m in received] == [
        measured["detail"]["jobId"]
    ]


def test_fails_run_whose_job_event_was_not_published_is_no_measurement() -> None:
    # Given a final job with every row accounted for but no job event published
    rows = {"total": 10, "accepted": 10, "rejected": 0, "duplicates": 0}
    result = _measurement("COMPLETED", rows)
    assert result.detail is not None
    result.detail["jobEvents"] = {"published": 0, "endpoint": None}
    # Then it is not a measurement
    with pytest.raises(IncompleteRunError, match="job events"):
        check_complete(result)


def test_make_bench_file_passes_the_eventbridge_endpoint_on() -> None:
    # Given EVENTS on the make command line / When make says what it would run
    done = subprocess.run(
        [
            "make",
            "-n",
            "bench-file",
            "FILE=t.csv",
            "S3=http://s3",
            "DDB=http://ddb",
            "EVENTS=http://ev",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # Then the runner gets all three endpoints
    [line] = [line for line in done.stdout.splitlines() if "bench.runner" in line]
    assert "--s3 http://s3 --ddb http://ddb --events http://ev" in line
