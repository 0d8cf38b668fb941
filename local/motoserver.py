"""moto (S3, SQS, Step Functions and the rest) as a server in a child process of the local run.

In its own process so that its CPU does not share the handlers' GIL, and so that ``MOTO_PORT``,
which moto's Step Functions engine reads to send its AWS calls (Lambda tasks among them) to
``http://localhost:$MOTO_PORT``, can name the local endpoint rather than moto itself.

``python -m local.motoserver PORT``: the child's entry point; it exits when its stdin closes.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import urllib.request

from local.children import ChildServer, free_port

__all__ = ["MotoServer"]


class MotoServer(ChildServer):
    """A moto server on a free loopback port whose engines call back to ``callback_port``."""

    health_path = "/moto-api/"
    start_timeout = 60.0

    def __init__(self, *, callback_port: int, execute_state_machines: bool = True) -> None:
        port = free_port()
        self._execute = execute_state_machines
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["MOTO_PORT"] = str(callback_port)
        super().__init__(
            "moto", [sys.executable, "-m", "local.motoserver", str(port)], port=port, env=env
        )

    def reset(self) -> None:
        self._post("/moto-api/reset", b"")
        self._on_ready()

    def _on_ready(self) -> None:
        if self._execute:
            # The template's state machines run on moto's ASL engine, not on a local imitation.
            self._post("/moto-api/config", b'{"stepfunctions": {"execute_state_machine": true}}')

    def _post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 - moto's loopback URL
            self.url + path,
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=30).close()  # noqa: S310 - moto's loopback URL


def _exit_when_parent_goes() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


def main(argv: list[str]) -> None:
    threading.Thread(target=_exit_when_parent_goes, daemon=True).start()
    # Every backend call would be logged (werkzeug, INFO): the local run's own log is the one
    # worth reading.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - the child process only

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(argv[0]), verbose=False)
    server.start()
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
