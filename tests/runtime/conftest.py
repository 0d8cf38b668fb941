"""Runtime tests run the real handlers against moto in server mode (a real HTTP endpoint), with
the buckets, tables and queues of the synthesized template."""

from __future__ import annotations

from runtime_support import moto_endpoint, pipeline, symbol

__all__ = ["moto_endpoint", "pipeline", "symbol"]
