"""The pipeline end to end, run locally: HTTP API, presigned POST, S3 event, processor."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import requests
from local_api import Api, make_rows, render_csv, unique_symbol

from local.pipeline import LocalPipeline


def test_r1_r2_r3_r9_every_uploaded_row_reads_back_exactly_through_paginated_results(
    api: Api,
) -> None:
    # Given a generated file of 1,250 rows for one symbol
    symbol = unique_symbol()
    rows = make_rows(symbol, 1250)

    # When it is uploaded through POST /upload and the presigned POST
    job_id = api.upload(render_csv(rows))
    job = api.wait(job_id)

    # Then the job completes with every row accepted
    assert job["status"] == "COMPLETED"
    assert job["rows"] == {"total": 1250, "accepted": 1250, "rejected": 0, "duplicates": 0}
    # And paginated /results returns every row, time-ordered, with exact values
    items, pages = api.all_rows(symbol, limit=300)
    assert pages == 5
    assert [
        (i["symbol"], Decimal(str(i["price"])), int(i["volume"]), i["timestamp"]) for i in items
    ] == rows


def test_r2_bad_rows_are_counted_and_reported(api: Api) -> None:
    # Given a file with two good rows, a negative price, a bad timestamp and a short row
    symbol = unique_symbol()
    content = (
        b"symbol,price,volume,timestamp\n"
        + f"{symbol},10.5,1,2024-03-01T10:00:00Z\n".encode()
        + f"{symbol},-3,1,2024-03-01T10:00:01Z\n".encode()
        + f"{symbol},11,2,not-a-time\n".encode()
        + f"{symbol},12\n".encode()
        + f"{symbol},10.75,4,2024-03-01T10:00:02Z\n".encode()
    )

    # When it is uploaded and processed
    job = api.wait(api.upload(content))

    # Then the counts add up and only the good rows are stored
    assert job["status"] == "COMPLETED_WITH_ERRORS"
    assert job["rows"] == {"total": 5, "accepted": 2, "rejected": 3, "duplicates": 0}
    items, _ = api.all_rows(symbol, limit=100)
    assert [Decimal(str(i["price"])) for i in items] == [Decimal("10.5"), Decimal("10.75")]
    # And the report, fetched over the presigned GET, names each rejected line and its reason
    report = requests.get(job["reportUrl"], timeout=30)
    assert report.status_code == 200
    lines = list(csv.DictReader(io.StringIO(report.text)))
    assert [(r["line"], r["reason"]) for r in lines] == [
        ("3", "PRICE_NOT_POSITIVE"),
        ("4", "INVALID_TIMESTAMP"),
        ("5", "TOO_FEW_CELLS"),
    ]


def test_r9_s3_event_delivered_twice_changes_nothing(pipeline: LocalPipeline, api: Api) -> None:
    # Given an emulator that delivers every S3 event twice (S3 promises at least once)
    symbol = unique_symbol()
    rows = make_rows(symbol, 300)
    processor = pipeline.functions[pipeline.notifications[0].function_logical_id]
    assert pipeline.lambdas is not None
    before = pipeline.lambdas.invocations[processor.logical_id]
    pipeline.duplicate_s3_events = True
    try:
        # When a file is uploaded and both deliveries have run
        job_id = api.upload(render_csv(rows))
        api.wait(job_id)
        assert pipeline.lambdas.wait_idle(60)
    finally:
        pipeline.duplicate_s3_events = False

    # Then the processor ran twice, and the job and the stored rows are those of one run
    assert pipeline.lambdas.invocations[processor.logical_id] - before == 2
    job = api.wait(job_id)
    assert job["status"] == "COMPLETED"
    assert job["rows"] == {"total": 300, "accepted": 300, "rejected": 0, "duplicates": 0}
    items, _ = api.all_rows(symbol, limit=1000)
    assert len(items) == 300
    assert [i["timestamp"] for i in items] == [r[3] for r in rows]
