"""Integrity (R28): the file's digest, and the checks against what the sender declared.

The digest is SHA-256 of the object's bytes, lowercase hex, computed from the chunks a pass
already reads (`DigestingChunks`), never by a read of its own, except where the declared digest
must be checked before any row is stored (`runtime.logic.processor`). The control total is the
data-row count (`rows.total`: accepted + rejected + duplicates; blank lines are not rows).
Both paths, the single pass and the split finisher, settle the control total with
`control_total`, so their errors are identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from runtime.contract import JobStatus

CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
CONTROL_TOTAL_MISMATCH = "CONTROL_TOTAL_MISMATCH"


class DigestingChunks:
    """The chunks of `source`, hashed as they are read.

    An iterator, not a generator: when a reader stops early (a file-level failure), `finish`
    reads the rest into the digest, so the digest is always of the whole object.
    """

    def __init__(self, source: Iterable[bytes]) -> None:
        self._source = iter(source)
        self._hash = hashlib.sha256()

    def __iter__(self) -> DigestingChunks:
        return self

    def __next__(self) -> bytes:
        chunk = next(self._source)
        self._hash.update(chunk)
        return chunk

    def finish(self, on_chunk: Callable[[], None] | None = None) -> str:
        """Hash what the reader left unread (calling `on_chunk` before each chunk, so a caller
        can watch its deadline); the object's digest."""
        for _ in self:
            if on_chunk is not None:
                on_chunk()
        return self._hash.hexdigest()


def digest_of(chunks: Iterable[bytes]) -> str:
    """The digest of a whole stream (the check that runs before any row is stored)."""
    return DigestingChunks(chunks).finish()


def checksum_error(expected: str, actual: str) -> dict[str, Any]:
    """The job's error when the object is not the file the sender declared."""
    return {
        "code": CHECKSUM_MISMATCH,
        "message": f"the file's sha256 is {actual}, but the upload declared {expected}",
        "expected": expected,
        "actual": actual,
    }


def control_total(
    status: JobStatus,
    errors: list[dict[str, Any]],
    *,
    expected_rows: int | None,
    total: int,
) -> tuple[JobStatus, list[dict[str, Any]]]:
    """The status and errors of a job whose rows are all read, after the declared row count.

    A completed job whose count differs gets `CONTROL_TOTAL_MISMATCH` (its rows stay stored: they
    are valid rows) and becomes COMPLETED_WITH_ERRORS; a FAILED job, or one without a declared
    count, is left as it is.
    """
    if expected_rows is None or expected_rows == total or status == JobStatus.FAILED:
        return status, errors
    mismatch = {
        "code": CONTROL_TOTAL_MISMATCH,
        "message": f"the upload declared {expected_rows} data row(s), the file has {total}",
        "expected": expected_rows,
        "actual": total,
    }
    return JobStatus.COMPLETED_WITH_ERRORS, [*errors, mismatch]
