"""A plain HTTP client of the local API, unique symbols and (from `bench.generate`) CSV files,
for the local-pipeline tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests

from bench.generate import make_rows, render_csv
from runtime.contract import FINAL_STATUSES

__all__ = ["Api", "handler", "make_rows", "render_csv", "unique_symbol"]


class Api:
    """Plain HTTP calls to the local API, as any client makes them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url + path, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url + path, timeout=30, **kwargs)

    def upload(self, content: bytes, file_name: str = "trades.csv") -> str:
        created = self.post("/upload", json={"fileName": file_name, "fileType": "csv"})
        assert created.status_code == 201, created.text
        body = created.json()
        form = requests.post(
            body["upload"]["url"],
            data=body["upload"]["fields"],
            files={"file": (file_name, content, "text/csv")},
            timeout=60,
        )
        assert form.status_code in (200, 201, 204), form.text
        return str(body["jobId"])

    def wait(self, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/status/{job_id}")
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            if job["status"] in FINAL_STATUSES:
                return job
            assert time.monotonic() < deadline, f"job still {job['status']}"
            time.sleep(0.2)

    def all_rows(self, symbol: str, limit: int) -> tuple[list[dict[str, Any]], int]:
        rows: list[dict[str, Any]] = []
        pages, token = 0, None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if token:
                params["nextToken"] = token
            response = self.get(f"/results/{symbol}", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            pages += 1
            rows.extend(page["items"])
            token = page.get("nextToken")
            if not token:
                return rows, pages


def handler(function: str) -> str:
    """The template's ``Handler`` of ``function`` (upload, status, results, processor, sweeper)."""
    return f"runtime.handlers.{function}.handler"


def unique_symbol(prefix: str = "T") -> str:
    """Symbols are unique per test: the in-process backend outlives one module's pipeline."""
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"
