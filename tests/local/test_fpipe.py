"""The `fpipe` command-line client against the local pipeline, and its AWS signing."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from local_api import make_rows, render_csv, unique_symbol

from fpipe.cli import main
from fpipe.client import Client, SigV4Auth, aws_region
from fpipe.output import ProgressBar, table
from local.pipeline import LocalPipeline


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_r1_r2_upload_wait_then_results_all_follows_every_page(
    pipeline: LocalPipeline, tmp_path: Path
) -> None:
    # Given a CSV file of 450 rows
    symbol = unique_symbol("F")
    rows = make_rows(symbol, 450)
    file = tmp_path / "trades.csv"
    file.write_bytes(render_csv(rows))

    # When it is uploaded with --wait, then read back with --all in pages of 100
    code, out, err = _run("--api", pipeline.url, "--json", "upload", str(file), "--wait")
    job = json.loads(out)
    code_results, out_results, _ = _run(
        "--api", pipeline.url, "--json", "results", symbol, "--limit", "100", "--all"
    )

    # Then the job completed, both bars were drawn, and every row came back exactly
    assert code == 0, err
    assert job["status"] == "COMPLETED"
    assert job["rows"]["accepted"] == 450
    assert "upload  [" in err
    assert "process [" in err
    assert code_results == 0
    document = json.loads(out_results)
    assert document["count"] == 450
    assert "nextToken" not in document
    got = [
        (i["symbol"], Decimal(str(i["price"])), int(i["volume"]), i["timestamp"])
        for i in document["items"]
    ]
    assert got == rows


def test_status_and_results_print_tables(pipeline: LocalPipeline, tmp_path: Path) -> None:
    # Given a processed upload
    symbol = unique_symbol("G")
    file = tmp_path / "t.csv"
    file.write_bytes(render_csv(make_rows(symbol, 3)))
    _, job_id, _ = _run("--api", pipeline.url, "--json", "upload", str(file), "--wait")
    job_id = json.loads(job_id)["jobId"]

    # When status and the first page of results are printed as tables
    status_code, status_out, _ = _run("--api", pipeline.url, "status", job_id)
    results_code, results_out, err = _run("--api", pipeline.url, "results", symbol, "--limit", "2")

    # Then the tables show the job and the page, and the next page is pointed at
    assert status_code == 0
    assert f"jobId            {job_id}" in status_out
    assert "status           COMPLETED" in status_out
    assert results_code == 0
    lines = results_out.splitlines()
    assert lines[0].split() == ["symbol", "timestamp", "price", "volume"]
    assert [line.split()[0] for line in lines[2:]] == [symbol, symbol]
    assert "more rows" in err


def test_fails_r5_api_error_prints_code_and_correlation_id(pipeline: LocalPipeline) -> None:
    # When the status of a malformed job id is asked
    code, _, err = _run("--api", pipeline.url, "status", "not-a-job")

    # Then the command fails with the API's error and its correlation id
    assert code == 1
    assert "400" in err
    assert "correlation id" in err


def test_fails_upload_of_a_missing_file(pipeline: LocalPipeline, tmp_path: Path) -> None:
    # When a file that does not exist is uploaded
    code, _, err = _run("--api", pipeline.url, "upload", str(tmp_path / "none.csv"))

    # Then nothing is sent and the command says why
    assert code == 2
    assert "no such file" in err


def test_region_is_parsed_from_aws_api_urls_only() -> None:
    # Then execute-api URLs give their region and any other URL gives none (no signing)
    assert aws_region("https://abc123.execute-api.eu-west-1.amazonaws.com/v1") == "eu-west-1"
    assert aws_region("http://127.0.0.1:8000") is None
    assert aws_region("https://api.example.com/v1") is None


def test_deployed_api_requests_are_signed_with_sigv4(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given credentials in the standard chain
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = Client("https://abc123.execute-api.eu-west-1.amazonaws.com/v1")

    # When a request is prepared with the client's authentication
    request = requests.Request("GET", client.api_url + "/status/x", auth=client._auth).prepare()

    # Then it carries a SigV4 signature for execute-api in the URL's region
    assert isinstance(client._auth, SigV4Auth)
    authorization = request.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "X-Amz-Date" in request.headers


def test_r29_local_api_requests_are_signed_as_the_local_principal(
    pipeline: LocalPipeline,
) -> None:
    # Given the pipeline's principals file (fpipe finds .local/credentials from the checkout)
    expected = pipeline.credentials.principal("local").access_key

    # When a client of the local URL is made
    client = Client(pipeline.url)

    # Then it signs with the local principal's key, in the template's region
    assert isinstance(client._auth, SigV4Auth)
    assert client._auth.credentials.access_key == expected
    assert client._auth.region == pipeline.template.region


def test_fails_r25_status_of_a_job_of_another_profile_is_the_unknown_job(
    pipeline: LocalPipeline, tmp_path: Path
) -> None:
    # Given a job uploaded by the default local principal
    file = tmp_path / "t.csv"
    file.write_bytes(render_csv(make_rows(unique_symbol("P"), 2)))
    _, out, _ = _run("--api", pipeline.url, "--json", "upload", str(file))
    job_id = json.loads(out)["jobId"]

    # When local-other asks for it
    code, _, err = _run("--api", pipeline.url, "--profile", "local-other", "status", job_id)

    # Then it is told the job does not exist
    assert code == 1
    assert "404 JOB_NOT_FOUND" in err


def test_table_and_progress_bar_render_plain_text() -> None:
    # Given a non-terminal stream
    stream = io.StringIO()
    bar = ProgressBar("upload", stream, unit="bytes")

    # When the bar advances to half and finishes, and a table is rendered
    bar.update(512, 1024)
    bar.finish()
    text = table(("a", "bb"), [("1", "2"), ("333", "4")])

    # Then one final line is printed, and columns are aligned
    assert stream.getvalue() == "upload  [" + "#" * 15 + "." * 15 + "]  50% 512 B/1.0 KiB\n"
    assert text.splitlines() == ["a    bb", "---  --", "1    2", "333  4"]


def test_fails_unreachable_api_says_how_to_start_the_local_pipeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given FPIPE_API_URL naming a port where nothing listens
    monkeypatch.setenv("FPIPE_API_URL", "http://127.0.0.1:9")

    # When a status is asked without --api
    code, _, err = _run("status", "x")

    # Then the command fails and names the URL and `make run`
    assert code == 1
    assert "http://127.0.0.1:9" in err
    assert "make run" in err
