"""The split path (R23) against the single pass, step by step, each invocation its own process.

For one file and ``n`` parts: the processor's handler plans the parts and starts the execution
(on moto's Step Functions, which records it without running it), then ``n`` worker processes at a
time run ``parse_part`` over the parts (the map step) and ``write_partition`` over the
partitions (the reduce step), then ``finish_split`` ends the job, in that order, as the state
machine runs them. Every invocation is ``python -m bench.split_worker`` with its own interpreter,
as Lambda gives each invocation its own machine. DynamoDB goes through the latency sink (results
writes answered after the delay, the jobs table proxied to moto with the same delay); S3 goes to
moto.

A run counts only when its job is final with exactly the single pass's row counts and status;
otherwise it reports why and no speed. Phase time is the handlers' own time (first start to last
end of the phase's invocations), as on warm functions; process start-up is reported apart and
billed as cold in the cost.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import boto3
from botocore.config import Config

from bench.backends import (
    BUCKET,
    JOBS_TABLE,
    REGION,
    RESULTS_TABLE,
    backend,
    client_env,
    moto_server,
)
from bench.runner import ensure_resources, prepare, processor_env, s3_event

__all__ = ["PRICES", "cost_per_million", "run_single", "run_split"]

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("plan", "map", "reduce", "finish")
_WORKER_STEP = {"plan": "plan", "map": "part", "reduce": "partition", "finish": "finish"}
FUNCTION_GB = 3008 / 1024  # every function's memory (R13)

# us-east-1 list prices (docs/CAPACITY.md, sources 13-16).
PRICES = {
    "lambda_gb_second": 0.0000133334,  # arm64
    "lambda_request": 0.20 / 1e6,
    "sfn_transition": 0.025 / 1000,  # STANDARD
    "s3_put_class": 0.005 / 1000,  # PUT, COPY, POST, LIST
    "s3_get_class": 0.0004 / 1000,  # GET, HEAD and the others
    "ddb_write_unit": 0.625 / 1e6,  # on demand
    "ddb_read_unit": 0.125 / 1e6,
}
_S3_PUT_CLASS = frozenset(
    {
        "PutObject",
        "CopyObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "ListObjectsV2",
        "ListObjects",
    }
)
_S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})
_DDB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_DDB_READS = frozenset({"GetItem", "Query", "Scan"})


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def split_env(
    target_s3: str, target_ddb: str, moto: str, *, part_bytes: int | None
) -> dict[str, str]:
    """The functions' environment: the processor's, with every file split in parts of
    `part_bytes`, or (None) none split."""
    env = client_env(target_s3, target_ddb)
    env["AWS_ENDPOINT_URL"] = moto  # Step Functions
    with _environment(env):
        processor_env(BUCKET, JOBS_TABLE, RESULTS_TABLE)
        env = dict(os.environ)
    if part_bytes is not None:
        env["SPLIT_THRESHOLD_BYTES"] = "1"
        env["PART_BYTES"] = str(part_bytes)
    env["SPLIT_TIMEOUT_SECONDS"] = "43200"
    return env


def _client(service: Literal["stepfunctions", "dynamodb"], endpoint: str) -> Any:
    """A client of the benchmark's own (not the measured code's) for one local endpoint."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"mode": "standard"}),
    )


def _state_machine(moto: str) -> str:
    client = _client("stepfunctions", moto)
    # moto records executions of a machine it does not run: the benchmark is the state machine.
    created = client.create_state_machine(
        name="bench-split",
        definition=json.dumps({"StartAt": "Run", "States": {"Run": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/bench-split",
    )
    return str(created["stateMachineArn"])


def _execution_input(moto: str, arn: str) -> dict[str, Any]:
    client = _client("stepfunctions", moto)
    executions = client.list_executions(stateMachineArn=arn)["executions"]
    if len(executions) != 1:
        raise RuntimeError(f"{len(executions)} executions started, expected one")
    described = client.describe_execution(executionArn=executions[0]["executionArn"])
    found: dict[str, Any] = json.loads(described["input"])
    return found


def _invoke(step: str, event: dict[str, Any], env: dict[str, str], log: Path) -> dict[str, Any]:
    start = time.perf_counter()
    with log.open("a") as err:
        done = subprocess.run(
            [sys.executable, "-m", "bench.split_worker", _WORKER_STEP[step]],
            cwd=ROOT,
            env=env,
            input=json.dumps(event),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=3600,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"{step} invocation exited {done.returncode}; see {log}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["process_seconds"] = time.perf_counter() - start
    return result


def _phase(
    step: str, events: list[dict[str, Any]], env: dict[str, str], log: Path, concurrency: int
) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(lambda event: _invoke(step, event, env, log), events))


def _summary(invocations: list[dict[str, Any]], data_rows: int) -> dict[str, Any]:
    requests: Counter[str] = Counter()
    for invocation in invocations:
        requests.update(invocation["requests"])
    return {
        "invocations": len(invocations),
        "seconds": round(
            max(i["ended"] for i in invocations) - min(i["started"] for i in invocations), 3
        ),
        "handler_seconds": round(sum(i["seconds"] for i in invocations), 3),
        "process_seconds": round(sum(i["process_seconds"] for i in invocations), 3),
        "cpu_us_per_row": round(sum(i["cpu_seconds"] for i in invocations) / data_rows * 1e6, 1),
        "max_rss_mb": round(max(i["max_rss_mb"] for i in invocations), 1),
        "requests": dict(requests),
    }


def _job(env: dict[str, str], job_id: str) -> dict[str, Any]:
    client = _client("dynamodb", env["AWS_ENDPOINT_URL_DYNAMODB"])
    item = client.get_item(TableName=JOBS_TABLE, Key={"jobId": {"S": job_id}}).get("Item", {})
    rows = {name: int(value["N"]) for name, value in item.get("rows", {}).get("M", {}).items()}
    return {"status": item.get("status", {}).get("S", "?"), "rows": rows}


def part_bytes_for(size: int, parts: int) -> int:
    """A part size that cuts a file of `size` bytes into `parts` parts (the planner cuts at the
    first record boundary after each multiple of it)."""
    return max(1, -(-size // parts))


@contextlib.contextmanager
def _stack(
    path: Path, *, delay_ms: float, part_bytes: int | None, log: Path, label: str
) -> Iterator[tuple[dict[str, str], str, dict[str, Any]]]:
    """Fresh moto behind the latency sink, the file uploaded as a new job: (env, moto, event)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as err:
        err.write(f"\n=== {label} {path.name} sink {delay_ms:g} ms\n")
    with moto_server() as moto, backend("sink", delay_ms, moto) as target:
        env = split_env(target.s3, target.dynamodb, moto, part_bytes=part_bytes)
        env["STATE_MACHINE_ARN"] = _state_machine(moto)
        with _environment(env):
            ensure_resources(BUCKET, JOBS_TABLE, RESULTS_TABLE)
            job_id, key, etag = prepare(path, BUCKET, JOBS_TABLE)
        env["BENCH_JOB_ID"] = job_id
        yield env, moto, s3_event(BUCKET, key, path.stat().st_size, etag)


def run_single(path: Path, data_rows: int, *, delay_ms: float, log: Path) -> dict[str, Any]:
    """The single pass over `path`: one processor invocation, measured as the split's steps are."""
    with _stack(path, delay_ms=delay_ms, part_bytes=None, log=log, label="single pass") as (
        env,
        _moto,
        event,
    ):
        invocation = _invoke("plan", event, env, log)
        answer = invocation["result"]["results"][0]
        final = _job(env, env["BENCH_JOB_ID"])
    if answer.get("outcome") == "split":
        return {"error": "the processor split the file it should have processed in one pass"}
    phase = _summary([invocation], data_rows)
    return {
        "status": final["status"],
        "rows": final["rows"],
        "seconds": phase["seconds"],
        "rows_per_second": round(data_rows / phase["seconds"]) if phase["seconds"] else 0,
        "cpu_us_per_row": phase["cpu_us_per_row"],
        "max_rss_mb": phase["max_rss_mb"],
        "phases": {"single": phase},
        "cost": cost_per_million(
            [invocation], data_rows, accepted=final["rows"].get("accepted", 0)
        ),
    }


def run_split(
    path: Path, data_rows: int, parts: int, *, delay_ms: float, log: Path
) -> dict[str, Any]:
    """The split path over `path` in `parts` parts, `parts` invocations at once in both maps."""
    part_bytes = part_bytes_for(path.stat().st_size, parts)
    with _stack(
        path, delay_ms=delay_ms, part_bytes=part_bytes, log=log, label=f"split {parts} parts"
    ) as (env, moto, event):
        began = time.perf_counter()
        found: dict[str, list[dict[str, Any]]] = {"plan": [_invoke("plan", event, env, log)]}
        answer = found["plan"][0]["result"]["results"][0]
        if answer.get("outcome") != "split":
            return {"error": f"the processor did not split the file: {answer}"}
        execution = _execution_input(moto, env["STATE_MACHINE_ARN"])
        with _environment(env):
            s3 = boto3.client("s3", config=Config(region_name=REGION))
            manifest = _json_object(s3, execution["partsKey"])
            partitions = _json_object(s3, execution["partitionsKey"])
        job = {name: execution[name] for name in ("jobId", "bucket", "key", "etag")}
        found["map"] = _phase("map", [{**job, "part": item} for item in manifest], env, log, parts)
        reduce_events = [
            {"jobId": job["jobId"], "bucket": job["bucket"], "partition": item}
            for item in partitions
        ]
        found["reduce"] = _phase("reduce", reduce_events, env, log, parts)
        finish = {**job, "attempt": execution["attempt"], "outcome": "SUCCEEDED"}
        found["finish"] = [_invoke("finish", finish, env, log)]
        wall = time.perf_counter() - began
        final = _job(env, job["jobId"])
    phases = {step: _summary(found[step], data_rows) for step in STEPS}
    seconds = sum(phase["seconds"] for phase in phases.values())
    invocations = [i for step in STEPS for i in found[step]]
    return {
        "parts": len(manifest),
        "partitions": len(partitions),
        "status": final["status"],
        "rows": final["rows"],
        "seconds": round(seconds, 3),
        "wall_seconds": round(wall, 3),
        "rows_per_second": round(data_rows / seconds) if seconds else 0,
        "cpu_us_per_row": round(sum(p["cpu_us_per_row"] for p in phases.values()), 1),
        "max_rss_mb": max(p["max_rss_mb"] for p in phases.values()),
        "phases": phases,
        "cost": cost_per_million(
            invocations,
            data_rows,
            accepted=final["rows"].get("accepted", 0),
            transitions=_transitions(len(manifest), len(partitions)),
            extra_s3_gets=2,  # the two ItemReader manifest reads
        ),
    }


def _json_object(s3: Any, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _transitions(parts: int, partitions: int) -> int:
    """STANDARD state transitions of one execution, counted high: the parent's three states plus
    its start and end and a few for the two map runs, and three per child execution (its start,
    its one task, its end)."""
    return 8 + 3 * (parts + partitions)


def cost_per_million(
    invocations: list[dict[str, Any]],
    data_rows: int,
    *,
    accepted: int,
    transitions: int = 0,
    extra_s3_gets: int = 0,
) -> dict[str, float]:
    """List-price cost of the run, per million data rows, by service.

    Lambda bills each invocation's whole process time (as cold: start-up included), at the
    functions' memory. DynamoDB: one write unit per accepted row plus the jobs-table writes.
    """
    seconds = sum(float(i.get("process_seconds", i["seconds"])) for i in invocations)
    requests: Counter[str] = Counter()
    for invocation in invocations:
        requests.update(invocation.get("requests", {}))
    s3_put = sum(
        n
        for name, n in requests.items()
        if name.split(".")[1] in _S3_PUT_CLASS and name.startswith("s3.")
    )
    s3_get = extra_s3_gets + sum(
        n
        for name, n in requests.items()
        if name.startswith("s3.") and name.split(".")[1] not in _S3_PUT_CLASS | _S3_FREE
    )
    ddb_writes = accepted + sum(
        n
        for name, n in requests.items()
        if name.startswith("dynamodb.") and name.split(".")[1] in _DDB_WRITES
    )
    ddb_reads = sum(
        n
        for name, n in requests.items()
        if name.startswith("dynamodb.") and name.split(".")[1] in _DDB_READS
    )
    scale = 1e6 / max(1, data_rows)
    cost = {
        "lambda": (
            seconds * FUNCTION_GB * PRICES["lambda_gb_second"]
            + len(invocations) * PRICES["lambda_request"]
        ),
        "step_functions": transitions * PRICES["sfn_transition"],
        "s3": s3_put * PRICES["s3_put_class"] + s3_get * PRICES["s3_get_class"],
        "dynamodb": ddb_writes * PRICES["ddb_write_unit"] + ddb_reads * PRICES["ddb_read_unit"],
    }
    per_million = {name: round(value * scale, 6) for name, value in cost.items()}
    per_million["total"] = round(sum(per_million.values()), 6)
    return per_million


# -- the suite's section ----------------------------------------------------------------------

PARTS = (1, 2, 4, 8)
DELAY_MS = 10.0
CPU_RATIO_TARGET = 1.3
RSS_TARGET_MB = 256.0


def plan_cases(*, full: bool, quick: bool) -> list[tuple[int, int]]:
    """(data rows, symbols) of the files: 1M rows over 50 symbols and over one symbol (one
    partition key: the table's per-key limit); --full adds 5M rows over 50 symbols."""
    if quick:
        return [(20_000, 50)]
    found = [(1_000_000, 50), (1_000_000, 1)]
    if full:
        found.append((5_000_000, 50))
    return found


def parse_case(text: str) -> tuple[int, int]:
    """`5000000x50` -> (5000000, 50)."""
    rows, _, symbols = text.strip().partition("x")
    return int(rows), int(symbols or "50")


def run_section(
    files: list[tuple[Path, int, int]], *, parts: tuple[int, ...], log: Path
) -> list[dict[str, Any]]:
    """For each (file, data rows, symbols): the single pass, then the split with each of `parts`."""
    found: list[dict[str, Any]] = []
    for path, data_rows, symbols in files:
        base = {"file": path.name, "data_rows": data_rows, "symbols": symbols}
        base["bytes"] = path.stat().st_size
        single = _checked(run_single(path, data_rows, delay_ms=DELAY_MS, log=log), None, data_rows)
        found.append({**base, "path": "single pass", "parts": 0, **single})
        _progress(found[-1])
        for count in parts:
            result = run_split(path, data_rows, count, delay_ms=DELAY_MS, log=log)
            found.append({**base, "path": "split", **_checked(result, single, data_rows)})
            found[-1].setdefault("parts", count)
            _progress(found[-1])
    return found


def _checked(
    result: dict[str, Any], single: dict[str, Any] | None, data_rows: int
) -> dict[str, Any]:
    """The result, or an error in its place when it did not account for every row exactly as the
    single pass did: a run that lost or added a row has no speed to report."""
    if "error" in result:
        return result
    rows = result.get("rows", {})
    accounted = sum(rows.get(name, 0) for name in ("accepted", "rejected", "duplicates"))
    if rows.get("total") != data_rows or accounted != data_rows:
        return {"error": f"rows {rows} do not account for the file's {data_rows} data rows"}
    observed = (rows, result["status"])
    if (
        single is not None
        and "error" not in single
        and observed != (single["rows"], single["status"])
    ):
        return {
            "error": f"{result['status']} {rows} differs from the single pass's "
            f"{single['status']} {single['rows']}"
        }
    return result


def _progress(row: dict[str, Any]) -> None:
    what = row.get("error") or (
        f"{row['rows_per_second']:,} rows/s, {row['cpu_us_per_row']} µs/row, {row['max_rss_mb']} MB"
    )
    label = f"{row['path']} {row['parts']}" if row["path"] == "split" else row["path"]
    print(f"    {row['file']:<28} {label:<14} {what}", file=sys.stderr, flush=True)


def _human(rows: int) -> str:
    return f"{rows / 1e6:g}M" if rows >= 1_000_000 else f"{rows // 1000}k"


def _single_of(section: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in section
            if r["file"] == row["file"] and r["path"] == "single pass" and "error" not in r
        ),
        None,
    )


def render(section: list[dict[str, Any]], charts: list[str]) -> str:
    """The split section of BENCHMARKS.md."""
    out = [
        f"### Large files: single pass against the split path (sink {DELAY_MS:g} ms, "
        "each invocation its own process)",
        "",
        "Time and CPU are the handlers' own (warm functions); the phases of the split run one "
        "after another, and `n` parts means `n` invocations at once in both maps. CPU per row "
        "adds up every invocation of the path. Cost per million rows at us-east-1 list prices, "
        "each invocation billed as cold (process start included); DynamoDB is the same for both "
        "paths (one write unit per stored row) and shown apart.",
        "",
        "| file | path | parts / partitions | rows/s | seconds: plan + map + reduce + finish "
        "| CPU µs/row: plan + map + reduce + finish | CPU vs single pass | peak RSS MB "
        "(largest worker) | $/M rows: Lambda + Step Functions + S3 | DynamoDB $/M rows "
        "| status |",
        "|---|---|---|---:|---|---|---:|---:|---|---:|---|",
    ]
    for row in section:
        name = (
            f"{_human(row['data_rows'])} rows, {row['symbols']} symbol{'s' * (row['symbols'] > 1)}"
        )
        if "error" in row:
            label = row["path"] if row["path"] != "split" else f"split {row['parts']}"
            out.append(
                f"| {name} | {label} | - | n/a | - | - | - | - | - | - | {row['error'][:80]} |"
            )
            continue
        phases = row["phases"]
        order = ["single"] if row["path"] == "single pass" else list(STEPS)
        seconds = " + ".join(f"{phases[p]['seconds']:.1f}" for p in order)
        cpu = " + ".join(f"{phases[p]['cpu_us_per_row']:.1f}" for p in order)
        if len(order) > 1:
            seconds += f" = {row['seconds']:.1f}"
            cpu += f" = {row['cpu_us_per_row']:.1f}"
        single = _single_of(section, row)
        ratio = f"{row['cpu_us_per_row'] / single['cpu_us_per_row']:.2f}x" if single else "-"
        cost = row["cost"]
        lam = f"{cost['lambda']:.4f} + {cost['step_functions']:.4f} + {cost['s3']:.4f}"
        shape = "-" if row["path"] == "single pass" else f"{row['parts']} / {row['partitions']}"
        out.append(
            f"| {name} | {row['path']} | {shape} | {row['rows_per_second']:,} | {seconds} "
            f"| {cpu} | {ratio} | {row['max_rss_mb']} | {lam} | {cost['dynamodb']:.3f} "
            f"| {row['status']} |"
        )
    out += ["", "| target | measured | met |", "|---|---:|---|"]
    for name, value, met in targets(section):
        out.append(f"| {name} | {value} | {met} |")
    for chart in charts:
        out += ["", f"![{Path(chart).stem}]({chart})"]
    return "\n".join(out) + "\n"


def targets(section: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    splits = [r for r in section if r["path"] == "split" and "error" not in r]
    ratios = [
        (r, r["cpu_us_per_row"] / single["cpu_us_per_row"])
        for r in splits
        if (single := _single_of(section, r)) is not None
    ]
    if ratios:
        worst, ratio = max(ratios, key=lambda pair: pair[1])
        found.append(
            (
                f"split CPU per row <= {CPU_RATIO_TARGET}x the single pass's (worst of "
                f"{len(ratios)} runs: {_human(worst['data_rows'])}/{worst['symbols']}, "
                f"{worst['parts']} parts)",
                f"{ratio:.2f}x",
                "yes" if ratio <= CPU_RATIO_TARGET else "**no**",
            )
        )
    peaks = [r["max_rss_mb"] for r in section if "error" not in r]
    if peaks:
        found.append(
            (
                f"no worker's peak RSS above {RSS_TARGET_MB:g} MB",
                f"{max(peaks)} MB",
                "yes" if max(peaks) <= RSS_TARGET_MB else "**no**",
            )
        )
    for row in splits:
        if row["parts"] != 2:
            continue
        one = next(
            (
                r
                for r in splits
                if r["file"] == row["file"] and r["parts"] == 1 and "error" not in r
            ),
            None,
        )
        if one is not None:
            found.append(
                (
                    f"speedup of 2 parts over 1 ({_human(row['data_rows'])}/{row['symbols']}; "
                    "2 cores shared with the backends: reported as it is)",
                    f"{row['rows_per_second'] / one['rows_per_second']:.2f}x",
                    "reported",
                )
            )
    errors = [r for r in section if "error" in r]
    found.append(
        (
            "every run accounted for every row with the single pass's counts and status",
            f"{len(section) - len(errors)} of {len(section)}",
            "yes" if not errors else "**no**",
        )
    )
    return found
