"""``python -m local`` (what `make run` starts) stops everything it started on SIGTERM and on
Ctrl-C (SIGINT): dynalite, the moto server and every worker process, within seconds."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from local.synth import SynthesizedStack

ROOT = Path(__file__).resolve().parents[2]
MARKER = "FPIPE_LOCAL_RUN_TEST"


def _marked(value: str) -> set[int]:
    """Processes whose environment carries ``MARKER=value``: the run and all it started."""
    needle = f"{MARKER}={value}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and needle in environ.split(b"\0"):
            found.add(int(entry.name))
    return found


def _wait_for_banner(process: subprocess.Popen[bytes], timeout: float) -> str:
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while b"press Ctrl-C" not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0 and process.poll() is None, f"no banner: {seen.decode()[-500:]}"
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if readable:
            seen += os.read(process.stdout.fileno(), 65536)
    return seen.decode()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_r29_local_run_stops_every_process_it_started_on_a_signal(
    synthesized: SynthesizedStack, tmp_path: Path, signum: int
) -> None:
    # Given `python -m local` serving (from the cached template) with no stdin, as CI runs it
    marker = uuid.uuid4().hex
    env = {**os.environ, MARKER: marker, "PYTHONUNBUFFERED": "1"}
    with (tmp_path / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", "0", "--quiet"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            banner = _wait_for_banner(process, timeout=120)
            children = _marked(marker) - {process.pid}
            # dynalite, moto and one warm worker per function (five in the dev stack)
            assert len(children) >= 7, banner

            # When it receives the signal
            started = time.monotonic()
            process.send_signal(signum)
            code = process.wait(timeout=15)
            elapsed = time.monotonic() - started
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    # Then it exits cleanly within seconds and no process it started survives it
    assert code == 0, (tmp_path / "stderr.log").read_text()[-2000:]
    assert elapsed < 8
    deadline = time.monotonic() + 3
    while (left := _marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == set()
