"""A SigV4-signing HTTP client of the local API, unique symbols and (from `bench.generate`) CSV
files, for the local-pipeline tests."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import requests
from botocore.credentials import Credentials

from bench.generate import make_rows, render_csv
from fpipe.client import SigV4Auth
from local.iam import DEFAULT_CREDENTIALS_FILE, DEFAULT_PROFILE, LocalCredentials, Principal
from runtime.contract import FINAL_STATUSES

__all__ = ["Api", "handler", "make_rows", "render_csv", "sign", "signer", "unique_symbol"]


def signer(principal: Principal, region: str | None = None) -> SigV4Auth:
    """A requests auth that signs as ``principal`` (the dev stack's API uses IAM)."""
    credentials = Credentials(principal.access_key, principal.secret_key, principal.session_token)
    return SigV4Auth(credentials, region or principal.region)


def sign(
    principal: Principal,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    at: datetime | None = None,
    region: str | None = None,
) -> dict[str, str]:
    """The headers of ``method url`` signed as ``principal``, at ``at`` (default now)."""
    prepared = requests.Request(method, url, headers=headers or {}, data=body).prepare()
    auth = signer(principal, region)
    if at is None:
        auth(prepared)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=at):
            auth(prepared)
    return dict(prepared.headers)


class Api:
    """HTTP calls to the local API as any client makes them: signed as one local principal
    (``profile`` of the credentials file the pipeline serves), or unsigned."""

    def __init__(
        self,
        url: str,
        *,
        profile: str | None = DEFAULT_PROFILE,
        credentials_file: Path = DEFAULT_CREDENTIALS_FILE,
    ) -> None:
        self.url = url
        self.session = requests.Session()
        self.principal: Principal | None = None
        if profile is not None:
            self.principal = LocalCredentials(credentials_file).principal(profile)
            self.session.auth = signer(self.principal)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url + path, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url + path, timeout=30, **kwargs)

    def create(self, file_name: str = "trades.csv") -> dict[str, Any]:
        created = self.post("/upload", json={"fileName": file_name, "fileType": "csv"})
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        return body

    def upload(self, content: bytes, file_name: str = "trades.csv") -> str:
        body = self.create(file_name)
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
