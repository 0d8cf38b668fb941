"""Warm pools of worker processes (``local.worker``), one pool per function, as Lambda keeps warm
containers: each worker has the function's own environment and module state and runs one
invocation at a time; a pool grows on demand up to its size (the function's reserved concurrency,
capped locally) and an invocation waits for a free worker beyond that.

A worker that crashes, exits or outlives the function's ``Timeout`` (it is killed then) fails
that invocation with the error Lambda reports, and a new worker replaces it.

Lambda's other limits of a container hold for each worker:
- memory: a worker whose resident memory exceeds the function's ``MemorySize`` while it runs an
  invocation is killed (its RSS is read every `MEMORY_POLL_SECONDS`, so a spike shorter than that
  can pass), and the invocation fails with ``Runtime.OutOfMemory``, as Lambda reports it;
- ``/tmp``: the worker's ``TMPDIR`` (what `tempfile` and the code's spill directories use) is its
  own directory, a tmpfs of the function's ``EphemeralStorage`` size when this process may mount
  one (root on Linux), so a write past it fails with ENOSPC as on Lambda. Where it may not, the
  directory is not capped, and `TMP_CAPPED` says so (the banner shows it). Code that writes to a
  literal ``/tmp`` path, not through ``TMPDIR``, is not capped either.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from typing import Any

from local.children import Child

__all__ = ["FunctionError", "WorkerPool", "local_concurrency_cap", "tmp_capped"]

log = logging.getLogger("local.workers")

# Lambda gives a function's initialization 10 s; a cold import on a busy two-core machine may
# need more, and a slow start is not the function's error here.
INIT_TIMEOUT_SECONDS = 60.0


def local_concurrency_cap() -> int:
    """Workers per function at most: more processes than this only compete for the cores."""
    return 2 * (os.cpu_count() or 1)


MEMORY_POLL_SECONDS = 0.05
DEFAULT_TMP_MB = 512
"""Lambda's ``/tmp`` without an ``EphemeralStorage`` setting."""


class _TmpState:
    capped: bool | None = None  # None: no worker has tried to mount one yet
    lock = threading.Lock()


def tmp_capped() -> bool | None:
    """Whether the workers' ``/tmp`` is capped at the function's ephemeral storage (a tmpfs
    each); None before the first worker started."""
    return _TmpState.capped


class _Scratch:
    """One worker's ``/tmp``: a directory, a tmpfs of ``size_mb`` when it may be mounted."""

    def __init__(self, size_mb: int) -> None:
        self.path = tempfile.mkdtemp(prefix="fpipe-lambda-tmp-")
        self.mounted = False
        mount = shutil.which("mount")
        if _TmpState.capped is not False and sys.platform.startswith("linux") and mount:
            options = f"size={int(size_mb)}m,mode=1777"
            mounted = subprocess.run(  # noqa: S603 - fixed arguments, our own directory
                [mount, "-t", "tmpfs", "-o", options, "tmpfs", self.path],
                capture_output=True,
                check=False,
            )
            self.mounted = mounted.returncode == 0
            reason = mounted.stderr.decode(errors="replace").strip() or str(mounted.returncode)
        else:
            reason = "no mount(8)" if not mount else "not Linux"
        with _TmpState.lock:
            if _TmpState.capped is None and not self.mounted:
                log.warning(
                    "the functions' /tmp is not capped at their ephemeral storage (cannot mount "
                    "a tmpfs: %s)",
                    reason,
                )
            _TmpState.capped = self.mounted

    def remove(self) -> None:
        umount = shutil.which("umount")
        if self.mounted and umount:
            subprocess.run(  # noqa: S603 - fixed arguments, our own mount
                [umount, "-l", self.path], capture_output=True, check=False
            )
            self.mounted = False
        shutil.rmtree(self.path, ignore_errors=True)


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


class FunctionError(Exception):
    """An invocation's error as Lambda reports it (``errorType``, ``errorMessage``)."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.stack = stack or []


class _Exited(Exception):
    pass


class _OutOfMemory(Exception):
    pass


class _Worker:
    def __init__(
        self,
        name: str,
        handler: str,
        env: Mapping[str, str],
        *,
        memory_mb: int | None = None,
        tmp_mb: int = DEFAULT_TMP_MB,
    ) -> None:
        self.memory_mb = memory_mb
        self.scratch = _Scratch(tmp_mb)
        self.child = Child(
            f"worker {name}",
            [sys.executable, "-m", "local.worker", handler],
            env={**env, "TMPDIR": self.scratch.path},
            stdout=subprocess.PIPE,
        )
        assert self.child.process.stdout is not None
        self._fd = self.child.process.stdout.fileno()
        self._buffer = b""
        self.ready: dict[str, Any] | None = None

    @property
    def pid(self) -> int:
        return self.child.pid

    def _line(self, deadline: float, *, watch_memory: bool = False) -> dict[str, Any] | None:
        """The next message, or ``None`` at the deadline; `_Exited` when the worker is gone,
        `_OutOfMemory` (``watch_memory``) when its memory exceeds the function's."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            watching = watch_memory and self.memory_mb is not None
            wait = min(remaining, MEMORY_POLL_SECONDS) if watching else remaining
            readable, _, _ = select.select([self._fd], [], [], wait)
            if watching and self.memory_mb is not None and _rss_mb(self.pid) > self.memory_mb:
                raise _OutOfMemory
            if not readable:
                continue
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise _Exited
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

    def wait_ready(self) -> dict[str, Any]:
        if self.ready is None:
            try:
                self.ready = self._line(time.monotonic() + INIT_TIMEOUT_SECONDS) or {
                    "ready": False,
                    "errorType": "Runtime.InitTimeout",
                    "errorMessage": f"init did not finish in {INIT_TIMEOUT_SECONDS:.0f}s",
                }
            except _Exited:
                self.ready = {
                    "ready": False,
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"exited on init with {self._exit_code()}",
                }
        return self.ready

    def invoke(self, event: dict[str, Any], context: dict[str, Any], timeout: float) -> Any:
        """The handler's result; `FunctionError` for its exception, an exit or a timeout."""
        assert self.child.process.stdin is not None
        request = json.dumps({"event": event, "context": context}).encode() + b"\n"
        try:
            self.child.process.stdin.write(request)
            self.child.process.stdin.flush()
            answer = self._line(time.monotonic() + timeout, watch_memory=True)
        except _OutOfMemory:
            self.kill()
            raise FunctionError(
                "Runtime.OutOfMemory",
                f"RequestId: {context['aws_request_id']} Error: Runtime exited with error: "
                f"signal: killed (memory above {self.memory_mb} MB)",
            ) from None
        except (_Exited, BrokenPipeError):
            raise FunctionError(
                "Runtime.ExitError",
                f"RequestId: {context['aws_request_id']} Error: Runtime exited with error: "
                f"exit status {self._exit_code()}",
            ) from None
        if answer is None:
            self.kill()
            raise FunctionError("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds")
        if "result" in answer:
            return answer["result"]
        raise FunctionError(
            str(answer.get("errorType", "Error")),
            str(answer.get("errorMessage", "")),
            list(answer.get("stackTrace") or []),
        )

    def _exit_code(self) -> int | None:
        try:
            return self.child.process.wait(2)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.child.pid, signal.SIGKILL)
        self.close()

    def close(self) -> None:
        """Stop the worker (if it runs) and remove its ``/tmp``."""
        self.child.stop()
        self.scratch.remove()

    def alive(self) -> bool:
        return self.child.alive()


class WorkerPool:
    """The warm workers of one function."""

    def __init__(
        self,
        *,
        name: str,
        handler: str,
        environment: Mapping[str, str],
        size: int,
        timeout_seconds: float,
        memory_mb: int | None = None,
        tmp_mb: int = DEFAULT_TMP_MB,
    ) -> None:
        self.name = name
        self.memory_mb = memory_mb
        self.tmp_mb = tmp_mb
        self.handler = handler
        self.size = max(1, size)
        self.timeout_seconds = timeout_seconds
        self._env = dict(environment)
        self._idle: list[_Worker] = []
        self._alive: set[_Worker] = set()
        self._cond = threading.Condition()
        self._stopped = False

    def pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in self._alive]

    def prestart(self) -> None:
        """One worker now, importing the handler while the caller does other work."""
        with self._cond:
            if not self._alive and not self._stopped:
                self._idle.append(self._spawn())

    def wait_warm(self) -> str | None:
        """Waits for the prestarted workers' cold start; the import error, if there is one."""
        with self._cond:
            workers = list(self._idle)
        for worker in workers:
            ready = worker.wait_ready()
            if not ready.get("ready"):
                self._discard(worker, replace=False)
                return f"{ready.get('errorType')}: {ready.get('errorMessage')}"
        return None

    def invoke(self, event: dict[str, Any], context: dict[str, Any]) -> Any:
        worker = self._acquire()
        ready = worker.wait_ready()
        if not ready.get("ready"):
            # As a deployed function with broken code: every invocation retries the init.
            self._discard(worker, replace=False)
            raise FunctionError(str(ready.get("errorType")), str(ready.get("errorMessage")))
        try:
            result = worker.invoke(event, context, self.timeout_seconds)
        except FunctionError as exc:
            if (
                exc.error_type in ("Sandbox.Timedout", "Runtime.ExitError", "Runtime.OutOfMemory")
                or not worker.alive()
            ):
                log.warning("%s: worker %d replaced after %s", self.name, worker.pid, exc)
                self._discard(worker, replace=True)
            else:
                self._release(worker)
            raise
        except BaseException:
            self._discard(worker, replace=True)
            raise
        self._release(worker)
        return result

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            workers = list(self._alive)
            self._alive.clear()
            self._idle.clear()
            self._cond.notify_all()
        # Lambda gives a container no say in its shutdown either: all are signalled at once,
        # then each is waited for.
        for worker in workers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.close()

    def _spawn(self) -> _Worker:
        worker = _Worker(
            self.name, self.handler, self._env, memory_mb=self.memory_mb, tmp_mb=self.tmp_mb
        )
        self._alive.add(worker)
        return worker

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self._stopped:
                    raise FunctionError("Local.Stopped", f"{self.name}: the local run is stopping")
                if self._idle:
                    return self._idle.pop()
                if len(self._alive) < self.size:
                    return self._spawn()
                self._cond.wait()

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if self._stopped or worker not in self._alive:
                stale = True
            else:
                self._idle.append(worker)
                self._cond.notify()
                stale = False
        if stale:
            worker.close()

    def _discard(self, worker: _Worker, *, replace: bool) -> None:
        with self._cond:
            self._alive.discard(worker)
            with contextlib.suppress(ValueError):
                self._idle.remove(worker)
            if replace and not self._stopped and not self._idle:
                self._idle.append(self._spawn())
            self._cond.notify()
        worker.kill()
