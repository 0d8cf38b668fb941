"""`ChildServer`, the one base of the local run's child servers (dynalite, moto): started on a
port, waited on until it answers HTTP, stopped with its whole process group."""

from __future__ import annotations

import os
import sys
import time

import pytest

from local.children import ChildServer, free_port
from local.dynalite import Dynalite
from local.motoserver import MotoServer

# An HTTP server that first starts a grandchild which ignores SIGTERM, as a server's helper
# process might: stopping the server must take it along.
_SERVER = """
import http.server, signal, subprocess, sys
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])),
    http.server.SimpleHTTPRequestHandler).serve_forever()
"""


class _Server(ChildServer):
    health_path = "/"
    ready = 0

    def __init__(self, script: str) -> None:
        port = free_port()
        super().__init__("test server", [sys.executable, "-c", script, str(port)], port=port)

    def _on_ready(self) -> None:
        self.ready += 1


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_child_server_waits_until_it_answers_and_stops_its_whole_process_group() -> None:
    # Given a server child with a grandchild that ignores SIGTERM
    server = _Server(_SERVER)
    try:
        # When it is waited on
        assert server.wait(timeout=30) is server

        # Then it answers on its port, and its ready hook ran once
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.ready == 1
        assert _group_alive(server.pid)
    finally:
        # When it is stopped
        server.stop()

    # Then nothing of its process group is left (the grandchild went with it)
    deadline = time.monotonic() + 5
    while _group_alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _group_alive(server.pid)


def test_fails_to_wait_on_a_child_server_that_exits_on_start() -> None:
    # Given a child that exits before it ever listens
    server = _Server("import sys; sys.exit(3)")
    try:
        # When waited on / Then the error names it and its exit status, not a timeout
        with pytest.raises(RuntimeError, match="test server exited with 3 on start"):
            server.wait(timeout=30)
        assert server.ready == 0
    finally:
        server.stop()


def test_fails_to_wait_past_the_timeout_on_a_child_server_that_never_answers() -> None:
    # Given a child that lives but never listens
    server = _Server("import time; time.sleep(600)")
    try:
        # When waited on briefly / Then the timeout names the server and its URL
        with pytest.raises(TimeoutError, match=f"test server did not answer on {server.url}/"):
            server.wait(timeout=0.5)
    finally:
        server.stop()


def test_dynalite_and_moto_share_the_base_and_only_differ_in_what_they_run() -> None:
    # Then neither server class has start, wait or stop logic of its own
    for server in (Dynalite, MotoServer):
        assert issubclass(server, ChildServer)
        for method in ("wait", "stop", "url", "pid"):
            assert method not in vars(server), (server.__name__, method)
    assert MotoServer.health_path == "/moto-api/"
