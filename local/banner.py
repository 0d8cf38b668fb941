"""What ``python -m local`` prints once the pipeline serves: where everything is, what the run
enforces, and commands to try (fpipe and curl, signed with the local principals' keys)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from local.iam import DEFAULT_PROFILE, SERVICE
from local.workers import tmp_capped

if TYPE_CHECKING:
    from local.pipeline import LocalPipeline

__all__ = ["authorization_banner", "banner", "curl_banner"]

SAMPLE = Path(__file__).resolve().parent / "sample_trades.csv"


def _backend_lines(pipeline: LocalPipeline) -> list[str]:
    if pipeline.aws is None:
        return [f"  backend (S3, DynamoDB, SQS): {pipeline.endpoint_url}"]
    workers = len(pipeline.lambdas.worker_pids()) if pipeline.lambdas is not None else 0
    return [
        f"  AWS endpoint:                {pipeline.endpoint_url}"
        "  (aws --endpoint-url; DynamoDB on dynalite, Lambda Invoke on the local functions,"
        " the rest on moto)",
        f"  functions:                   {len(pipeline.functions)}, in {workers} warm worker"
        " processes; DynamoDB TTL is not emulated (expired items stay)",
        _limits_line(),
        *_enforcement_lines(pipeline),
    ]


def _limits_line() -> str:
    tmp = (
        "each worker's /tmp a tmpfs of the function's EphemeralStorage"
        if tmp_capped()
        else "the workers' /tmp is NOT capped (cannot mount a tmpfs here)"
    )
    return (
        f"  Lambda limits:               {tmp}; a worker above MemorySize is killed"
        " (Runtime.OutOfMemory); payloads 6 MB sync, 1 MB async; Step Functions state 256 KiB"
    )


def _enforcement_lines(pipeline: LocalPipeline) -> list[str]:
    if pipeline.enforcer is None and pipeline.enforce_iam:
        return [
            "  IAM enforcement:             off: the AWS endpoint is not the local run's own"
            " (--endpoint-url)"
        ]
    if pipeline.enforcer is None:
        return [
            "  IAM enforcement:             OFF (--no-iam): the functions' and the state"
            " machine's AWS calls are not checked"
        ]
    return [
        "  IAM enforcement:             on: each function signs as its own role,"
        " every AWS call checked against the template's policies (--no-iam: off);"
        " .local/credentials profiles are administrators"
    ]


def _job_events_lines(pipeline: LocalPipeline) -> list[str]:
    if pipeline.job_events is None:
        return []
    return [
        f"  job events (R27):            {pipeline.job_events.queue_url}"
        f"  (rule {pipeline.job_events.rule_name} on bus {pipeline.job_events.event_bus};"
        " fpipe events)"
    ]


def banner(pipeline: LocalPipeline, started: float) -> str:
    url = pipeline.url
    script = Path(sys.executable).parent / "fpipe"
    fpipe = f"{_shown(script) if script.exists() else 'fpipe'} --api {url}"
    return "\n".join(
        [
            f"Financial pipeline ({pipeline.template.stack_name}) serving on {url}"
            f"  [ready in {time.monotonic() - started:.1f}s]",
            *_backend_lines(pipeline),
            f"  OpenAPI document:            {url}/openapi.json",
            *_job_events_lines(pipeline),
            *authorization_banner(pipeline),
            "  press Ctrl-C to stop.",
            "",
            "Try it (JOB_ID is printed by the upload):",
            f"  {fpipe} upload {_shown(SAMPLE)} --wait",
            f"  {fpipe} status JOB_ID",
            f"  {fpipe} results AAPL --all",
            f"  {fpipe} events --follow",
            "",
            *curl_banner(pipeline),
        ]
    )


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is under it, as typed or resolved."""
    for candidate, base in ((path, Path.cwd()), (path.resolve(), Path.cwd().resolve())):
        try:
            return str(candidate.relative_to(base))
        except ValueError:
            continue
    return str(path)


def authorization_banner(pipeline: LocalPipeline) -> list[str]:
    """What `python -m local` says about the API's authorization and how to sign for it."""
    routes = pipeline.gateway.api.routes if pipeline.gateway is not None else []
    types = {route.authorization_type for route in routes}
    lines: list[str] = []
    if "AWS_IAM" in types:
        shown = _shown(pipeline.credentials_file)
        made = " (created now)" if pipeline.credentials_created else ""
        lines.append(
            f"  IAM authorization:           SigV4 checked against {shown}{made}; "
            "unsigned requests get 403"
        )
        for principal in pipeline.credentials.principals():
            lines.append(
                f"    profile {principal.profile:<12} signs as {principal.arn} "
                f"({principal.principal_id})"
            )
        lines.append(
            f"    aws / boto3: AWS_SHARED_CREDENTIALS_FILE={shown} AWS_PROFILE={DEFAULT_PROFILE}"
        )
    if "COGNITO_USER_POOLS" in types:
        lines.append(
            "  Cognito authorization:       tokens are NOT verified locally: the JWT payload's "
            "claims are passed on as they are (no signature, issuer or expiry check)"
        )
    if types <= {"NONE"}:
        lines.append("  authorization:               none (every caller is anonymous; no owners)")
    return lines


def curl_banner(pipeline: LocalPipeline) -> list[str]:
    """curl commands that work against the running API, signed when it wants SigV4."""
    url = pipeline.url
    routes = pipeline.gateway.api.routes if pipeline.gateway is not None else []
    sign = ""
    if any(route.authorization_type == "AWS_IAM" for route in routes):
        try:
            principal = pipeline.credentials.principal(DEFAULT_PROFILE)
        except KeyError:
            principal = None
        key = f"{principal.access_key}:{principal.secret_key}" if principal else "KEY:SECRET"
        sign = f'--aws-sigv4 "aws:amz:{pipeline.template.region}:{SERVICE}" --user "{key}" '
    return [
        "or with curl (7.75 or later):",
        f"  curl -s {sign}-X POST {url}/upload -H 'Content-Type: application/json' "
        '-d \'{"fileName": "trades.csv", "fileType": "csv"}\'',
        f"  curl -s {sign}{url}/status/JOB_ID",
        f"  curl -s {sign}'{url}/results/AAPL?limit=10'",
    ]
