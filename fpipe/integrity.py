"""What ``fpipe upload`` declares about a file (R28): its sha256 and its data-row count.

The pipeline checks both against what it reads: a digest that differs fails the job
(``CHECKSUM_MISMATCH``) before any row is stored, a count that differs leaves it
``COMPLETED_WITH_ERRORS`` (``CONTROL_TOTAL_MISMATCH``). So the count here is the pipeline's own
``rows.total``: every record after the header as Python's csv module reads the file (RFC 4180
quoting, so a newline inside quotes is no new record), blank lines not counted, a UTF-8 BOM
ignored, LF or CRLF. A row the pipeline rejects still counts. fpipe ships without the Lambda
code, so the rules are written here again; a test holds them to the pipeline's parser.

One pass over the file: the digest is computed from the bytes the count reads.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["FileFacts", "file_facts"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileFacts:
    """A file's sha256 (lowercase hex) and its data rows.

    ``rows`` is None when the file cannot be read as UTF-8 CSV (the pipeline fails such a file
    whatever is declared); ``problem`` then says why.
    """

    sha256: str
    rows: int | None
    problem: str | None = None


class _HashingReader(io.RawIOBase):
    """Hands on the bytes of ``raw`` and hashes each of them once, as it is read."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.digest.update(data)
        return len(data)

    def finish(self) -> str:
        """Hash whatever was not read yet; the digest of the whole file."""
        while chunk := self._raw.read(_CHUNK):
            self.digest.update(chunk)
        return self.digest.hexdigest()


def file_facts(path: Path) -> FileFacts:
    """The sha256 and the data-row count of the file at ``path``."""
    with path.open("rb") as raw:
        hashing = _HashingReader(raw)
        # Lines end at "\n" only, untranslated, as the pipeline splits them; "utf-8-sig"
        # drops a BOM at the start of the file and nowhere else.
        text = io.TextIOWrapper(
            io.BufferedReader(hashing, _CHUNK), encoding="utf-8-sig", newline="\n"
        )
        rows: int | None = None
        problem = None
        try:
            rows = _data_rows(text)
        except UnicodeDecodeError:
            problem = "the file is not valid UTF-8"
        except csv.Error as exc:
            problem = f"the file is not valid CSV ({exc})"
        return FileFacts(sha256=hashing.finish(), rows=rows, problem=problem)


def _data_rows(lines: io.TextIOWrapper) -> int:
    header_seen = False
    rows = 0
    for cells in csv.reader(lines, strict=True):
        if not cells:
            continue  # a blank line
        if header_seen:
            rows += 1
        else:
            header_seen = True
    return rows
