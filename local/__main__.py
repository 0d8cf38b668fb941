"""``python -m local``: synthesize the dev stack and serve the whole pipeline on this machine."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from local.banner import banner
from local.cfn import assembly_environment, template_region
from local.pipeline import LocalPipeline, PipelineOptions


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="API host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="API port (default 8000; 0: any)")
    parser.add_argument("--env", default="dev", help="environment of cdk.json (default dev)")
    parser.add_argument(
        "--endpoint-url",
        help="use this S3/DynamoDB/SQS endpoint (a moto server, a LocalStack container) "
        "instead of starting dynalite and moto",
    )
    parser.add_argument("--template", type=Path, help="serve this synthesized template instead")
    parser.add_argument(
        "--region",
        help=(
            "the region of --template (default: its stack's region in the cloud assembly "
            "beside it, else the region its ARNs name, else us-east-1)"
        ),
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="synthesize even if the template's sources (the construct library, app.py, infra/, "
        "cdk.json, runtime/contract.py) are unchanged since the last run (the template is "
        "cached in cdk.out/local/)",
    )
    parser.add_argument(
        "--sweep-every",
        type=float,
        help="run scheduled functions every N seconds (default: the template's schedule)",
    )
    parser.add_argument(
        "--duplicate-s3-events",
        action="store_true",
        help="deliver every S3 event twice, as S3's at-least-once delivery may",
    )
    parser.add_argument(
        "--no-iam",
        action="store_true",
        help="do not enforce the template's IAM policies on the local AWS endpoint (R34): every "
        "call of a function or of the state machine goes through unchecked",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="only warnings from the gateway and the functions"
    )
    return parser


def _stop_on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # The moto server logs every backend call through werkzeug: the gateway's own access log
    # (logger local.gateway) is the one worth reading.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    options: PipelineOptions = {
        "host": args.host,
        "port": args.port,
        "endpoint_url": args.endpoint_url,
        "schedule_period_seconds": args.sweep_every,
        "duplicate_s3_events": args.duplicate_s3_events,
        "function_environment": {"POWERTOOLS_LOG_LEVEL": "WARNING"} if args.quiet else None,
        "enforce_iam": not args.no_iam,
    }
    # SIGTERM (process managers, CI) stops the run as Ctrl-C does, also while it starts; Ctrl-C
    # works even where SIGINT was ignored by the parent (background jobs).
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.template:
        body: dict[str, Any] = json.loads(args.template.read_text(encoding="utf-8"))
        stack_name = args.template.stem.removesuffix(".template")
        _account, assembly_region = assembly_environment(args.template)
        region = args.region or assembly_region or template_region(body)
        pipeline = LocalPipeline(body, stack_name=stack_name, region=region, **options)
    else:
        pipeline = LocalPipeline.from_synthesized(args.env, cached=not args.no_cache, **options)
    try:
        pipeline.start()
        print(banner(pipeline, started), flush=True)
        pipeline.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        # A second signal must not cut the stop short and leave children behind.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        pipeline.stop()
    print("stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
