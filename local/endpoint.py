"""The one local AWS endpoint: DynamoDB to dynalite, Lambda Invoke to the local functions, every
other call to moto.

The handlers (``AWS_ENDPOINT_URL``), moto's Step Functions engine (``MOTO_PORT``) and a user's
``aws --endpoint-url`` all talk to this endpoint, so each of them sees one AWS: a state machine's
Lambda task reaches the template's functions, and a presigned URL signed for this endpoint is
served by moto behind it. Requests and responses are streamed through unchanged (method, raw
path and query, headers including ``Host``, status, body), so signatures and presigned URLs stay
valid; only hop-by-hop headers are the proxy's own.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import urllib3
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wsgi import get_input_stream

from local.dynalite import Dynalite
from local.motoserver import MotoServer

if TYPE_CHECKING:
    from local.enforcement import Enforcer

__all__ = ["AwsRouter", "LocalAws", "route_of"]

log = logging.getLogger("local.endpoint")

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]

_INVOKE_PATH = re.compile(r"/2015-03-31/functions/[^/]+/invocations/?")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    # The front already answered 100 Continue before reading the body it forwards.
    "expect",
}
_CHUNK = 64 * 1024


def route_of(environ: dict[str, Any]) -> str:
    """``dynamodb``, ``lambda`` (an Invoke) or ``moto`` for one request."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target.startswith("DynamoDB_20120810."):
        return "dynamodb"
    # A SigV4 credential scope is key/date/region/service/aws4_request.
    if "/dynamodb/aws4_request" in str(environ.get("HTTP_AUTHORIZATION", "")):
        return "dynamodb"
    if environ.get("REQUEST_METHOD") == "POST" and _INVOKE_PATH.fullmatch(
        str(environ.get("PATH_INFO", ""))
    ):
        return "lambda"
    return "moto"


class AwsRouter:
    """The WSGI application of the endpoint. The pipelines on it ``attach()`` their Lambda
    Invoke API (``lambda_app``: the newest attached serves Invoke; without one, Invoke goes to
    moto like any other call) and their ``enforcer`` (`local.enforcement`), which checks every
    request's signature and IAM policies before it is routed; without one, every call goes
    through unchecked. Several pipelines may share the endpoint (each its own template): a call
    is judged by the enforcer of the pipeline whose role signed it."""

    def __init__(self, *, dynamodb: str, moto: str) -> None:
        self.upstreams = {"dynamodb": dynamodb, "moto": moto}
        self._lambda_apps: list[WsgiApp] = []
        self.enforcers: list[Enforcer] = []
        # One pool per upstream, as many connections as the threaded front has requests.
        self._http = urllib3.PoolManager(num_pools=4, maxsize=64, block=False)

    def attach(
        self, *, lambda_app: WsgiApp | None = None, enforcer: Enforcer | None = None
    ) -> None:
        """Serve ``lambda_app`` (in front of any attached before) and enforce ``enforcer``'s
        template for its roles' calls, until ``detach()``."""
        if lambda_app is not None:
            self._lambda_apps.append(lambda_app)
        if enforcer is not None:
            self.enforcers.append(enforcer)

    def detach(
        self, *, lambda_app: WsgiApp | None = None, enforcer: Enforcer | None = None
    ) -> None:
        """Undo one ``attach()``: what was attached before serves again."""
        if lambda_app is not None and lambda_app in self._lambda_apps:
            self._lambda_apps.remove(lambda_app)
        if enforcer is not None and enforcer in self.enforcers:
            self.enforcers.remove(enforcer)

    def replace(self, enforcer: Enforcer, by: Enforcer) -> None:
        """``by`` judges the calls ``enforcer`` judged, in its place among the attached."""
        self.enforcers[self.enforcers.index(enforcer)] = by

    @property
    def lambda_app(self) -> WsgiApp | None:
        """The Invoke API that serves Invoke: the newest attached."""
        return self._lambda_apps[-1] if self._lambda_apps else None

    @lambda_app.setter
    def lambda_app(self, app: WsgiApp | None) -> None:
        """Only ``app`` (None: none), whatever was attached."""
        self._lambda_apps = [app] if app is not None else []

    @property
    def enforcer(self) -> Enforcer | None:
        """The newest attached enforcer."""
        return self.enforcers[-1] if self.enforcers else None

    @enforcer.setter
    def enforcer(self, enforcer: Enforcer | None) -> None:
        """Only ``enforcer`` (None: no checks), whatever was attached."""
        self.enforcers = [enforcer] if enforcer is not None else []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        enforcers = list(self.enforcers)
        if enforcers:
            # The newest decides, with the others' roles known to it: each role's calls are
            # judged by its own template's policies.
            denied = enforcers[-1].authorize(environ, peers=enforcers[-2::-1])
            if denied is not None:
                start_response(_status_line(denied.status), list(denied.headers))
                return [denied.body]
        route = route_of(environ)
        if route == "lambda":
            app = self.lambda_app
            if app is not None:
                return app(environ, start_response)
            route = "moto"
        return self._forward(self.upstreams[route], environ, start_response)

    def _forward(
        self, upstream: str, environ: dict[str, Any], start_response: Any
    ) -> Iterator[bytes]:
        headers = _request_headers(environ)
        body: Any = None
        chunked = False
        if "local.body" in environ:
            # The enforcer read (some of) the body: what it read, then the rest of the stream.
            body = environ["local.body"]
            chunked = not isinstance(body, bytes) and bool(environ.get("wsgi.input_terminated"))
            if isinstance(body, bytes):
                headers["Content-Length"] = str(len(body))
        elif environ.get("wsgi.input_terminated"):
            # The front has decoded a chunked body; it goes on chunked, of a length unknown.
            body, chunked = _chunks(environ["wsgi.input"]), True
        elif environ.get("CONTENT_LENGTH"):
            # Bounded by Content-Length: the raw socket would block past the body's end.
            body = get_input_stream(environ)
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]
        try:
            response = self._http.urlopen(
                environ["REQUEST_METHOD"],
                upstream + raw_path,
                body=body,
                headers=headers,
                chunked=chunked,
                preload_content=False,
                decode_content=False,
                redirect=False,
                retries=False,
                assert_same_host=False,
                timeout=urllib3.Timeout(connect=5.0, read=900.0),
            )
        except urllib3.exceptions.HTTPError as exc:
            log.warning(
                "%s %s: %s unreachable: %s", environ["REQUEST_METHOD"], raw_path, upstream, exc
            )
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return iter([f"local endpoint: {upstream} unreachable\n".encode()])
        start_response(
            f"{response.status} {response.reason or ''}".rstrip(),
            [(k, v) for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP],
        )
        return _relay(response)


def _status_line(status: int) -> str:
    reasons = {400: "Bad Request", 403: "Forbidden"}
    return f"{status} {reasons.get(status, 'Error')}"


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").title()
        else:
            continue
        if name.lower() not in _HOP_BY_HOP and value != "":
            headers[name] = str(value)
    return headers


def _chunks(stream: Any) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def _relay(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    try:
        yield from response.stream(_CHUNK, decode_content=False)
    finally:
        response.release_conn()


class LocalAws:
    """dynalite, a moto server and the endpoint in front of them: ``start()`` / ``stop()``.

    The endpoint's port is bound first, so that moto can be started with ``MOTO_PORT`` naming it.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, table_ms: int = 100) -> None:
        self._server: BaseWSGIServer | None = None
        self.url = ""
        self._thread: threading.Thread | None = None
        self._host, self._port, self._table_ms = host, port, table_ms
        self.dynalite: Dynalite | None = None
        self.moto: MotoServer | None = None
        self.router: AwsRouter | None = None

    def child_pids(self) -> list[int]:
        return [c.pid for c in (self.dynalite, self.moto) if c is not None]

    def start(self) -> LocalAws:
        try:
            self.begin()
            self.wait()
        except BaseException:
            self.stop()
            raise
        return self

    def begin(self) -> None:
        """Bind the endpoint and start the children, without waiting for them (``wait()``)."""
        # Every backend call would be logged (werkzeug, INFO), drowning the local run's own log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.router = AwsRouter(dynamodb="", moto="")
        self._server = make_server(self._host, self._port, self.router, threaded=True)
        self.url = f"http://{self._host}:{self._server.server_port}"
        self.dynalite = Dynalite(table_ms=self._table_ms)
        self.moto = MotoServer(callback_port=self._server.server_port)
        self.router.upstreams = {"dynamodb": self.dynalite.url, "moto": self.moto.url}

    def wait(self) -> None:
        assert self.dynalite is not None and self.moto is not None and self._server is not None
        self.dynalite.wait()
        self.moto.wait()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-aws", daemon=True
        )
        self._thread.start()

    def reset(self) -> None:
        """An empty account again: moto's backends reset, every dynalite table deleted."""
        assert self.dynalite is not None and self.moto is not None
        self.moto.reset()
        self.dynalite.delete_tables()

    def stop(self) -> None:
        """Stop the endpoint, then its children (idempotent)."""
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
            self._server.server_close()
            self._server = None
        for child in (self.moto, self.dynalite):
            if child is not None:
                child.stop()
        self.moto = self.dynalite = None

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
