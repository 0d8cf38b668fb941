"""Bad input and abuse over HTTP against the running local pipeline (R5, R25, R29).

Every case answers a 4xx in the error shape with a correlation id (body and header agree), and
none reaches a 5xx or shows a stack trace. `ABUSE_CASES` counts them (the closing note of
issue 10 quotes it).
"""

from __future__ import annotations

import hashlib
import json
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from local_api import Api, render_csv, sign, unique_symbol

from local.iam import Principal
from local.pipeline import LocalPipeline

JOB = str(uuid.uuid4())


def _assert_refused(
    status: int, body: bytes | str, headers: Any, *, expected: int | None = None, code: str = ""
) -> dict[str, Any]:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    assert 400 <= status < 500, (status, text[:500])
    if expected is not None:
        assert status == expected, (status, text[:500])
    assert "Traceback" not in text
    document = json.loads(text)
    assert set(document) == {"error", "correlationId"}
    assert set(document["error"]) == {"code", "message"}
    assert document["error"]["message"]
    if code:
        assert document["error"]["code"] == code, document
    assert headers["X-Correlation-Id"] == document["correlationId"]
    return dict(document)


def _refused(response: requests.Response, expected: int | None = None, code: str = "") -> Any:
    return _assert_refused(
        response.status_code, response.content, response.headers, expected=expected, code=code
    )


@pytest.fixture(scope="module")
def me(api: Api) -> Principal:
    assert api.principal is not None
    return api.principal


@pytest.fixture(scope="module")
def other(pipeline: LocalPipeline) -> Iterator[Api]:
    client = Api(pipeline.url, profile="local-other", credentials_file=pipeline.credentials_file)
    yield client
    client.session.close()


@pytest.fixture(scope="module")
def anonymous(pipeline: LocalPipeline) -> Iterator[Api]:
    client = Api(pipeline.url, profile=None)
    yield client
    client.session.close()


def _send(
    pipeline: LocalPipeline, method: str, target: str, headers: dict[str, str], body: bytes = b""
) -> requests.Response:
    """Send exactly these headers (already signed) to the pipeline."""
    request = requests.Request(method, pipeline.url + target, headers=headers, data=body)
    with requests.Session() as session:
        return session.send(request.prepare(), timeout=60)


def _signed(
    pipeline: LocalPipeline,
    principal: Principal,
    method: str,
    target: str,
    body: bytes = b"",
    **overrides: Any,
) -> dict[str, str]:
    headers = overrides.pop("headers", None) or (
        {"Content-Type": "application/json"} if body else {}
    )
    return sign(principal, method, pipeline.url + target, headers=headers, body=body, **overrides)


# Signatures (R29): each is API Gateway's 403 in the error shape, before any function runs.

UPLOAD = json.dumps({"fileName": "t.csv", "fileType": "csv"}).encode()


def _wrong_secret(p: Principal) -> Principal:
    return Principal(p.profile, p.access_key, p.secret_key + "x", None, p.arn, p.region)


def _unknown_key(p: Principal) -> Principal:
    return Principal(p.profile, "AKIAUNKNOWNLOCALKEY0", p.secret_key, None, p.arn, p.region)


def _tamper(headers: dict[str, str], **changes: str) -> dict[str, str]:
    return {**headers, **changes}


def _authorization(headers: dict[str, str], old: str, new: str) -> dict[str, str]:
    return {**headers, "Authorization": headers["Authorization"].replace(old, new)}


def _get(pl: LocalPipeline, p: Principal, target: str = "/results/A", **kw: Any) -> Any:
    return _signed(pl, p, "GET", target, **kw)


def _upload(pl: LocalPipeline, p: Principal, **kw: Any) -> Any:
    return _signed(pl, p, "POST", "/upload", UPLOAD, **kw)


def _minutes(n: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=n)


def _now_amz() -> str:
    return (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y%m%dT%H%M%SZ")


OTHER_BODY = UPLOAD.replace(b"t.csv", b"x.csv")
DECLARED = {
    "Content-Type": "application/json",
    "x-amz-content-sha256": hashlib.sha256(UPLOAD).hexdigest(),
}
BAD = "INVALID_SIGNATURE"
MISSING = "MISSING_AUTHENTICATION_TOKEN"
# name -> (pipeline, principal) -> (method, target sent, body sent, headers sent, code)
SIGNATURE_CASES: dict[str, Any] = {
    "wrong-secret": lambda pl, p: ("GET", "/results/A", b"", _get(pl, _wrong_secret(p)), BAD),
    "unknown-access-key": lambda pl, p: ("GET", "/results/A", b"", _get(pl, _unknown_key(p)), BAD),
    "tampered-body": lambda pl, p: ("POST", "/upload", OTHER_BODY, _upload(pl, p), BAD),
    "tampered-body-declared-hash": lambda pl, p: (
        "POST",
        "/upload",
        OTHER_BODY,
        _upload(pl, p, headers=DECLARED),
        BAD,
    ),
    "unsigned-payload-declared": lambda pl, p: (
        "POST",
        "/upload",
        UPLOAD,
        _tamper(_upload(pl, p), **{"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}),
        BAD,
    ),
    "tampered-query": lambda pl, p: (
        "GET",
        "/results/A?limit=6",
        b"",
        _get(pl, p, "/results/A?limit=5"),
        BAD,
    ),
    "tampered-path": lambda pl, p: ("GET", "/results/B", b"", _get(pl, p), BAD),
    "replayed-after-5-minutes": lambda pl, p: (
        "GET",
        "/results/A",
        b"",
        _get(pl, p, at=_minutes(-6)),
        BAD,
    ),
    "signed-10-minutes-ahead": lambda pl, p: (
        "GET",
        "/results/A",
        b"",
        _get(pl, p, at=_minutes(10)),
        BAD,
    ),
    "x-amz-date-moved-after-signing": lambda pl, p: (
        "GET",
        "/results/A",
        b"",
        _tamper(_get(pl, p), **{"X-Amz-Date": _now_amz()}),
        BAD,
    ),
    "wrong-region": lambda pl, p: ("GET", "/results/A", b"", _get(pl, p, region="us-west-2"), BAD),
    "wrong-service": lambda pl, p: (
        "GET",
        "/results/A",
        b"",
        _authorization(_get(pl, p), "/execute-api/", "/s3/"),
        BAD,
    ),
    "host-not-signed": lambda pl, p: (
        "GET",
        "/results/A",
        b"",
        _authorization(_get(pl, p), "SignedHeaders=host;", "SignedHeaders="),
        BAD,
    ),
    "bearer-token-instead": lambda pl, p: (
        "GET",
        "/results/A",
        b"",
        {"Authorization": "Bearer abc.def.ghi"},
        BAD,
    ),
    "no-signature-field": lambda pl, p: (
        "GET",
        "/results/A",
        b"",
        _authorization(_get(pl, p), "Signature=", "Sig="),
        BAD,
    ),
    "short-credential-scope": lambda pl, p: (
        "GET",
        "/results/A",
        b"",
        _authorization(_get(pl, p), "/aws4_request", ""),
        BAD,
    ),
    "malformed-x-amz-date": lambda pl, p: (
        "GET",
        "/results/A",
        b"",
        _tamper(_get(pl, p), **{"X-Amz-Date": "yesterday"}),
        BAD,
    ),
    "forged-session-token": lambda pl, p: (
        "GET",
        "/results/A",
        b"",
        _get(pl, Principal(p.profile, p.access_key, p.secret_key, "FORGED", p.arn, p.region)),
        BAD,
    ),
    "unsigned-upload": lambda pl, p: (
        "POST",
        "/upload",
        UPLOAD,
        {"Content-Type": "application/json"},
        MISSING,
    ),
    "unsigned-status": lambda pl, p: ("GET", f"/status/{JOB}", b"", {}, MISSING),
    "unsigned-results": lambda pl, p: ("GET", "/results/AAPL", b"", {}, MISSING),
}


@pytest.mark.parametrize("case", sorted(SIGNATURE_CASES))
def test_fails_r29_bad_or_missing_signature_is_a_403_before_any_function(
    pipeline: LocalPipeline, me: Principal, case: str
) -> None:
    # Given a request whose signature is missing or does not hold
    method, target, body, headers, code = SIGNATURE_CASES[case](pipeline, me)
    assert pipeline.lambdas is not None
    before = sum(pipeline.lambdas.invocations.values())

    # When it is sent
    response = _send(pipeline, method, target, headers, body)

    # Then API Gateway's 403 answers, in the error shape, and no function ran
    _refused(response, 403, code)
    assert sum(pipeline.lambdas.invocations.values()) == before


# Owners (R25), through the gateway's real signatures.


def test_fails_r25_another_principal_gets_the_unknown_job_404_and_never_the_report(
    api: Api, other: Api, anonymous: Api
) -> None:
    # Given a finished job of `local` with a rejection report
    symbol = unique_symbol("O")
    data = (
        render_csv([(symbol, "1", 1, "2024-01-01T00:00:00.000000Z")])
        + f"{symbol},x,1,2024-01-02\n".encode()
    )
    job_id = api.upload(data)
    mine = api.wait(job_id)
    assert "reportUrl" in mine

    # When `local-other` and an unsigned client ask for it, and for an unknown id
    theirs = other.get(f"/status/{job_id}")
    unknown = other.get(f"/status/{uuid.uuid4()}")
    unsigned = anonymous.get(f"/status/{job_id}")

    # Then the other principal gets exactly the unknown job's 404, with no report link
    a = _refused(theirs, 404, "JOB_NOT_FOUND")
    b = _refused(unknown, 404, "JOB_NOT_FOUND")
    assert a["error"] == b["error"]
    assert "reportUrl" not in theirs.text and "reports/" not in theirs.text
    # (the request ids differ per request by design; every other header is the same)
    assert _stable(theirs.headers) == _stable(unknown.headers)
    # And an unsigned request never reaches the function
    _refused(unsigned, 403, "MISSING_AUTHENTICATION_TOKEN")
    # And results stay shared market data
    assert other.get(f"/results/{symbol}").json()["count"] == 1


def _stable(headers: Any) -> dict[str, str]:
    varying = {"date", "x-correlation-id", "x-amzn-requestid"}
    return {k.lower(): v for k, v in headers.items() if k.lower() not in varying}


# Headers, path parameters and bodies, each signed by the local principal.

LONG = "A" * 5000
INPUT_CASES: dict[str, tuple[str, str, bytes, dict[str, str], int | None]] = {
    # name: (method, target, body, extra headers, expected status or None for any 4xx)
    "header-of-20-KiB": ("GET", "/results/AAPL", b"", {"X-Big": "x" * 20_000}, 413),
    "90-headers-of-200-bytes": (
        "GET",
        "/results/AAPL",
        b"",
        {f"X-H{i}": "y" * 200 for i in range(90)},
        413,
    ),
    "correlation-id-too-long": (
        "GET",
        "/status/not-a-job",
        b"",
        {"X-Correlation-Id": "c" * 300},
        400,
    ),
    "status-encoded-slash": ("GET", "/status/a%2Fb", b"", {}, 400),
    "status-encoded-traversal": ("GET", "/status/..%2F..%2Fetc%2Fpasswd", b"", {}, 400),
    "status-nul": ("GET", "/status/%00", b"", {}, 400),
    "status-uuid-then-nul": ("GET", f"/status/{JOB}%00", b"", {}, 400),
    "status-2000-chars": ("GET", "/status/" + "a" * 2000, b"", {}, 400),
    "status-invalid-percent": ("GET", "/status/%ZZ", b"", {}, 400),
    "status-overlong-utf8": ("GET", "/status/%C0%AF", b"", {}, 400),
    "results-encoded-slash": ("GET", "/results/A%2FB", b"", {}, 400),
    "results-nul": ("GET", "/results/AAPL%00", b"", {}, 400),
    "results-5000-chars": ("GET", "/results/" + LONG, b"", {}, 400),
    "results-url-over-10-KiB": ("GET", "/results/" + "B" * 11_000, b"", {}, 413),
    "results-limit-nul": ("GET", "/results/AAPL?limit=1%00", b"", {}, 400),
    "results-limit-huge": ("GET", "/results/AAPL?limit=" + "9" * 400, b"", {}, 400),
    "upload-nested-10000-arrays": (
        "POST",
        "/upload",
        ('{"x":' + "[" * 10_000 + "]" * 10_000 + "}").encode(),
        {},
        400,
    ),
    "upload-nested-10000-objects": (
        "POST",
        "/upload",
        ('{"x":' + '{"a":' * 10_000 + "}" * 10_000 + "}").encode(),
        {},
        400,
    ),
    "upload-not-json": ("POST", "/upload", b"{not json", {}, 400),
    "upload-invalid-utf8": (
        "POST",
        "/upload",
        b'{"fileName": "\xff\xfe", "fileType": "csv"}',
        {},
        400,
    ),
    "upload-nul-in-file-name": (
        "POST",
        "/upload",
        b'{"fileName": "a\\u0000.csv", "fileType": "csv"}',
        {},
        400,
    ),
    "upload-file-name-of-10000": (
        "POST",
        "/upload",
        json.dumps({"fileName": "n" * 10_000, "fileType": "csv"}).encode(),
        {},
        400,
    ),
    "upload-over-10-MiB": (
        "POST",
        "/upload",
        b'{"fileName": "' + b"a" * (10 * 1024 * 1024) + b'"}',
        {},
        413,
    ),
}


@pytest.mark.parametrize("case", sorted(INPUT_CASES))
def test_fails_r5_bad_input_is_a_4xx_in_the_error_shape(
    pipeline: LocalPipeline, me: Principal, case: str
) -> None:
    # Given a signed request with hostile headers, path parameters or body
    method, target, body, extra, expected = INPUT_CASES[case]
    headers = {"Content-Type": "application/json", **extra} if body else dict(extra)
    signed = sign(me, method, pipeline.url + target, headers=headers, body=body)

    # When it is sent
    response = _send(pipeline, method, target, signed, body)

    # Then the answer is a 4xx in the error shape, never a 5xx or a trace
    _refused(response, expected)


def _raw(pipeline: LocalPipeline, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Bytes no HTTP library would send, and the answer (the server closes after it)."""
    address = urlsplit(pipeline.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(data)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def _http(line: str, *headers: bytes, body: bytes = b"") -> bytes:
    return b"\r\n".join([line.encode(), b"Host: h", *headers, b"Connection: close", b""]) + (
        b"\r\n" + body
    )


RAW_CASES = {
    "header-value-with-control-bytes": _http(
        "GET /results/AAPL HTTP/1.1", b"X-Correlation-Id: a\x01\x7fb"
    ),
    "header-value-not-utf8": _http("GET /results/AAPL HTTP/1.1", b"X-Name: \xff\xfe\xc0"),
    "authorization-not-utf8": _http(
        "GET /results/AAPL HTTP/1.1", b"Authorization: AWS4-HMAC-SHA256 Credential=\xff/"
    ),
    "header-without-colon": _http("GET /results/AAPL HTTP/1.1", b"NoColonHere"),
    "content-length-not-a-number": _http(
        "POST /upload HTTP/1.1",
        b"Content-Type: application/json",
        b"Content-Length: abc",
        body=b"{}",
    ),
    "nul-in-request-target": _http("GET /status/%00%00 HTTP/1.1"),
}


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_fails_r5_malformed_http_is_a_4xx_in_the_error_shape(
    pipeline: LocalPipeline, case: str
) -> None:
    # When bytes that break HTTP or header rules arrive (unsigned, as such clients are)
    status, headers, body = _raw(pipeline, RAW_CASES[case])
    # Then the gateway still answers a 4xx in the error shape
    _assert_refused(status, body, headers)


ABUSE_CASES = len(SIGNATURE_CASES) + len(INPUT_CASES) + len(RAW_CASES) + 3
"""Every case above, the owner test's three refused requests included (other, unknown, unsigned)."""
