"""Child processes of the local run (dynalite, the moto server, the function workers): started
with a pipe to their stdin that only this process holds, so that a child whose parent dies (even
by SIGKILL) sees end-of-file and exits instead of outliving it; stopped by process group.

Each child gets a process group of its own: Ctrl-C in a terminal signals the foreground group,
and the local run, not the terminal, decides the order in which its parts stop. `ChildServer`
is a child that serves HTTP on a loopback port (dynalite, moto): started, waited on until it
answers, stopped with its group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

__all__ = ["Child", "ChildServer", "free_port"]

ROOT = Path(__file__).resolve().parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Child:
    """One child process in its own process group, tied to this process by its stdin pipe."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdout: int | None = subprocess.DEVNULL,
        stderr: int | None = None,
    ) -> None:
        self.name = name
        # The local run's own children: the argv is built by this package, never a user's.
        self.process: subprocess.Popen[bytes] = subprocess.Popen(  # noqa: S603
            list(args),
            cwd=ROOT,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 3.0) -> None:
        """Close its stdin (it exits on end-of-file), then SIGTERM and SIGKILL its group."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        for sig, wait in ((None, 0.5), (signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, sig)
            try:
                self.process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # A grandchild that ignored SIGTERM goes with the group, even after its parent exited.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


class ChildServer:
    """A server in a child process on a loopback port: started at construction, `wait()` until
    it answers HTTP on ``health_path``, `stop()` with its process group.

    A subclass builds the argv for its port and may configure the server once it answers
    (`_on_ready`).
    """

    health_path = "/"
    start_timeout = 30.0

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str] | None = None,
        stderr: int | None = None,
    ) -> None:
        self.port = port
        self._child = Child(name, args, env=env, stderr=stderr)

    @property
    def name(self) -> str:
        return self._child.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self._child.pid

    def alive(self) -> bool:
        return self._child.alive()

    def wait(self, timeout: float | None = None) -> Self:
        """Until an HTTP request to ``health_path`` gets any answer (an error status is one)."""
        timeout = self.start_timeout if timeout is None else timeout
        url = self.url + self.health_path
        deadline = time.monotonic() + timeout
        while True:
            if not self._child.alive():
                raise RuntimeError(
                    f"{self.name} exited with {self._child.process.returncode} on start"
                )
            try:
                urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 - a loopback http URL
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{self.name} did not answer on {url} in {timeout}s"
                    ) from None
                time.sleep(0.03)
        self._on_ready()
        return self

    def _on_ready(self) -> None:
        """What the server needs once it answers, before it is used; nothing by default."""

    def stop(self) -> None:
        self._child.stop()
