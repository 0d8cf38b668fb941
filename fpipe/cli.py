"""fpipe: upload CSV files to the financial pipeline, follow their jobs, read stored rows.

    fpipe upload trades.csv --wait
    fpipe status 3f0c...
    fpipe results AAPL --start 2024-01-01T00:00:00Z --all
    fpipe events --follow

The API URL comes from ``--api`` or ``FPIPE_API_URL`` (default http://127.0.0.1:8000, the local
stack). Every request is signed with SigV4: for an ``execute-api`` URL from the standard AWS
credential chain, for the local stack from the ``.local/credentials`` file that ``make run``
writes (profile ``local`` unless ``--profile`` or ``AWS_PROFILE`` names another of its profiles).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from fpipe.integrity import FileFacts, file_facts
from fpipe.output import ProgressBar, table

try:
    import requests

    from fpipe.client import API_URL_ENV, ApiError, Client, CredentialsError, api_url_of
    from fpipe.events import EventsError, JobEventsQueue, event_line
except ImportError as missing:  # pragma: no cover - depends on the installation
    raise SystemExit(
        f"fpipe needs the 'cli' extra: pip install 'financial-pipeline[cli]' ({missing})"
    ) from None

# fpipe ships without the construct library, so it names the statuses itself; a test checks
# them against runtime/contract.py.
SUCCESS_STATUSES = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS"})
FINAL_STATUSES = SUCCESS_STATUSES | {"FAILED", "EXPIRED"}

_AUTH_CODES = frozenset({"MISSING_AUTHENTICATION_TOKEN", "INVALID_SIGNATURE"})
# R28: the file the pipeline read is not the one declared; said plainly after --wait.
_INTEGRITY_CODES = frozenset({"CHECKSUM_MISMATCH", "CONTROL_TOTAL_MISMATCH"})
_EVENTS_HELP = """Print the job events (R27) of a queue that a rule on the pipeline's bus fills,
one line per event: time, detail-type, jobId, status, row counts, sha256 (--json: the raw
EventBridge events, one JSON object per line). Reading consumes: each event printed is deleted
from the queue. Without --follow it prints what is there and exits; with --follow it waits for
more until Ctrl-C.

Local pipeline (make run): the queue is the local run's own, found through --api.
A deployment: pass --queue-url, the URL of an SQS queue that a rule on the pipeline's bus
fills (pipeline.on_job_finished(targets.SqsQueue(queue))); it is read with the standard AWS
credential chain (--profile)."""
_AUTH_HINT = (
    "fpipe: the API wants SigV4 credentials it knows: for the local stack run fpipe inside the "
    "checkout (make run writes .local/credentials), or pass --profile"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fpipe", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--api", help=f"API base URL (default: ${API_URL_ENV} or http://127.0.0.1:8000)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--profile",
        help="AWS profile to sign with (for the local stack: one of .local/credentials)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    upload = commands.add_parser("upload", help="upload a CSV file")
    upload.add_argument("file", type=Path)
    upload.add_argument("--wait", action="store_true", help="wait until the job ends")
    upload.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait with --wait (default 600)"
    )
    upload.add_argument(
        "--no-verify",
        action="store_true",
        help="do not declare the file's sha256 and data-row count (by default both are sent, "
        "and the pipeline fails a file whose digest differs: CHECKSUM_MISMATCH, or reports a "
        "count that differs: CONTROL_TOTAL_MISMATCH)",
    )

    status = commands.add_parser("status", help="show a job")
    status.add_argument("job_id")

    results = commands.add_parser("results", help="list stored rows of a symbol")
    results.add_argument("symbol")
    results.add_argument("--start", help="startTime (ISO 8601)")
    results.add_argument("--end", help="endTime (ISO 8601)")
    results.add_argument("--limit", type=int, help="rows per page (1-1000, default 100)")
    results.add_argument("--order", choices=["asc", "desc"])
    results.add_argument("--all", action="store_true", help="follow nextToken to the last page")

    events = commands.add_parser(
        "events",
        help="print job events",
        description=_EVENTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    events.add_argument(
        "--follow", action="store_true", help="keep waiting for events until Ctrl-C"
    )
    events.add_argument(
        "--queue-url",
        help="the SQS queue to read (needed for a deployed pipeline; default: the local run's)",
    )
    events.add_argument(
        "--endpoint-url", help="the SQS endpoint of --queue-url (default: AWS's for its region)"
    )
    return parser


def _status_rows(job: dict[str, Any]) -> list[tuple[str, str]]:
    rows = job.get("rows") or {}
    out = [
        ("jobId", str(job.get("jobId", ""))),
        ("status", str(job.get("status", ""))),
        ("fileName", str(job.get("fileName", ""))),
        ("createdAt", str(job.get("createdAt", ""))),
        ("updatedAt", str(job.get("updatedAt", ""))),
        *(
            (f"rows.{k}", str(rows.get(k, "")))
            for k in ("total", "accepted", "rejected", "duplicates")
        ),
        *(
            (name, str(job[name]))
            for name in ("sha256", "expectedSha256", "expectedRows")
            if job.get(name) is not None
        ),
    ]
    for error in job.get("errors") or []:
        out.append(("error", json.dumps(error) if not isinstance(error, str) else error))
    if job.get("reportUrl"):
        out.append(("reportUrl", str(job["reportUrl"])))
    return out


def _print_status(job: dict[str, Any], as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(job, indent=2), file=out)
    else:
        print(table(("field", "value"), _status_rows(job)), file=out)


def _count_data_lines(path: Path) -> int:
    """Lines after the header: the processing bar's estimate of the row count."""
    with path.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - 1, 0)


def _declared(path: Path, err: TextIO) -> FileFacts:
    facts = file_facts(path)
    if facts.rows is None:
        print(
            f"fpipe: cannot count the rows of {path} ({facts.problem}): declaring its sha256 only",
            file=err,
        )
    return facts


def _integrity_errors(job: dict[str, Any], err: TextIO) -> None:
    for error in job.get("errors") or []:
        if isinstance(error, dict) and error.get("code") in _INTEGRITY_CODES:
            print(f"fpipe: {error['code']}: {error.get('message', '')}", file=err)


def cmd_upload(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"fpipe: no such file: {path}", file=err)
        return 2
    size = path.stat().st_size
    facts = None if args.no_verify else _declared(path, err)
    created = client.create_upload(
        path.name,
        size or None,
        sha256=facts.sha256 if facts else None,
        expected_rows=facts.rows if facts else None,
    )
    job_id = str(created["jobId"])
    print(f"job {job_id}", file=err)
    if facts is not None:
        declared = f" and {facts.rows} data rows" if facts.rows is not None else ""
        print(f"declared sha256 {facts.sha256}{declared}", file=err)
    transfer = ProgressBar("upload", err, unit="bytes")
    client.send_file(created["upload"], path, transfer.update)
    transfer.finish()
    if not args.wait:
        if args.json:
            print(json.dumps({"jobId": job_id}), file=out)
        else:
            print(job_id, file=out)
        return 0
    expected = (
        facts.rows if facts is not None and facts.rows is not None else _count_data_lines(path)
    )
    processing = ProgressBar("process", err, unit="rows")
    deadline = time.monotonic() + args.timeout
    delay = 0.2
    while True:
        job = client.status(job_id)
        final = job.get("status") in FINAL_STATUSES
        # R24: a running job reports its progress (rows read so far, parts done of the total).
        progress = job.get("progress") or {}
        processed = int(progress.get("rowsProcessed") or (job.get("rows") or {}).get("total") or 0)
        label = str(job["status"])
        if progress.get("partsTotal", 1) > 1:
            label += f" parts {progress.get('partsDone', 0)}/{progress['partsTotal']}"
        processing.update(expected if final else min(processed, expected), expected, label)
        if final:
            processing.finish()
            _print_status(job, args.json, out)
            _integrity_errors(job, err)
            if job.get("sha256"):
                print(f"sha256 {job['sha256']} (computed by the pipeline)", file=err)
            return 0 if job["status"] in SUCCESS_STATUSES else 1
        if time.monotonic() > deadline:
            processing.finish()
            print(f"fpipe: job {job_id} still {job['status']} after {args.timeout:.0f}s", file=err)
            return 3
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def cmd_status(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _print_status(client.status(args.job_id), args.json, out)
    return 0


def cmd_results(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    query = {"start": args.start, "end": args.end, "limit": args.limit, "order": args.order}
    pages = (
        client.all_results(args.symbol, **query)
        if args.all
        else iter([client.results(args.symbol, **query)])
    )
    items: list[dict[str, Any]] = []
    next_token = None
    for page in pages:
        items.extend(page.get("items") or [])
        next_token = page.get("nextToken")
    if args.json:
        document: dict[str, Any] = {
            "symbol": args.symbol.upper(),
            "count": len(items),
            "items": items,
        }
        if next_token:
            document["nextToken"] = next_token
        print(json.dumps(document, indent=2), file=out)
        return 0
    columns = ("symbol", "timestamp", "price", "volume")
    print(
        table(columns, [tuple(str(item.get(c, "")) for c in columns) for item in items]), file=out
    )
    print(f"{len(items)} row(s)", file=err)
    if next_token:
        print(f"more rows: --all, or nextToken {next_token}", file=err)
    return 0


def _events_queue(args: argparse.Namespace) -> JobEventsQueue:
    if args.queue_url:
        return JobEventsQueue.for_queue(
            args.queue_url, profile=args.profile, endpoint_url=args.endpoint_url
        )
    return JobEventsQueue.discover(api_url_of(args.api))


def cmd_events(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        queue = _events_queue(args)
        events = queue.follow() if args.follow else queue.drain()
        count = 0
        for event in events:
            count += 1
            print(json.dumps(event) if args.json else event_line(event), file=out, flush=True)
    except EventsError as exc:
        print(f"fpipe: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        pass
    print(f"{count} event(s)", file=err)
    return 0


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    args = _parser().parse_args(argv)
    if args.command == "events":
        return cmd_events(args, out, err)
    try:
        client = Client(args.api, profile=args.profile)
    except CredentialsError as exc:
        print(f"fpipe: cannot sign requests: {exc}", file=err)
        return 1
    command = {"upload": cmd_upload, "status": cmd_status, "results": cmd_results}[args.command]
    try:
        return command(client, args, out, err)
    except requests.ConnectionError:
        print(f"fpipe: cannot reach the API at {client.api_url}", file=err)
        print("fpipe: start the local pipeline with `make run`, or pass --api URL", file=err)
        return 1
    except ApiError as exc:
        print(f"fpipe: {exc}", file=err)
        if exc.correlation_id:
            print(f"fpipe: correlation id {exc.correlation_id}", file=err)
        if exc.code in _AUTH_CODES:
            print(_AUTH_HINT, file=err)
        return 1
    except OSError as exc:
        print(f"fpipe: {exc}", file=err)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
