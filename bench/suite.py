"""The benchmark suite behind ``python -m bench`` (``make bench``).

Every measurement runs in a fresh interpreter (``bench.runner``) against a fresh moto server, so
that one run's table contents, caches and peak memory do not leak into the next. Results go to
``bench/results/latest.json`` and, as a table, into ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import charts, e2e, generate, split
from bench.backends import backend, client_env, moto_server
from bench.runner import processor_env
from runtime.contract import Handler

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATA = RESULTS / "data"
BENCHMARKS = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SPLIT_MARKERS = ("<!-- bench:split:begin -->", "<!-- bench:split:end -->")
CHARTS = ROOT / "docs" / "bench"
HANDLERS = (Handler.UPLOAD, Handler.STATUS, Handler.RESULTS, Handler.PROCESSOR, Handler.SWEEPER)
SYMBOLS = 50
BAD_SHARE = 0.01


@dataclass
class Case:
    label: str
    impl: str
    backend: str  # "moto", "sink" or "null"
    delay_ms: float
    file: Path
    data_rows: int
    extra: list[str] = field(default_factory=list)


def _human(rows: int) -> str:
    if rows >= 1_000_000:
        return f"{rows // 1_000_000}M"
    return f"{rows // 1000}k" if rows >= 1000 else str(rows)


def data_file(
    rows: int | None = None, size_mb: int | None = None, symbols: int = SYMBOLS
) -> tuple[Path, int]:
    """A cached generated file and its data-row count."""
    name = f"rows-{rows}" if rows else f"size-{size_mb}mb"
    bad = BAD_SHARE if rows else 0.0
    path = DATA / f"{name}-s{symbols}-b{bad}.csv"
    meta = path.with_suffix(".json")
    if not (path.exists() and meta.exists()):
        stats = generate.generate(
            path,
            rows=rows,
            size_bytes=size_mb * 1_000_000 if size_mb else None,
            symbols=symbols,
            bad_share=bad,
        )
        meta.write_text(json.dumps({"rows": stats.rows, "good": stats.good, "bytes": stats.bytes}))
    return path, int(json.loads(meta.read_text())["rows"])


def run_case(case: Case, log: Path, profile: Path | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter against a fresh backend."""
    with moto_server() as moto:
        if case.backend == "null":
            env, endpoint = client_env(moto, moto), None
            return _runner(case, env, log, ["--null-sink"], profile, endpoint)
        with backend(case.backend, case.delay_ms, moto) as target:
            env = client_env(target.s3, target.dynamodb)
            return _runner(case, env, log, [], profile, target.label)


def _runner(
    case: Case,
    env: dict[str, str],
    log: Path,
    extra: list[str],
    profile: Path | None,
    label: str | None,
) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.runner", case.impl, str(case.file), "--json"]
    args += extra + case.extra
    if profile is not None:
        args += ["--profile", str(profile)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as err:
        err.write(f"\n=== {case.label} {case.impl} {label or case.backend}\n")
        err.flush()
        done = subprocess.run(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=1800,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"error": f"exit {done.returncode}, see {log}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def import_times(repeat: int = 5) -> dict[str, float | str]:
    """Median wall time of ``import runtime.handlers.<handler>`` in a fresh interpreter, in ms."""
    env = client_env("http://127.0.0.1:9", "http://127.0.0.1:9")
    saved = dict(os.environ)
    processor_env("bench-uploads", "bench-jobs", "bench-results")
    env.update({k: v for k, v in os.environ.items() if k not in saved})
    os.environ.clear()
    os.environ.update(saved)
    # What Lambda sets: the X-Ray SDK checks LAMBDA_TASK_ROOT at import and, inside Lambda, uses
    # its local sampler instead of building a botocore client for the sampling service (about
    # 230 ms on this machine), so an import measured without it is not a Lambda cold start.
    env.update(
        {
            "LAMBDA_TASK_ROOT": str(ROOT),
            "AWS_LAMBDA_FUNCTION_NAME": "bench-import",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008",
        }
    )
    times: dict[str, float | str] = {}
    for handler in HANDLERS:
        name = handler.module.rpartition(".")[2]
        if not (ROOT / Path(*handler.module.split("."))).with_suffix(".py").exists():
            times[name] = "pending"
            continue
        code = (
            "import time; t = time.perf_counter(); "
            f"import {handler.module}; print((time.perf_counter() - t) * 1000)"
        )
        samples: list[float] = []
        for _ in range(repeat):
            done = subprocess.run(
                [sys.executable, "-c", code],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode:
                times[name] = "error: " + (done.stderr.strip().splitlines() or ["?"])[-1]
                break
            samples.append(float(done.stdout.strip().splitlines()[-1]))
        else:
            times[name] = round(statistics.median(samples), 1)
    return times


def synth_time() -> float | str:
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    if not (ROOT / "app.py").exists() or not (ROOT / "cdk.json").exists() or not cdk.exists():
        return "pending"
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{ROOT / 'node_modules' / '.bin'}:{env['PATH']}"
    env["JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION"] = "1"
    out = RESULTS / "cdk.out"
    start = time.perf_counter()
    done = subprocess.run(
        [str(cdk), "synth", "--quiet", "--output", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    seconds = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    if done.returncode:
        return "error: " + (done.stderr.strip().splitlines() or ["?"])[-1][:120]
    return round(seconds, 1)


def end_to_end(rows: int = 100_000) -> dict[str, Any]:
    """The local stack end to end (``bench.e2e``) in a fresh interpreter: as `make run` serves it
    and, for comparison, with a moto server for everything; then `make run`'s start time."""
    path, count = data_file(rows=rows)
    good = int(json.loads(path.with_suffix(".json").read_text())["good"])
    runs = []
    for name in e2e.BACKENDS:
        print(f"    end to end, {e2e.BACKENDS[name]}", file=sys.stderr, flush=True)
        result = e2e.run(path, count, good, backend=name)
        runs.append(result)
        print(f"      {_e2e_summary(result)}", file=sys.stderr, flush=True)
    print("    python -m local from the cached template", file=sys.stderr, flush=True)
    started = e2e.startup()
    print(f"      {started}", file=sys.stderr, flush=True)
    return {"file": _human(count), "data_rows": count, "runs": runs, "startup": started}


def _e2e_runs(e2e_report: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of an end-to-end report (older reports held one run)."""
    if "runs" in e2e_report:
        return list(e2e_report["runs"])
    return [{"backend": "local", **e2e_report}]


def _scenario(run: dict[str, Any], name: str) -> str:
    """A scenario's seconds, only when it accounted for every row; else what went wrong."""
    found = run.get(name) or {}
    if found.get("status") == "ok" and "seconds" in found:
        return str(found["seconds"])
    return str(found.get("status", "-"))


def _e2e_summary(run: dict[str, Any]) -> str:
    if "seconds" not in run:
        return str(run.get("status", "pending"))
    return (
        f"{run['seconds']} s (create {run.get('create_seconds', '-')} s, upload "
        f"{run.get('upload_seconds', '-')} s, processing {run.get('processing_seconds', '-')} s),"
        f" {run.get('status')}, counts {run.get('counts', 'unchecked')}"
    )


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


@contextlib.contextmanager
def _step(name: str) -> Iterator[None]:
    start = time.perf_counter()
    print(f"... {name}", file=sys.stderr, flush=True)
    yield
    print(f"    {name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def throughput_cases(full: bool, quick: bool) -> list[Case]:
    """10k rows on every backend; 100k on all but moto 0 ms (--full adds it, and 1M rows)."""
    every = [("sink", 0.0), ("sink", 10.0), ("moto", 0.0), ("moto", 10.0)]
    plan: list[tuple[int, list[tuple[str, float]]]] = [(10_000, every)]
    if quick:
        plan = [(10_000, [("sink", 10.0), ("moto", 10.0)])]
    elif full:
        plan += [(100_000, every), (1_000_000, [("sink", 10.0), ("moto", 10.0)])]
    else:
        plan.append((100_000, [("sink", 0.0), ("sink", 10.0), ("moto", 10.0)]))
    cases: list[Case] = []
    for rows, backends in plan:
        path, count = data_file(rows=rows)
        for name, delay in backends:
            for impl in ("processor", "baseline", "ceiling"):
                # The baseline on moto is the slowest run and the headline ratio is taken on the
                # sink: beyond 10k rows it runs with --full only.
                if impl == "baseline" and name == "moto" and rows > 10_000 and not full:
                    continue
                cases.append(Case(_human(rows), impl, name, delay, path, count))
    return cases


def split_section(args: argparse.Namespace, log: Path) -> dict[str, Any]:
    """Single pass against the split path (``bench.split``), and its two charts."""
    files = []
    cases = split.plan_cases(full=args.full, quick=args.quick)
    if args.split_files:
        cases = [split.parse_case(text) for text in args.split_files.split(",")]
    for rows, symbols in cases:
        path, count = data_file(rows=rows, symbols=symbols)
        files.append((path, count, symbols))
    parts: tuple[int, ...] = (1, 2) if args.quick else split.PARTS
    if args.split_parts:
        parts = tuple(int(n) for n in args.split_parts.split(","))
    runs = split.run_section(files, parts=parts, log=log)
    return {"runs": runs, "charts": draw_charts(runs)}


def draw_charts(runs: list[dict[str, Any]]) -> list[str]:
    """The PNGs beside BENCHMARKS.md, as paths relative to it. The suite's single-pass memory
    runs of the last full report, when there is one, add points to the memory chart."""
    memory: list[dict[str, Any]] = []
    latest = RESULTS / "latest.json"
    if latest.exists():
        for row in json.loads(latest.read_text()).get("memory", []):
            size = re.match(r"(\d+) MB", str(row.get("file", "")))
            if size and "max_rss_mb" in row:
                memory.append({"bytes": int(size.group(1)) * 1_000_000, **row})
    made = [
        charts.rows_per_second_chart(runs, CHARTS / "split-rows-per-second.png"),
        charts.memory_chart(runs, CHARTS / "peak-memory.png", memory),
    ]
    return [str(path.relative_to(ROOT)) for path in made]


def run(args: argparse.Namespace) -> dict[str, Any]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "logs" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "mode": "full" if args.full else "quick" if args.quick else "default",
        "throughput": [],
        "cpu": [],
        "memory": [],
    }
    with _step("generate files"):
        cases = throughput_cases(args.full, args.quick)
    with _step("throughput"):
        for case in cases:
            result = run_case(case, log)
            report["throughput"].append(_row(case, result))
            _progress(report["throughput"][-1])
    with _step("cpu per row (null sink)"):
        path, count = data_file(rows=10_000 if args.quick else 100_000)
        for impl in ("processor", "baseline"):
            case = Case(_human(count), impl, "null", 0.0, path, count)
            result = run_case(case, log)
            report["cpu"].append(_row(case, result))
            _progress(report["cpu"][-1])
    with _step("peak memory"):
        sizes = [10] if args.quick else [10, 100] + ([1000] if args.full else [])
        for size in sizes:
            path, count = data_file(size_mb=size)
            case = Case(f"{size} MB", "processor", "null", 0.0, path, count)
            result = run_case(case, log)
            report["memory"].append(_row(case, result))
            _progress(report["memory"][-1])
    if args.profile:
        with _step("profile"):
            path, count = data_file(rows=100_000)
            target = RESULTS / "profile-processor-sink10.txt"
            run_case(Case("100k", "processor", "sink", 10.0, path, count), log, target)
            report["profile"] = str(target.relative_to(ROOT))
    with _step("large files: single pass against the split path"):
        report["split"] = split_section(args, log)
    with _step("import time"):
        report["import_ms"] = import_times()
    with _step("end to end"):
        report["end_to_end"] = end_to_end(10_000 if args.quick else 100_000)
    with _step("synth"):
        report["synth_seconds"] = synth_time() if not args.quick else "skipped (--quick)"
    report["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    report["log"] = str(log.relative_to(ROOT))
    return report


def _row(case: Case, result: dict[str, Any]) -> dict[str, Any]:
    backend_label = (
        "null sink" if case.backend == "null" else f"{case.backend} {case.delay_ms:g} ms"
    )
    row: dict[str, Any] = {
        "file": case.label,
        "data_rows": case.data_rows,
        "backend": backend_label,
        "impl": case.impl,
    }
    if "error" in result:
        row["error"] = result["error"]
        return row
    row.update(
        rows=result["rows"],
        seconds=round(result["seconds"], 3),
        rows_per_second=round(result["rows_per_second"]),
        cpu_us_per_row=round(result["cpu_seconds"] / max(1, case.data_rows) * 1e6, 1),
        max_rss_mb=round(result["max_rss_mb"], 1),
        status=result.get("status", ""),
    )
    return row


def _progress(row: dict[str, Any]) -> None:
    what = row.get("error") or f"{row['rows_per_second']} rows/s, {row['max_rss_mb']} MB"
    print(f"    {row['file']:>6} {row['backend']:<10} {row['impl']:<9} {what}", file=sys.stderr)


def _ratio(rows: list[dict[str, Any]], file: str, backend_label: str, other: str) -> float | None:
    found = {
        r["impl"]: r.get("rows_per_second")
        for r in rows
        if r["file"] == file and r["backend"] == backend_label
    }
    mine, theirs = found.get("processor"), found.get(other)
    if not mine or not theirs:
        return None
    return float(mine) / float(theirs)


def render(report: dict[str, Any]) -> str:
    """The Markdown tables for BENCHMARKS.md and the terminal."""
    out: list[str] = []
    m = report["machine"]
    out.append(
        f"Measured {report['started']} ({report['mode']} run) on {m['cpu']}, {m['cores']} cores, "
        f"Python {m['python']}, {m['platform']}."
    )
    out += ["", "### Throughput (rows/s; data rows / wall time of the handler call)", ""]
    out.append(
        "| file | backend | processor | baseline | ceiling | processor / baseline "
        "| processor / ceiling |"
    )
    out.append("|---|---|---:|---:|---:|---:|---:|")
    rows = report["throughput"]
    seen: list[tuple[str, str]] = []
    for r in rows:
        if (r["file"], r["backend"]) not in seen:
            seen.append((r["file"], r["backend"]))
    for file, backend_label in seen:
        cells = {r["impl"]: r for r in rows if r["file"] == file and r["backend"] == backend_label}

        def cell(impl: str, cells: dict[str, dict[str, Any]] = cells) -> str:
            r = cells.get(impl)
            if r is None:
                return "-"
            return "n/a" if "error" in r else f"{r['rows_per_second']:,}"

        vs_base = _ratio(rows, file, backend_label, "baseline")
        vs_ceiling = _ratio(rows, file, backend_label, "ceiling")
        out.append(
            f"| {file} | {backend_label} | {cell('processor')} | {cell('baseline')} "
            f"| {cell('ceiling')} | {_fmt_ratio(vs_base, 'x')} | {_fmt_ratio(vs_ceiling, '%')} |"
        )
    out += ["", "### Targets (reported, not asserted)", ""]
    out.append("| target | measured | met |")
    out.append("|---|---:|---|")
    for name, value, met in targets(report):
        out.append(f"| {name} | {value} | {met} |")
    out += ["", "### Client CPU per row (writes answered in-process: parse, validate, encode)", ""]
    out.append("| file | implementation | CPU µs/row | wall rows/s | peak RSS MB |")
    out.append("|---|---|---:|---:|---:|")
    for r in report["cpu"]:
        if "error" in r:
            out.append(f"| {r['file']} | {r['impl']} | n/a | n/a | n/a |")
        else:
            out.append(
                f"| {r['file']} | {r['impl']} | {r['cpu_us_per_row']} | "
                f"{r['rows_per_second']:,} | {r['max_rss_mb']} |"
            )
    out += [
        "",
        "### Peak memory of the processor (ru_maxrss of its process; writes answered in-process)",
        "",
    ]
    out.append("| file | data rows | peak RSS MB | rows/s | job status |")
    out.append("|---|---:|---:|---:|---|")
    for r in report["memory"]:
        if "error" in r:
            out.append(f"| {r['file']} | {r['data_rows']:,} | n/a | n/a | {r['error']} |")
        else:
            out.append(
                f"| {r['file']} | {r['data_rows']:,} | {r['max_rss_mb']} | "
                f"{r['rows_per_second']:,} | {r['status']} |"
            )
    out += ["", "### Cold start and synth", ""]
    out.append("| what | value |")
    out.append("|---|---:|")
    for name, value in report["import_ms"].items():
        shown = f"{value} ms" if isinstance(value, float) else value
        out.append(
            f"| `import runtime.handlers.{name}` (median of 5, fresh interpreter) | {shown} |"
        )
    synth = report["synth_seconds"]
    out.append(
        f"| `cdk synth` of the app | {f'{synth} s' if isinstance(synth, float) else synth} |"
    )
    out += ["", render_end_to_end(report["end_to_end"]).rstrip("\n")]
    return "\n".join(out) + "\n"


def render_end_to_end(e2e_report: dict[str, Any]) -> str:
    """The end-to-end table: one row per placement of moto, with the phases."""
    out: list[str] = []
    out += [
        f"### End to end on the local stack ({e2e_report.get('file', '100k')} rows, "
        f"{SYMBOLS} symbols; seconds)",
        "",
    ]
    out.append(
        "| backend of the local stack | create job | presigned POST upload "
        "| processing until final | total | job status | counts in /status "
        f"| {e2e.READ_BACK_ROWS // 1000}k rows read back (pages of {e2e.READ_BACK_PAGE}) "
        f"| {e2e.CONCURRENT_JOBS} jobs of {e2e.CONCURRENT_ROWS} rows |"
    )
    out.append("|---|---:|---:|---:|---:|---|---|---:|---:|")
    for run in _e2e_runs(e2e_report):
        where = e2e.BACKENDS.get(str(run.get("backend")), str(run.get("backend")))
        if "seconds" in run:
            out.append(
                f"| {where} | {run.get('create_seconds', '-')} | {run.get('upload_seconds', '-')} "
                f"| {run.get('processing_seconds', '-')} | {run['seconds']} | {run.get('status')} "
                f"| {run.get('counts', 'unchecked')} | {_scenario(run, 'read_back')} "
                f"| {_scenario(run, 'concurrent')} |"
            )
        else:
            out.append(f"| {where} | - | - | - | - | {run.get('status', 'pending')} | - | - | - |")
    started = e2e_report.get("startup") or {}
    if started:
        out += [
            "",
            f"`python -m local` (`make run`) from the cached template to its banner: "
            f"{started.get('serving_seconds', '-')} s; SIGTERM to exit: "
            f"{started.get('stop_seconds', '-')} s ({started.get('status')}).",
        ]
    return "\n".join(out) + "\n"


def targets(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The issue's targets against this run: (target, measured value, met?)."""
    rows = report["throughput"]
    largest = max((r["data_rows"] for r in rows), default=0)
    file = _human(largest) if largest else "-"
    found: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else "yes" if ok else "**no**"

    for backend_label, other, floor, unit in (
        ("sink 10 ms", "baseline", 10.0, "x"),
        ("sink 10 ms", "ceiling", 0.8, "%"),
        ("moto 10 ms", "ceiling", 0.8, "%"),
    ):
        ratio = _ratio(rows, file, backend_label, other)
        shown = f"{floor:g}x" if unit == "x" else f"{floor * 100:.0f}%"
        found.append(
            (
                f"{file}, {backend_label}: processor / {other} >= {shown}",
                _fmt_ratio(ratio, unit),
                verdict(None if ratio is None else ratio >= floor),
            )
        )
    peaks = [r["max_rss_mb"] for r in report["memory"] if "max_rss_mb" in r]
    peak = max(peaks) if peaks else None
    sizes = ", ".join(r["file"] for r in report["memory"])
    found.append(
        (
            f"peak RSS < 256 MB ({sizes})",
            "-" if peak is None else f"{peak} MB",
            verdict(None if peak is None else peak < 256),
        )
    )
    imports = [v for v in report["import_ms"].values() if isinstance(v, float)]
    slowest = max(imports) if imports else None
    found.append(
        (
            "every handler imports in < 300 ms",
            "-" if slowest is None else f"{slowest} ms (slowest)",
            verdict(None if slowest is None else slowest < 300),
        )
    )
    e2e_report = report["end_to_end"]
    for run in _e2e_runs(e2e_report):
        seconds = run.get("seconds") if run.get("counts", "ok") == "ok" else None
        where = e2e.BACKENDS.get(str(run.get("backend")), run.get("backend"))
        found.append(
            (
                f"{e2e_report.get('file', '100k')} rows end to end on the local stack < 30 s "
                f"({where})",
                "-" if seconds is None else f"{seconds} s",
                verdict(None if seconds is None else seconds < 30),
            )
        )
        if run.get("backend", "local") != "local":
            continue
        for name, label, limit in (
            ("read_back", f"{e2e.READ_BACK_ROWS // 1000}k rows read back through /results", 3),
            ("concurrent", f"{e2e.CONCURRENT_JOBS} concurrent jobs of 2,001 rows final", 15),
        ):
            shown = _scenario(run, name)
            value = (run.get(name) or {}).get("seconds") if shown[:1].isdigit() else None
            found.append(
                (
                    f"{label} < {limit} s ({where})",
                    "-" if value is None else f"{value} s",
                    verdict(None if value is None else value < limit),
                )
            )
    started = e2e_report.get("startup") or {}
    serving = started.get("serving_seconds") if started.get("status") == "ok" else None
    if started:
        found.append(
            (
                "`make run` from the cached template to serving < 5 s",
                "-" if serving is None else f"{serving} s",
                verdict(None if serving is None else serving < 5),
            )
        )
    return found


def _fmt_ratio(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}x" if unit == "x" else f"{value * 100:.0f}%"


def update_benchmarks(table: str, markers: tuple[str, str] = (BEGIN, END)) -> None:
    begin, end = markers
    block = f"{begin}\n{table}{end}"
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else f"# Benchmarks\n\n{begin}\n{end}\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text += "\n" + block + "\n"
    BENCHMARKS.write_text(text)


def main(argv: list[str] | None = None, *, write: Callable[[str], None] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="add 1M rows and the 1 GB file")
    parser.add_argument("--quick", action="store_true", help="smallest files only (a smoke run)")
    parser.add_argument("--profile", action="store_true", help="pyinstrument profile of 100k/sink")
    parser.add_argument(
        "--no-write", action="store_true", help="do not update BENCHMARKS.md (JSON only)"
    )
    parser.add_argument(
        "--e2e-only",
        action="store_true",
        help="only the end-to-end cases (make run's stack, moto for everything, the start time); "
        "writes bench/results/e2e.json, "
        "prints its table, leaves BENCHMARKS.md alone",
    )
    parser.add_argument(
        "--split-only",
        action="store_true",
        help="only the large-file cases (single pass against the split path with 1, 2, 4 and 8 "
        "parts, 1M rows; --full adds 5M): writes bench/results/split.json, the charts and the "
        "split section of BENCHMARKS.md",
    )
    parser.add_argument(
        "--split-files",
        metavar="ROWSxSYMBOLS,...",
        help="the large files instead of the default ones, e.g. 5000000x50,1000000x1",
    )
    parser.add_argument(
        "--split-parts", metavar="N,...", help="the part counts instead of 1,2,4,8, e.g. 2,8"
    )
    parser.add_argument(
        "--split-json",
        default="split.json",
        help="the file under bench/results/ that --split-only writes (default split.json)",
    )
    args = parser.parse_args(argv)
    if args.split_only:
        RESULTS.mkdir(parents=True, exist_ok=True)
        log = RESULTS / "logs" / f"split-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
        with _step("large files: single pass against the split path"):
            section = split_section(args, log)
        section["machine"] = machine()
        (RESULTS / args.split_json).write_text(json.dumps(section, indent=2) + "\n")
        table = split.render(section["runs"], section["charts"])
        (write or print)(table)
        if not args.no_write:
            update_benchmarks(table, SPLIT_MARKERS)
        return 0
    if args.e2e_only:
        RESULTS.mkdir(parents=True, exist_ok=True)
        with _step("end to end"):
            result = end_to_end(10_000 if args.quick else 100_000)
        (RESULTS / "e2e.json").write_text(json.dumps(result, indent=2) + "\n")
        (write or print)(render_end_to_end(result))
        return 0
    report = run(args)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    table = render(report)
    split_table = split.render(report["split"]["runs"], report["split"]["charts"])
    (write or print)(table + "\n" + split_table)
    if not args.no_write:
        update_benchmarks(table)
        update_benchmarks(split_table, SPLIT_MARKERS)
    return 0
