"""The whole pipeline on one machine, brought up from a synthesized template."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import unquote_plus

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from financial_pipeline.openapi import build_document
from local.apimodel import api_from_template
from local.backend import Clients, Notification, provision
from local.cfn import DEFAULT_REGION, Template
from local.gateway import ApiGateway
from local.lambdas import FunctionSpec, LambdaService, functions_from_template

log = logging.getLogger("local.stack")

# The handlers run in this process: these variables point their boto3 clients at the local
# endpoints and switch off what needs AWS (the X-Ray daemon).
_LOCAL_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_XRAY_SDK_ENABLED": "false",
}

_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")


def schedule_seconds(expression: str) -> float | None:
    """Period of an EventBridge ``rate(...)`` expression; ``None`` for cron, run every minute."""
    found = _RATE.fullmatch(expression.strip())
    if found is None:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[found.group(2).rstrip("s")]
    return int(found.group(1)) * float(unit)


@dataclass(frozen=True)
class Schedule:
    function_logical_id: str
    expression: str
    period_seconds: float
    rule_arn: str
    payload: dict[str, Any] | None


def schedules_from_template(template: Template) -> list[Schedule]:
    found = []
    for rule in template.of_type("AWS::Events::Rule"):
        props = rule.properties
        expression = props.get("ScheduleExpression")
        if not expression or props.get("State") == "DISABLED":
            continue
        for target in props.get("Targets") or []:
            for ref in template.find_refs(target.get("Arn")):
                if template.resource(ref).type != "AWS::Lambda::Function":
                    continue
                payload = json.loads(target["Input"]) if "Input" in target else None
                found.append(
                    Schedule(
                        function_logical_id=ref,
                        expression=str(expression),
                        period_seconds=schedule_seconds(str(expression)) or 60.0,
                        rule_arn=template.arn(rule.logical_id),
                        payload=payload,
                    )
                )
    return found


class LocalStack:
    """Moto backend, Lambda runtime, S3 notification poller, schedules and the API front.

    ``endpoint_url`` uses a running S3/DynamoDB/SQS endpoint instead of starting moto.
    ``duplicate_s3_events`` delivers every S3 event twice (S3 promises at-least-once).
    ``environment`` overrides function environment variables (e.g. the log level).
    """

    def __init__(
        self,
        template_body: dict[str, Any],
        *,
        stack_name: str = "local",
        host: str = "127.0.0.1",
        port: int = 8000,
        endpoint_url: str | None = None,
        region: str | None = None,
        duplicate_s3_events: bool = False,
        schedule_period_seconds: float | None = None,
        retry_delays: tuple[float, ...] = (1.0, 2.0),
        environment: dict[str, str] | None = None,
    ) -> None:
        self.template = Template(
            template_body, stack_name=stack_name, region=region or DEFAULT_REGION
        )
        self.host = host
        self.port = port
        self.endpoint_url = endpoint_url
        self.duplicate_s3_events = duplicate_s3_events
        self.schedule_period_seconds = schedule_period_seconds
        self.retry_delays = retry_delays
        self.extra_environment = dict(environment or {})
        self.functions: dict[str, FunctionSpec] = {}
        self.lambdas: LambdaService | None = None
        self.gateway: ApiGateway | None = None
        self.notifications: list[Notification] = []
        self.s3_events_delivered = 0
        self._moto: Any = None
        self._servers: list[BaseWSGIServer] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._stopped = False
        self._saved_env: dict[str, str] | None = None
        self._saved_modules: dict[str, ModuleType] = {}
        self._clients: Clients | None = None

    # Lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def clients(self) -> Clients:
        assert self._clients is not None, "start() first"
        return self._clients

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self.endpoint_url is None:
            from moto.server import ThreadedMotoServer  # noqa: PLC0415 - not with --endpoint-url

            # Its per-request log (werkzeug, INFO) would drown the gateway's own access log.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._moto.start()
            moto_host, moto_port = self._moto.get_host_and_port()
            self.endpoint_url = f"http://{moto_host}:{moto_port}"
        self.template.sqs_endpoint = self.endpoint_url
        self._clients = Clients(self.endpoint_url, self.template.region)
        # Provisioning first: queue URLs in the functions' environment are the backend's own.
        self.notifications = provision(self.template, self._clients)
        self.functions = functions_from_template(self.template)
        lambda_api = self._serve(self._lambda_api, "127.0.0.1", 0)
        lambda_url = f"http://127.0.0.1:{lambda_api.server_port}"
        self._set_environment(lambda_url)
        self._fresh_runtime_modules()
        self.lambdas = LambdaService(
            self.functions,
            send_to_queue=self._send_to_queue,
            retry_delays=self.retry_delays,
        )
        self.lambdas.preload()
        self.lambdas.start()
        for notification in self.notifications:
            self._thread(self._poll_s3_events, f"s3-events-{notification.bucket}", notification)
        for schedule in schedules_from_template(self.template):
            self._thread(self._run_schedule, f"schedule-{schedule.function_logical_id}", schedule)
        self.gateway = ApiGateway(
            api_from_template(self.template),
            self._invoke_by_arn,
            openapi=build_document,
        )
        front = self._serve(self.gateway, self.host, self.port)
        self.port = front.server_port

    def _send_to_queue(self, queue_url: str, body: str) -> None:
        self.clients.sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    def stop(self) -> None:
        """Stop everything and give the process its environment and modules back (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        if self.lambdas is not None:
            self.lambdas.stop()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._restore_runtime_modules()
        if self._saved_env is not None:
            os.environ.clear()
            os.environ.update(self._saved_env)
            self._saved_env = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        while not self._stop.wait(0.5):
            pass

    # Environment and module isolation

    def _set_environment(self, lambda_url: str) -> None:
        self._saved_env = dict(os.environ)
        assert self.endpoint_url is not None
        merged: dict[str, str] = {}
        for spec in self.functions.values():
            for key, value in spec.environment.items():
                if key in merged and merged[key] != value:
                    log.warning("%s differs between functions; using %r", key, merged[key])
                merged.setdefault(key, value)
        # A service-specific endpoint left in the shell would win over AWS_ENDPOINT_URL.
        for key in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")]:
            del os.environ[key]
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(merged)
        os.environ.update(_LOCAL_ENVIRONMENT)
        os.environ["AWS_DEFAULT_REGION"] = self.template.region
        os.environ["AWS_REGION"] = self.template.region
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint_url
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = lambda_url
        os.environ.update(self.extra_environment)

    def _fresh_runtime_modules(self) -> None:
        """Import the handlers anew, as a new Lambda container would: module-level settings and
        clients must see this stack's environment, not one cached by an earlier import."""
        packages = {spec.handler.split(".", 1)[0] for spec in self.functions.values()}
        for name in list(sys.modules):
            if name.split(".", 1)[0] in packages:
                self._saved_modules[name] = sys.modules.pop(name)

    def _restore_runtime_modules(self) -> None:
        if not self._saved_modules:
            return
        packages = {name.split(".", 1)[0] for name in self._saved_modules}
        for name in list(sys.modules):
            if name.split(".", 1)[0] in packages:
                del sys.modules[name]
        sys.modules.update(self._saved_modules)
        self._saved_modules = {}

    # Threads and servers

    def _thread(self, target: Any, name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, name=name, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _serve(self, app: Any, host: str, port: int) -> BaseWSGIServer:
        server = make_server(host, port, app, threaded=True)
        self._servers.append(server)
        thread = threading.Thread(target=server.serve_forever, name=f"http-{port}", daemon=True)
        thread.start()
        return server

    # Event sources

    def _invoke_by_arn(self, arn: str, event: dict[str, Any]) -> Any:
        assert self.lambdas is not None
        spec = self._spec_in(arn)
        return self.lambdas.invoke_sync(spec, event)

    def _spec_in(self, text: str) -> FunctionSpec:
        """The function whose ARN appears in an integration URI."""
        for spec in self.functions.values():
            if spec.arn in text:
                return spec
        raise LookupError(f"no function of the template in {text!r}")

    def _poll_s3_events(self, notification: Notification) -> None:
        assert self.lambdas is not None
        sqs = self.clients.sqs
        spec = self.functions[notification.function_logical_id]
        queue_url = sqs.get_queue_url(QueueName=notification.queue_name)["QueueUrl"]
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("S3 event poll failed")
                time.sleep(0.5)
                continue
            for message in messages:
                event = json.loads(message.get("Body", "{}"))
                # Lambda targets of S3 never receive the s3:TestEvent that queues receive.
                if event.get("Event") != "s3:TestEvent" and self._wanted(notification, event):
                    copies = 2 if self.duplicate_s3_events else 1
                    for _ in range(copies):
                        self.lambdas.invoke_async(spec, event)
                        self.s3_events_delivered += 1
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    @staticmethod
    def _wanted(notification: Notification, event: dict[str, Any]) -> bool:
        records = event.get("Records") or []
        return any(
            notification.matches(unquote_plus(record["s3"]["object"]["key"])) for record in records
        )

    def _run_schedule(self, schedule: Schedule) -> None:
        assert self.lambdas is not None
        spec = self.functions[schedule.function_logical_id]
        period = self.schedule_period_seconds or schedule.period_seconds
        while not self._stop.wait(period):
            event = schedule.payload or {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": self.template.account_id,
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self.template.region,
                "resources": [schedule.rule_arn],
                "detail": {},
            }
            self.lambdas.invoke_async(spec, event)

    def _lambda_api(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The Lambda Invoke API, so handlers that invoke a function (the sweeper's re-drive)
        reach the local runtime through their ordinary boto3 client."""
        request = Request(environ)
        response = self._lambda_invoke(request)
        return response(environ, start_response)

    def _lambda_invoke(self, request: Request) -> Response:
        assert self.lambdas is not None
        found = re.fullmatch(r"/2015-03-31/functions/([^/]+)/invocations", request.path)
        if request.method != "POST" or found is None:
            return _lambda_error(404, "ResourceNotFoundException", "unknown operation")
        try:
            spec = self.lambdas.lookup(found.group(1))
        except KeyError:
            return _lambda_error(404, "ResourceNotFoundException", f"{found.group(1)} not found")
        raw = request.get_data()
        event = json.loads(raw) if raw else {}
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return Response(b"", 204)
        if invocation_type == "Event":
            self.lambdas.invoke_async(spec, event)
            return Response(b"", 202)
        try:
            result = self.lambdas.invoke_sync(spec, event)
        except Exception as exc:
            payload = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            return Response(json.dumps(payload), 200, {"X-Amz-Function-Error": "Unhandled"})
        return Response(json.dumps(result), 200, {"Content-Type": "application/json"})


def _lambda_error(status: int, error_type: str, message: str) -> Response:
    return Response(
        json.dumps({"Type": "User", "message": message}),
        status,
        {"x-amzn-ErrorType": error_type, "Content-Type": "application/json"},
    )


@contextmanager
def running(template_body: dict[str, Any], **kwargs: Any) -> Iterator[LocalStack]:
    stack = LocalStack(template_body, **kwargs)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
