"""The whole pipeline on one machine, brought up from a synthesized template.

`LocalPipeline` composes the parts, each in its own module: the one local AWS endpoint in front
of dynalite and a moto server (`local.endpoint`), the template's resources on it
(`local.backend`), the functions (`local.lambdas`) in worker processes (`local.workers`) with
their own environment (`local.isolation`), their event sources (`local.events`), the Lambda
Invoke API (`local.invoke_api`, served on the endpoint) and the API Gateway front
(`local.gateway`). Nothing here changes this process's environment or modules.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypedDict, Unpack

from werkzeug.serving import BaseWSGIServer, make_server

from local.apimodel import api_from_template
from local.backend import Clients, Notification, provision
from local.cfn import DEFAULT_REGION, Template
from local.endpoint import LocalAws
from local.enforcement import Enforcer
from local.events import (
    ExecutionStatusPoller,
    S3EventPoller,
    ScheduleRunner,
    execution_status_rules_from_template,
    schedules_from_template,
)
from local.gateway import ApiGateway
from local.iam import (
    DEFAULT_CREDENTIALS_FILE,
    LocalCredentials,
    SigV4Verifier,
    ensure_credentials_file,
)
from local.invoke_api import LambdaInvokeApi
from local.isolation import function_environment
from local.job_events import JobEventsQueue, provision_job_events
from local.lambdas import FunctionSpec, LambdaService, functions_from_template
from local.roles import TemplateIam
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
    credentials_file: Path | None
    aws: LocalAws | None
    enforce_iam: bool


class LocalPipeline:
    """The local AWS endpoint, the functions' workers, S3 notification poller, schedules,
    Step Functions' execution status changes (polled, `local.events`) and the API front.

    ``endpoint_url`` uses a running S3/DynamoDB/SQS endpoint instead of starting dynalite and
    moto (functions are then invoked only by the pipeline itself, not through that endpoint).
    ``aws`` is a started `LocalAws` to use (and leave running) instead of starting one.
    ``duplicate_s3_events`` delivers every S3 event twice (S3 promises at-least-once).
    ``function_environment`` overrides the functions' environment variables (e.g. the log
    level). ``enforce_iam`` (default on) makes the local endpoint refuse what AWS would: each
    function signs as its execution role and every call is checked against the template's
    policies (`local.enforcement`; only on the endpoint this run starts or is given as ``aws``).
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
        credentials_file: Path | None = None,
        aws: LocalAws | None = None,
        enforce_iam: bool = True,
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
        # The principals the API's IAM authorization accepts (R29); created when missing.
        self.credentials_file = credentials_file or DEFAULT_CREDENTIALS_FILE
        self.credentials_created = False
        self.credentials = LocalCredentials(self.credentials_file)
        self.functions: dict[str, FunctionSpec] = {}
        self.lambdas: LambdaService | None = None
        self.gateway: ApiGateway | None = None
        self.notifications: list[Notification] = []
        self.job_events: JobEventsQueue | None = None
        self.execution_status_pollers: list[ExecutionStatusPoller] = []
        # Each function's role and its local session credentials (R34).
        self.iam = TemplateIam(self.template)
        self.enforce_iam = enforce_iam
        self.enforcer: Enforcer | None = None
        self.aws = aws
        self._own_aws: LocalAws | None = None
        self._lambda_url: BaseWSGIServer | None = None
        self._servers: list[BaseWSGIServer] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._stopped = False
        self._clients: Clients | None = None
        self._attached = False

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
        # Its per-request log (werkzeug, INFO) would drown the gateway's own access log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        if self.endpoint_url is None and self.aws is None:
            # dynalite and moto start in their own processes while the workers start below.
            self.aws = self._own_aws = LocalAws()
            self.aws.begin()
        if self.endpoint_url is None:
            assert self.aws is not None
            self.endpoint_url = self.aws.url
        self.template.sqs_endpoint = self.endpoint_url
        if self.aws is None:
            # The handlers' Lambda calls cannot go to an endpoint that someone else runs.
            self._lambda_url = self._serve(self._invoke_api, "127.0.0.1", 0)
        if self._own_aws is not None:
            # moto names a queue endpoint/account/name, as the template predicts: the workers'
            # cold starts overlap with dynalite's and moto's.
            self.lambdas = self._lambda_service()
            self.lambdas.prestart()
            self._own_aws.wait()
        self._clients = Clients(self.endpoint_url, self.template.region)
        self.notifications = provision(self.template, self._clients)
        self.job_events = provision_job_events(self.template, self._clients)
        self.functions = functions_from_template(self.template)
        if self.lambdas is None:
            self.lambdas = self._lambda_service()
        else:
            self.lambdas.update_specs(self.functions)
        if self.aws is not None:
            assert self.aws.router is not None
            if self.enforce_iam:
                self.enforcer = Enforcer(self.iam, credentials=self.credentials)
            # On a shared endpoint, next to the other pipelines' (each role judged by its own
            # template's enforcer) until stop().
            self.aws.router.attach(lambda_app=self._invoke_api, enforcer=self.enforcer)
            self._attached = True
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
        for rule in execution_status_rules_from_template(self.template):
            status_poller = ExecutionStatusPoller(
                rule,
                self.functions[rule.function_logical_id],
                stepfunctions=self._clients.stepfunctions,
                lambdas=self.lambdas,
                account_id=self.template.account_id,
                region=self.template.region,
            )
            self.execution_status_pollers.append(status_poller)
            self._thread(status_poller.run, f"execution-status-{rule.function_logical_id}")
        self.credentials_created = ensure_credentials_file(
            self.credentials_file,
            account_id=self.template.account_id,
            region=self.template.region,
        )
        self.gateway = ApiGateway(
            api_from_template(self.template),
            self._invoke_by_arn,
            openapi=_openapi_document,
            local_document=self.local_document,
            iam=SigV4Verifier(self.credentials, self.template.region),
        )
        front = self._serve(self.gateway, self.host, self.port)
        self.port = front.server_port

    @contextlib.contextmanager
    def policies_of(self, template_body: dict[str, Any]) -> Iterator[Enforcer]:
        """The IAM of ``template_body`` enforced for this pipeline's roles instead of its own
        template's, until the block ends: this template with grants edited (the same roles,
        functions and environment; only ``AWS::IAM::*`` and resource policies may differ), as a
        deploy of that template would change nothing else. The functions keep their workers and
        credentials, so a test can deny a grant and restore it within one run."""
        if self.enforcer is None or self.aws is None or self.aws.router is None:
            raise RuntimeError("IAM is not enforced on this pipeline's endpoint")
        edited = TemplateIam(
            Template(
                template_body, stack_name=self.template.stack_name, region=self.template.region
            ),
            seed=self.iam.seed,
        )
        if edited.function_roles != self.iam.function_roles or (
            edited.machine_roles != self.iam.machine_roles
        ):
            raise ValueError("the edited template's functions have other roles than this one's")
        enforcer = Enforcer(edited, credentials=self.credentials)
        own = self.enforcer
        self.aws.router.replace(own, enforcer)
        self.enforcer = enforcer
        try:
            yield enforcer
        finally:
            self.aws.router.replace(enforcer, own)
            self.enforcer = own

    def stop(self) -> None:
        """Stop everything this pipeline started (idempotent)."""
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
        if self._attached and self.aws is not None and self.aws.router is not None:
            # A shared endpoint outlives this pipeline; the others on it go on as they were.
            self.aws.router.detach(lambda_app=self._invoke_api, enforcer=self.enforcer)
            self._attached = False
        if self._own_aws is not None:
            self._own_aws.stop()
            self._own_aws = None

    def child_pids(self) -> list[int]:
        """The processes this pipeline started (dynalite, moto, workers), for tests."""
        own = self._own_aws.child_pids() if self._own_aws is not None else []
        return own + (self.lambdas.worker_pids() if self.lambdas is not None else [])

    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        while not self._stop.wait(0.5):
            pass

    def local_document(self) -> dict[str, Any]:
        """What ``GET /local.json`` answers: the AWS endpoint the functions use and where the
        job events land (``fpipe events`` reads them from there)."""
        assert self.endpoint_url is not None
        return {
            "stackName": self.template.stack_name,
            "region": self.template.region,
            "endpointUrl": self.endpoint_url,
            "jobEvents": self.job_events.to_json() if self.job_events is not None else None,
        }

    # Wiring

    def _lambda_service(self) -> LambdaService:
        self.functions = functions_from_template(self.template)
        return LambdaService(
            self.functions,
            send_to_queue=self._send_to_queue,
            retry_delays=self.retry_delays,
            environment=self._function_environment,
        )

    def _function_environment(self, spec: FunctionSpec) -> dict[str, str]:
        assert self.endpoint_url is not None
        lambda_endpoint = {}
        if self._lambda_url is not None:
            lambda_endpoint["AWS_ENDPOINT_URL_LAMBDA"] = (
                f"http://127.0.0.1:{self._lambda_url.server_port}"
            )
        # The function's role's session credentials, as Lambda gives them (R34).
        role = self.iam.function_credentials(spec.logical_id)
        signing = role.environment() if role is not None else {}
        return function_environment(
            spec,
            region=self.template.region,
            endpoint_url=self.endpoint_url,
            overrides={**signing, **lambda_endpoint, **self.function_environment},
        )

    def _invoke_api(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The Lambda Invoke API of this pipeline's functions (served once they exist)."""
        if self.lambdas is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"the functions are starting\n"]
        return LambdaInvokeApi(self.lambdas)(environ, start_response)

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


def _openapi_document(server_url: str) -> dict[str, Any]:
    # Importing the construct library starts jsii (a Node process, ~1.5 s): only a request for
    # the document pays for it, not every start from a cached template.
    from financial_pipeline.openapi import build_document  # noqa: PLC0415

    return build_document(server_url)
