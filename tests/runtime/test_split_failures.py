"""The split path when its execution does not end well (issue 16, items 4-7): a failure after the
first write says rows may be stored, with the counts known; the report merge needs no disk and
bounded memory; an execution that times out, is aborted or fails fails its job at once; a file
whose hottest symbol cannot be written in time is refused before any write."""

from __future__ import annotations

import errno
import io
import json
import tempfile
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import split_support
from runtime_support import NAMES
from split_support import (
    Recorder,
    delete_items,
    execution_input,
    finish,
    new_job,
    outcome,
    run_partitions,
    run_parts,
    run_single,
    settings_for,
    stored,
)

from runtime import clients
from runtime.dal import objects
from runtime.dal.jobs import JobStore
from runtime.logic.split.rows import fragment_line

STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:test-split"


def rows_file(
    symbols: list[str], rows: int, *, reject_every: int = 0, repeat_every: int = 0
) -> bytes:
    """`rows` rows over `symbols`; every `reject_every`-th row has a bad price; every
    `repeat_every`-th key is repeated at the end, identically and with another price."""
    lines = ["symbol,price,volume,timestamp"]
    keys = []
    for i in range(rows):
        symbol = symbols[i % len(symbols)]
        stamp = f"2024-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        price = "x1" if reject_every and i % reject_every == 0 else f"{1 + i % 7}.5"
        lines.append(f"{symbol},{price},{i},{stamp}")
        if price != "x1":
            keys.append((symbol, price, i, stamp))
    if repeat_every:
        for symbol, price, volume, stamp in keys[::repeat_every]:
            lines.append(f"{symbol},{price},{volume},{stamp}")
            lines.append(f"{symbol},999,{volume},{stamp}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def aws(aws_endpoint):
    return clients.s3(), clients.dynamodb()


def _start(aws, data, *, part_bytes=300, max_keys=40):
    s3, dynamodb = aws
    settings = settings_for(split=True, part_bytes=part_bytes, max_keys=max_keys)
    recorder = Recorder()
    job_id, ref = new_job(s3, dynamodb, data)
    answer = split_support.processor(settings, s3, dynamodb, recorder).handle(ref)
    assert answer["outcome"] == "split"
    return settings, job_id, execution_input(recorder, job_id)


def _manifest(s3, job_input, name):
    return objects.ObjectStore(s3, NAMES.bucket).get_json(job_input[name])


def _run_partition(settings, s3, dynamodb, job_input, index):
    item = _manifest(s3, job_input, "partitionsKey")[index]
    event = {"jobId": job_input["jobId"], "bucket": job_input["bucket"], "partition": item}
    return split_support.run_partition(event, settings, s3, dynamodb)


def _job(dynamodb, job_id):
    return JobStore(dynamodb, NAMES.jobs_table).get(job_id)


def _codes(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["code"] for entry in entries]


# Item 4: a failure after the first write


@pytest.mark.parametrize(
    ("failure", "stage"),
    [
        # What AWS hands the Catch of a Distributed Map whose child failed
        (
            {
                "Error": "States.ExceedToleratedFailureThreshold",
                "Cause": "The specified tolerated failure threshold was exceeded",
            },
            "WritePartitions",
        ),
        # A Lambda timeout / throttling: no partition named anywhere
        ({"Error": "States.Timeout", "Cause": ""}, "WritePartitions"),
        ({"Error": "Lambda.TooManyRequestsException", "Cause": "Rate exceeded"}, None),
    ],
    ids=["exceed-tolerated-failures", "timeout", "throttled-no-stage"],
)
def test_fails_r23_a_failure_after_the_first_write_says_rows_may_be_stored_with_known_counts(
    aws, symbol, failure, stage
):
    # Given a split file whose parts all ran and whose first partition wrote its rows
    s3, dynamodb = aws
    data = rows_file([symbol, symbol + "B"], 120, reject_every=10)
    settings, job_id, job_input = _start(aws, data)
    partitions = _manifest(s3, job_input, "partitionsKey")
    assert len(partitions) > 1
    parts = len(_manifest(s3, job_input, "partsKey"))
    run_parts(settings, s3, dynamodb, job_input, list(range(parts)))
    written = _run_partition(settings, s3, dynamodb, job_input, 0)
    assert written["accepted"] > 0

    # When the map fails as AWS reports it (the catch's payload names the map when it can)
    extra: dict[str, Any] = {"outcome": "FAILED", "failure": failure}
    if stage is not None:
        extra["stage"] = stage
    finish(settings, s3, dynamodb, job_input, **extra)

    # Then the job is FAILED, says rows may be stored, and counts what is known stored
    job = _job(dynamodb, job_id)
    assert job.status == "FAILED"
    assert _codes(job.errors) == ["PART_FAILED"]
    assert failure["Error"] in job.errors[0]["message"]
    if stage == "WritePartitions":
        # Step Functions named no partition: those without a summary are named
        missing = ", ".join(str(i) for i in range(1, len(partitions)))
        assert (
            f"a partition (partitions without a summary: {missing}) failed"
            in (job.errors[0]["message"])
        )
    assert "ROWS_MAY_BE_STORED" in _codes(job.warnings)
    in_table = stored(dynamodb, [symbol, symbol + "B"])
    assert job.rows["accepted"] == written["accepted"] == len(in_table)
    assert job.rows["rejected"] == 12  # every part ran: its rejections are known
    assert job.rows["total"] == job.rows["accepted"] + job.rows["rejected"] + job.rows["duplicates"]


def test_r23_a_finish_that_fails_after_every_write_counts_every_stored_row(aws, symbol):
    # Given a split file whose partitions all wrote, and whose Finish then failed (a timeout)
    s3, dynamodb = aws
    data = rows_file([symbol], 120, reject_every=10)
    settings, job_id, job_input = _start(aws, data)
    parts = len(_manifest(s3, job_input, "partsKey"))
    run_parts(settings, s3, dynamodb, job_input, list(range(parts)))
    run_partitions(settings, s3, dynamodb, job_input)
    failure = {"Error": "Sandbox.Timedout", "Cause": "Task timed out after 300.00 seconds"}

    # When FailJob runs for the Finish stage
    finish(settings, s3, dynamodb, job_input, outcome="FAILED", failure=failure, stage="Finish")

    # Then the job counts every stored row and says so
    job = _job(dynamodb, job_id)
    assert "the finish step failed: Sandbox.Timedout" in job.errors[0]["message"]
    assert "ROWS_MAY_BE_STORED" in _codes(job.warnings)
    assert job.rows == {"total": 120, "accepted": 108, "rejected": 12, "duplicates": 0}
    assert len(stored(dynamodb, [symbol])) == 108


def test_r23_a_failure_before_any_write_stores_and_counts_nothing(aws, symbol):
    # Given a split file whose ParseParts map failed as AWS reports it
    s3, dynamodb = aws
    settings, job_id, job_input = _start(aws, rows_file([symbol], 60))
    failure = {
        "Error": "States.ExceedToleratedFailureThreshold",
        "Cause": "The specified tolerated failure threshold was exceeded",
    }

    # When FailJob runs
    finish(settings, s3, dynamodb, job_input, outcome="FAILED", failure=failure, stage="ParseParts")

    # Then the job is FAILED with no rows and no warning that rows may be stored
    job = _job(dynamodb, job_id)
    assert job.status == "FAILED"
    assert "a part failed" in job.errors[0]["message"]
    assert job.rows == {"total": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
    assert "ROWS_MAY_BE_STORED" not in _codes(job.warnings)
    assert stored(dynamodb, [symbol]) == []


# Item 5: the report merge streams


def _no_disk(monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device (a test's /tmp budget of 0)")

    for name in (
        "TemporaryDirectory",
        "mkdtemp",
        "mkstemp",
        "NamedTemporaryFile",
        "TemporaryFile",
        "SpooledTemporaryFile",
    ):
        monkeypatch.setattr(tempfile, name, full)


def test_fails_r23_the_report_merge_needs_no_disk_and_matches_the_single_pass(
    aws, symbol, monkeypatch
):
    # Given a file with rejections in every part and conflicting repeats (one fragment per part
    # and per partition), processed by the single pass first
    s3, dynamodb = aws
    data = rows_file([symbol, symbol + "X"], 1500, reject_every=3, repeat_every=7)
    single = outcome(s3, dynamodb, run_single(s3, dynamodb, data), [symbol, symbol + "X"])
    delete_items(dynamodb, single["items"])

    # When it is split, with no byte of /tmp to spare
    _no_disk(monkeypatch)
    job_id, answer = split_support.run_split(s3, dynamodb, data, part_bytes=2048, max_keys=300)

    # Then the report is the single pass's, byte for byte, and so is everything else
    split = outcome(s3, dynamodb, job_id, [symbol, symbol + "X"])
    assert answer["parts_total"] > 10
    assert single["status"] == "COMPLETED_WITH_ERRORS"
    assert split["report"] == single["report"]
    assert split == single


class _Sink:
    """A report writer that keeps nothing but the order and count of what it was given."""

    def __init__(self) -> None:
        self.rows = 0
        self.last = 0
        self.closed = False
        self.odd: list[str] = []

    def add(self, line: int, reason: str, cells: list[str]) -> None:
        assert line > self.last
        self.last = line
        self.rows += 1
        if "\u2028" in cells[1]:
            self.odd.append(cells[1])

    def close(self) -> str | None:
        self.closed = True
        return "reports/x.csv"

    def abort(self) -> None:
        raise AssertionError("the merge failed")


class _RangedS3:
    """Objects in memory, served as S3 serves a ranged GetObject (206, `ContentRange`), so that
    the merge's own memory is what is measured (the local endpoint runs in this process)."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies
        self.gets = 0

    def get_object(self, *, Bucket: str, Key: str, Range: str) -> dict[str, Any]:
        self.gets += 1
        body = self.bodies[Key]
        first, last = (int(n) for n in Range.removeprefix("bytes=").split("-"))
        data = body[first : last + 1]
        end = first + len(data) - 1
        return {"Body": io.BytesIO(data), "ContentRange": f"bytes {first}-{end}/{len(body)}"}


def test_r23_the_report_merge_holds_two_blocks_per_fragment(monkeypatch):
    # Given 200 fragments of ~100 KB each (20 MB), their lines interleaved across fragments,
    # one line longer than a block, and a cell with U+2028 (not a line end)
    from runtime.logic.split.finish import merge_fragments

    fragments, per_fragment = 200, 1000
    bodies = {}
    for number in range(fragments):
        cells = [["S", "x" * 60, "1", "t"] for _ in range(per_fragment)]
        if number == 7:
            cells[3] = ["S", "y" * 40_000, "1", "t"]
            cells[4] = ["S", "a\u2028b\u0085c", "1", "t"]
        bodies[f"split/x/{number:06d}.jsonl"] = "".join(
            fragment_line(2 + number + i * fragments, "INVALID_PRICE", cells[i])
            for i in range(per_fragment)
        ).encode()
    total = sum(map(len, bodies.values()))
    s3 = _RangedS3(bodies)
    _no_disk(monkeypatch)

    # When they are merged with a 16 KiB block per fragment
    sink = _Sink()
    tracemalloc.start()
    try:
        merge_fragments(s3, NAMES.bucket, list(bodies), sink, block_bytes=16 * 1024)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then every line came out, in line order, and the merge held two blocks per fragment
    # (plus its bookkeeping), far less than the fragments
    assert sink.rows == fragments * per_fragment and sink.closed
    assert sink.odd == ["a\u2028b\u0085c"]
    bound = fragments * 2 * 16 * 1024
    assert total > 20_000_000
    assert peak < bound * 1.5 < total / 2, (peak, bound, total)
    assert s3.gets >= total // (16 * 1024)


def test_r23_the_merge_block_follows_the_fragment_count():
    from runtime.logic.split.finish import MERGE_BUFFER_BYTES, merge_block_bytes

    # A few fragments read 1 MiB at a time; 640 parts' worth share the buffer budget
    assert merge_block_bytes(3) == 1024 * 1024
    assert 2 * 700 * merge_block_bytes(700) <= MERGE_BUFFER_BYTES
    assert merge_block_bytes(100_000) == 64 * 1024


# Item 6: executions that time out, are aborted or fail


def _status_event(job_input: dict[str, Any] | None, status: str, name: str, **detail: Any):
    arn = f"{STATE_MACHINE.replace(':stateMachine:', ':execution:')}:{name}"
    return {
        "version": "0",
        "id": "6b2b0a1e-0000-4000-8000-000000000000",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2024-01-02T10:00:00Z",
        "region": "eu-west-1",
        "resources": [arn],
        "detail": {
            "executionArn": arn,
            "stateMachineArn": STATE_MACHINE,
            "name": name,
            "status": status,
            "startDate": 1704189600000,
            "stopDate": 1704232800000,
            "input": json.dumps(job_input) if job_input is not None else None,
            "output": None,
            "inputDetails": {"included": job_input is not None},
            "outputDetails": None,
            "error": detail.get("error"),
            "cause": detail.get("cause"),
        },
    }


def _ended(settings, s3, dynamodb, event):
    from runtime.logic.split.steps import run_execution_ended

    return run_execution_ended(event, settings, s3, dynamodb, clients.events())


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("TIMED_OUT", "EXECUTION_TIMED_OUT"),
        ("ABORTED", "EXECUTION_ABORTED"),
        ("FAILED", "EXECUTION_FAILED"),
    ],
)
def test_fails_r23_an_execution_that_ends_without_finishing_fails_its_job_once(
    aws, job_events, symbol, status, code
):
    # Given a running split job whose parts ran and whose first partition wrote its rows
    s3, dynamodb = aws
    settings, job_id, job_input = _start(aws, rows_file([symbol], 120))
    parts = len(_manifest(s3, job_input, "partsKey"))
    run_parts(settings, s3, dynamodb, job_input, list(range(parts)))
    written = _run_partition(settings, s3, dynamodb, job_input, 0)
    event = _status_event(
        job_input, status, job_id, error="States.Timeout" if status == "FAILED" else None
    )

    # When Step Functions' status change arrives, twice (EventBridge delivers at least once)
    first = _ended(settings, s3, dynamodb, event)
    again = _ended(settings, s3, dynamodb, event)

    # Then the job is FAILED with a reason naming the execution, the known counts, and one event
    job = _job(dynamodb, job_id)
    assert (first["outcome"], again["outcome"]) == ("failed", "duplicate")
    assert job.status == "FAILED"
    assert _codes(job.errors) == [code]
    assert event["detail"]["executionArn"] in job.errors[0]["message"]
    assert "ROWS_MAY_BE_STORED" in _codes(job.warnings)
    assert job.rows["accepted"] == written["accepted"] > 0
    events = job_events.events(job_id)
    assert [(e["detail-type"], e["detail"]["status"]) for e in events] == [("Job Failed", "FAILED")]
    # And the split objects stay for a redrive
    assert s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=objects.split_prefix(job_id))["KeyCount"]


def test_r23_an_execution_event_without_its_input_fails_the_job_it_names(aws, symbol):
    # Given a running split job and a status change whose input was left out (over 248 KB)
    s3, dynamodb = aws
    settings, job_id, _ = _start(aws, rows_file([symbol], 60))

    # When it arrives
    _ended(settings, s3, dynamodb, _status_event(None, "ABORTED", job_id))

    # Then the job the execution is named after is failed, with no rows written
    job = _job(dynamodb, job_id)
    assert _codes(job.errors) == ["EXECUTION_ABORTED"]
    assert job.rows["accepted"] == 0
    assert "ROWS_MAY_BE_STORED" not in _codes(job.warnings)


def test_r23_an_execution_event_never_overrides_what_the_execution_finished(
    aws, job_events, symbol
):
    # Given a job that FailJob already failed (its event published), and a completed one
    s3, dynamodb = aws
    settings, failed_id, failed_input = _start(aws, rows_file([symbol], 60))
    failure = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "threshold"}
    finish(
        settings, s3, dynamodb, failed_input, outcome="FAILED", failure=failure, stage="ParseParts"
    )
    before = _job(dynamodb, failed_id)
    job_id, _ = split_support.run_split(s3, dynamodb, rows_file([symbol + "C"], 60), part_bytes=300)
    completed = _job(dynamodb, job_id)
    done_input = {**failed_input, "jobId": job_id, "etag": completed.etag}

    # When the executions' FAILED / ABORTED status changes arrive
    failed_answer = _ended(settings, s3, dynamodb, _status_event(failed_input, "FAILED", failed_id))
    done_answer = _ended(settings, s3, dynamodb, _status_event(done_input, "ABORTED", job_id))

    # Then both jobs keep what their execution recorded, and each published one event
    assert (failed_answer["outcome"], done_answer["outcome"]) == ("duplicate", "duplicate")
    assert _job(dynamodb, failed_id).errors == before.errors
    assert _job(dynamodb, job_id).status == completed.status == "COMPLETED"
    assert len(job_events.events(failed_id)) == 1
    assert len(job_events.events(job_id)) == 1


def test_r23_an_execution_of_another_attempt_leaves_the_job_alone(aws, symbol):
    # Given a running split job, and a status change of an execution with another ETag
    s3, dynamodb = aws
    settings, job_id, job_input = _start(aws, rows_file([symbol], 60))
    other = {**job_input, "etag": "0" * 32}

    # When it arrives / Then the job stays PROCESSING
    answer = _ended(settings, s3, dynamodb, _status_event(other, "TIMED_OUT", job_id))
    assert answer["outcome"] == "superseded"
    assert _job(dynamodb, job_id).status == "PROCESSING"


# Item 7: a symbol too hot to write in time


def _check(settings, s3, dynamodb, job_input, *, remaining: float):
    from runtime.logic.split.finish import FINISH_RESERVE_SECONDS
    from runtime.logic.split.steps import run_check_keys

    started = datetime.now(UTC) - timedelta(seconds=60)
    event = {
        **{k: job_input[k] for k in ("jobId", "bucket", "key", "etag", "attempt")},
        "step": "CheckKeys",
        "startedAt": started.isoformat().replace("+00:00", "Z"),
        "timeoutSeconds": 60 + FINISH_RESERVE_SECONDS + remaining,
    }
    return run_check_keys(event, settings, s3, dynamodb, clients.events())


def test_fails_r23_a_symbol_too_hot_to_write_in_time_fails_the_job_before_any_write(
    aws, job_events, symbol
):
    # Given a one-symbol file of 3,000 rows (3 s at 1,000 writes/s per key), parsed, with 2 s
    # of the execution left
    s3, dynamodb = aws
    settings, job_id, job_input = _start(aws, rows_file([symbol], 3000), part_bytes=20_000)
    parts = len(_manifest(s3, job_input, "partsKey"))
    run_parts(settings, s3, dynamodb, job_input, list(range(parts)))

    # When the write budget is checked
    answer = _check(settings, s3, dynamodb, job_input, remaining=2)

    # Then nothing is written: the job is FAILED with a named code, no rows, one event
    job = _job(dynamodb, job_id)
    assert answer["write"] is False
    assert job.status == "FAILED"
    assert _codes(job.errors) == ["PARTITION_KEY_TOO_HOT"]
    assert symbol in job.errors[0]["message"] and "3000 rows" in job.errors[0]["message"]
    assert job.rows["accepted"] == 0
    assert stored(dynamodb, [symbol]) == []
    assert [e["detail"]["status"] for e in job_events.events(job_id)] == ["FAILED"]
    # And the file is archived, split/ cleaned up (nothing can redrive it)
    assert s3.head_object(Bucket=NAMES.bucket, Key=objects.processed_key(job_id))
    assert not s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=objects.split_prefix(job_id))[
        "KeyCount"
    ]


def test_r23_symbols_that_fit_the_write_budget_are_written(aws, symbol):
    # Given 3,000 rows over 10 symbols (0.3 s per symbol) with 2 s left
    s3, dynamodb = aws
    symbols = [f"{symbol}{i}" for i in range(10)]
    data = rows_file(symbols, 3000)
    settings, job_id, job_input = _start(aws, data, part_bytes=20_000, max_keys=5000)
    parts = len(_manifest(s3, job_input, "partsKey"))
    run_parts(settings, s3, dynamodb, job_input, list(range(parts)))

    # When the budget is checked, then the rest runs
    answer = _check(settings, s3, dynamodb, job_input, remaining=2)
    run_partitions(settings, s3, dynamodb, job_input)
    finish(settings, s3, dynamodb, job_input)

    # Then it writes, and the job completes
    assert answer["write"] is True
    assert _job(dynamodb, job_id).status == "COMPLETED"
