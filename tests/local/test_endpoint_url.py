"""`--endpoint-url`: the local pipeline on an S3/DynamoDB/SQS endpoint that someone already runs."""

from __future__ import annotations

from typing import Any

from local_api import Api, make_rows, render_csv, unique_symbol
from moto.server import ThreadedMotoServer

from local.pipeline import LocalPipeline


def test_pipeline_runs_against_an_existing_endpoint() -> None:
    # Given a moto server that the local pipeline did not start
    backend = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    backend.start()
    host, port = backend.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    pipeline = LocalPipeline.from_synthesized("dev", port=0, endpoint_url=endpoint)
    try:
        pipeline.start()
        api = Api(pipeline.url)
        symbol = unique_symbol("E")

        # When a file is uploaded through the local API
        created: dict[str, Any] = api.post(
            "/upload", json={"fileName": "e.csv", "fileType": "csv"}
        ).json()
        job_id = api.upload(render_csv(make_rows(symbol, 20)))
        job = api.wait(job_id)

        # Then the presigned POST points at that endpoint and the job completes there
        assert created["upload"]["url"].startswith(endpoint + "/")
        assert job["status"] == "COMPLETED"
        assert job["rows"]["accepted"] == 20
        assert pipeline.endpoint_url == endpoint
    finally:
        pipeline.stop()
        backend.stop()
