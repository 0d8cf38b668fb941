"""The whole pipeline on one machine, brought up from a synthesized template.

`LocalPipeline` composes the parts, each in its own module: the storage backend
(`local.backend`), the functions (`local.lambdas`) with the process isolation they need
(`local.isolation`), their event sources (`local.events`), the Lambda Invoke API
(`local.invoke_api`) and the API Gateway front (`local.gateway`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypedDict, Unpack

from werkzeug.serving import BaseWSGIServer, make_server

from financial_pipeline.openapi import build_document
from local.apimodel import api_from_template
from local.backend import Clients, Notification, provision
from local.cfn import DEFAULT_REGION, Template
from local.events import S3EventPoller, ScheduleRunner, schedules_from_template
from local.gateway import ApiGateway
from local.invoke_api import LambdaInvokeApi
from local.isolation import RuntimeIsolation
from local.lambdas import FunctionSpec, LambdaService, functions_from_template
from local.synth import synthesize, synthesize_cached

__all__ = ["LocalPipeline", "PipelineOptions"]


class PipelineOptions(TypedDict, total=False):
    """The keyword arguments of `LocalPipeline` besides the template's name and region."""

    host: str
    port: int
    endpoint_url: str | None
    duplicate_s3_events: bool
    schedule_period_seconds: float | None
    retry_delays: tuple[float, ...]
    function_environment: dict[str, str] | None


class LocalPipeline:
    """Moto backend, Lambda runtime, S3 notification poller, schedules and the API front.

    ``endpoint_url`` uses a running S3/DynamoDB/SQS endpoint instead of starting moto.
    ``duplicate_s3_events`` delivers every S3 event twice (S3 promises at-least-once).
    ``function_environment`` overrides the functions' environment variables (e.g. the log
    level).
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
        function_environment: dict[str, str] | None = None,
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
        self.function_environment = dict(function_environment or {})
        self.functions: dict[str, FunctionSpec] = {}
        self.lambdas: LambdaService | None = None
        self.gateway: ApiGateway | None = None
        self.notifications: list[Notification] = []
        self._moto: Any = None
        self._servers: list[BaseWSGIServer] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._stopped = False
        self._isolation = RuntimeIsolation()
        self._clients: Clients | None = None

    @classmethod
    def from_synthesized(
        cls,
        environment: str = "dev",
        /,
        *,
        cached: bool = True,
        **options: Unpack[PipelineOptions],
    ) -> LocalPipeline:
        """The pipeline of ``environment`` in cdk.json, synthesized in-process (the template of
        an earlier run is reused while its sources are unchanged, unless ``cached`` is false).
        """
        synthesized = (synthesize_cached if cached else synthesize)(environment)
        return cls(
            synthesized.template,
            stack_name=synthesized.stack_name,
            region=synthesized.region,
            **options,
        )

    # Lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def clients(self) -> Clients:
        assert self._clients is not None, "start() first"
        return self._clients

    def start(self) -> LocalPipeline:
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
        self.lambdas = LambdaService(
            self.functions,
            send_to_queue=self._send_to_queue,
            retry_delays=self.retry_delays,
        )
        lambda_api = self._serve(LambdaInvokeApi(self.lambdas), "127.0.0.1", 0)
        self._isolation.enter(
            self.functions,
            region=self.template.region,
            endpoint_url=self.endpoint_url,
            lambda_url=f"http://127.0.0.1:{lambda_api.server_port}",
            overrides=self.function_environment,
        )
        self.lambdas.preload()
        self.lambdas.start()
        for notification in self.notifications:
            poller = S3EventPoller(
                notification,
                self.functions[notification.function_logical_id],
                sqs=self._clients.sqs,
                lambdas=self.lambdas,
                duplicate=lambda: self.duplicate_s3_events,
            )
            self._thread(poller.run, f"s3-events-{notification.bucket}")
        for schedule in schedules_from_template(self.template):
            runner = ScheduleRunner(
                schedule,
                self.functions[schedule.function_logical_id],
                lambdas=self.lambdas,
                account_id=self.template.account_id,
                region=self.template.region,
                period_seconds=self.schedule_period_seconds,
            )
            self._thread(runner.run, f"schedule-{schedule.function_logical_id}")
        self.gateway = ApiGateway(
            api_from_template(self.template),
            self._invoke_by_arn,
            openapi=build_document,
        )
        front = self._serve(self.gateway, self.host, self.port)
        self.port = front.server_port

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
        self._isolation.restore()

    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        while not self._stop.wait(0.5):
            pass

    # Wiring

    def _send_to_queue(self, queue_url: str, body: str) -> None:
        self.clients.sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    def _invoke_by_arn(self, arn: str, event: dict[str, Any]) -> Any:
        """The API's Lambda proxy call: the function whose ARN is in the integration URI."""
        assert self.lambdas is not None
        for spec in self.functions.values():
            if spec.arn in arn:
                return self.lambdas.invoke_sync(spec, event)
        raise LookupError(f"no function of the template in {arn!r}")

    def _thread(self, target: Callable[[threading.Event], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, args=(self._stop,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _serve(self, app: Any, host: str, port: int) -> BaseWSGIServer:
        server = make_server(host, port, app, threaded=True)
        self._servers.append(server)
        thread = threading.Thread(target=server.serve_forever, name=f"http-{port}", daemon=True)
        thread.start()
        return server
