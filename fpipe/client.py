"""HTTP client of the pipeline API, every request signed with SigV4 (service ``execute-api``).

Credentials: for a deployed API (``*.execute-api.<region>.amazonaws.com``) the standard AWS
chain, in the URL's region. For any other URL (the local pipeline) the local principals file
``.local/credentials`` found in the current directory or a parent, profile ``--profile``, else
``$AWS_PROFILE`` when the file has it, else ``local``, in the region the file names; no
credentials of the standard chain can be valid there. ``AWS_SHARED_CREDENTIALS_FILE`` set
explicitly, or no local file, means the standard chain for local URLs too.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests

if TYPE_CHECKING:
    import botocore.session
    from botocore.credentials import Credentials

API_URL_ENV = "FPIPE_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:8000"
LOCAL_CREDENTIALS = Path(".local") / "credentials"
LOCAL_PROFILE = "local"
_AWS_API_HOST = re.compile(
    r"^[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$"
)
_CHUNK = 64 * 1024

Progress = Callable[[int, int], None]


class ApiError(Exception):
    """An error answer of the API, in the SPEC error shape when it has one."""

    def __init__(self, status: int, code: str, message: str, correlation_id: str | None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.correlation_id = correlation_id


def api_url_of(api_url: str | None) -> str:
    """``api_url``, else ``$FPIPE_API_URL``, else the local pipeline's URL; no trailing slash."""
    return (api_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")


def aws_region(api_url: str) -> str | None:
    """The region of an API Gateway URL, or ``None`` when the URL is not an AWS one."""
    host = urlsplit(api_url).hostname or ""
    found = _AWS_API_HOST.match(host)
    return found.group("region") if found else None


class SigV4Auth(requests.auth.AuthBase):
    """Signs each request for API Gateway (service ``execute-api``) with botocore's signer."""

    def __init__(self, credentials: Credentials, region: str) -> None:
        self.credentials = credentials
        self.region = region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth as BotoSigV4Auth  # noqa: PLC0415
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415

        body = request.body if request.body is not None else b""
        if isinstance(body, str):
            body = body.encode()
        url = urlsplit(str(request.url))
        aws_request = AWSRequest(
            method=request.method,
            url=urlunsplit((url.scheme, url.netloc, url.path, "", "")),
            data=body,
            headers=dict(request.headers),
        )
        # SigV4's canonical query (decoded, then encoded and sorted by its rules) whatever
        # encoding the URL used ("+" or "%20"), as the verifying side computes it.
        aws_request.params = parse_qsl(url.query, keep_blank_values=True)  # type: ignore[assignment]
        BotoSigV4Auth(
            self.credentials.get_frozen_credentials(), "execute-api", self.region
        ).add_auth(aws_request)
        request.headers.update(dict(aws_request.headers.items()))
        return request


class CredentialsError(RuntimeError):
    """No usable credentials for signing (an unknown profile, none in the chain)."""


def find_local_credentials(start: Path | None = None) -> Path | None:
    """``.local/credentials`` in ``start`` (default: the current directory) or a parent."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / LOCAL_CREDENTIALS
        if candidate.is_file():
            return candidate
    return None


def _profiles(path: Path) -> list[str]:
    parser = configparser.RawConfigParser()
    parser.read(path, encoding="utf-8")
    return parser.sections()


def signer_for(api_url: str, profile: str | None = None) -> SigV4Auth | None:
    """The signer of requests to ``api_url``; None when no credentials are found for a local
    URL (the API then answers 403)."""
    import botocore.session  # noqa: PLC0415 - botocore is slow to import
    from botocore.exceptions import BotoCoreError  # noqa: PLC0415

    try:
        return _signer_for(api_url, profile, botocore.session.Session)
    except BotoCoreError as exc:
        raise CredentialsError(str(exc)) from None


def _signer_for(
    api_url: str, profile: str | None, new_session: type[botocore.session.Session]
) -> SigV4Auth | None:
    region = aws_region(api_url)
    session = new_session(profile=profile)
    if region is None and "AWS_SHARED_CREDENTIALS_FILE" not in os.environ:
        local_file = find_local_credentials()
        if local_file is not None:
            names = _profiles(local_file)
            # --profile must exist where it is looked for; AWS_PROFILE may name one of the
            # shell's own profiles, so the local default stands in for it.
            if profile is not None:
                name = profile
            else:
                name = os.environ.get("AWS_PROFILE") or LOCAL_PROFILE
                name = name if name in names else LOCAL_PROFILE
            if name in names:
                # An explicit profile in a session of its own: neither the environment's keys
                # nor ~/.aws/config can stand in for the local principal.
                session = new_session(profile=name)
                session.set_config_variable("credentials_file", str(local_file))
                session.set_config_variable("config_file", os.devnull)
    credentials = session.get_credentials()
    if credentials is None:
        if region is not None:
            raise CredentialsError("no AWS credentials found for signing (IAM-protected API)")
        return None
    return SigV4Auth(credentials, region or session.get_config_variable("region") or "us-east-1")


class _MultipartBody:
    """A multipart/form-data body read in chunks: the file is never held in memory, and every
    chunk read reports progress."""

    def __init__(self, fields: dict[str, str], file: Path, progress: Progress | None) -> None:
        self.boundary = f"fpipe-{os.urandom(12).hex()}"
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
            for name, value in fields.items()
        )
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{quote(file.name)}"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        self._parts: list[bytes | Path] = [head, file, f"\r\n--{self.boundary}--\r\n".encode()]
        self.file_size = file.stat().st_size
        self.length = len(head) + self.file_size + len(self._parts[2])  # type: ignore[arg-type]
        self._progress = progress

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for part in self._parts:
            if isinstance(part, bytes):
                yield part
                continue
            with part.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    sent += len(chunk)
                    yield chunk
                    if self._progress:
                        self._progress(sent, self.file_size)
        if self._progress and self.file_size == 0:
            self._progress(0, 0)


class Client:
    def __init__(
        self, api_url: str | None = None, *, timeout: float = 30.0, profile: str | None = None
    ) -> None:
        self.api_url = api_url_of(api_url)
        self.timeout = timeout
        self.session = requests.Session()
        self._auth = signer_for(self.api_url, profile)

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(
            method, self.api_url + path, auth=self._auth, timeout=self.timeout, **kwargs
        )
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                raise ApiError(
                    response.status_code,
                    str(error.get("code", "ERROR")),
                    str(error.get("message", "")),
                    body.get("correlationId") or response.headers.get("X-Correlation-Id"),
                )
            message = (
                body.get("message", response.text) if isinstance(body, dict) else response.text
            )
            raise ApiError(
                response.status_code,
                "HTTP_ERROR",
                str(message)[:500],
                response.headers.get("X-Correlation-Id"),
            )
        if not isinstance(body, dict):
            raise ApiError(response.status_code, "BAD_RESPONSE", "not a JSON object", None)
        return body

    def create_upload(
        self,
        file_name: str,
        content_length: int | None = None,
        *,
        sha256: str | None = None,
        expected_rows: int | None = None,
    ) -> dict[str, Any]:
        """POST /upload; ``sha256`` and ``expected_rows`` are what the pipeline checks the
        file against (R28)."""
        payload: dict[str, Any] = {"fileName": file_name, "fileType": "csv"}
        if content_length:
            payload["contentLength"] = content_length
        if sha256 is not None:
            payload["sha256"] = sha256
        if expected_rows is not None:
            payload["expectedRows"] = expected_rows
        return self._request("POST", "/upload", json=payload)

    def send_file(
        self, upload: dict[str, Any], file: Path, progress: Progress | None = None
    ) -> None:
        """POST the file to the presigned URL: every field first, the file last (unsigned: the
        presigned fields carry the authorization)."""
        body = _MultipartBody(dict(upload["fields"]), file, progress)
        response = requests.post(
            upload["url"],
            data=_Sized(body),
            headers={"Content-Type": body.content_type, "Content-Length": str(body.length)},
            timeout=max(self.timeout, 300),
        )
        if response.status_code >= 300:
            raise ApiError(response.status_code, "UPLOAD_FAILED", response.text[:500], None)

    def status(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/status/{quote(job_id, safe='')}")

    def results(
        self,
        symbol: str,
        *,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        order: str | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        params = {
            key: value
            for key, value in (
                ("startTime", start),
                ("endTime", end),
                ("limit", str(limit) if limit is not None else None),
                ("order", order),
                ("nextToken", next_token),
            )
            if value is not None
        }
        # Encoded here as SigV4 encodes (%20, never "+"), so the URL is its canonical form.
        query = urlencode(params, quote_via=quote)
        path = f"/results/{quote(symbol, safe='')}" + (f"?{query}" if query else "")
        return self._request("GET", path)

    def all_results(self, symbol: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page, following ``nextToken`` until the last page."""
        token = None
        while True:
            page = self.results(symbol, next_token=token, **kwargs)
            yield page
            token = page.get("nextToken")
            if not token:
                return


class _Sized:
    """An iterable body with a length, so requests sends Content-Length instead of chunking
    (S3 rejects chunked POST uploads)."""

    def __init__(self, body: _MultipartBody) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def __len__(self) -> int:
        return self._body.length
