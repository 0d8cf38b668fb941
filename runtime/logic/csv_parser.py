"""The streaming CSV parser: bytes in, records out, each checked by the field rules it is given.

It reads the bytes (UTF-8, the BOM, LF or CRLF line endings, the longest line), the header and
the records, counts lines and records, rejects records of the wrong width, and decides
duplicates; what a header must hold and what a record's cells must be are the rules'
(`FieldRules`; `runtime.logic.csv_rules` for the market data of the SPEC), so that other rules
can be given without touching the parser. No AWS here. This is the per-row hot path, so it leans on
C-implemented pieces (the incremental UTF-8 decoder, `csv.reader`, `str` methods).

Memory is bounded by the longest line (`MAX_LINE_CHARS`) plus the duplicate index: one entry per
distinct (symbol, timestamp) key, a 64-bit fingerprint of the key mapped to a 64-bit fingerprint
of the value (about 120 bytes per distinct key in CPython), up to `max_keys` entries. A file with
more distinct keys hands its index to a `runtime.logic.dedup.SpillIndex` and is finished in a
second pass (`CsvParser(..., resume=first_pass)`), with the same rows, counts and report.
The fingerprints use Python's keyed SipHash (`hash` on `str`, randomized per process), so a
crafted file cannot aim collisions at it; an accidental collision between two different keys in
one file has a probability of about n^2 / 2^65 (4e-7 for 4 million rows).
"""

from __future__ import annotations

import codecs
import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from runtime.dal.results_writer import Row
    from runtime.logic.dedup import SpillIndex

MAX_LINE_CHARS = 1 << 20
_PROGRESS_EVERY = 4096


class RecordReason:
    """Reason codes of rejected rows that the parser itself decides (the rules add their own)."""

    TOO_FEW_CELLS = "TOO_FEW_CELLS"
    TOO_MANY_CELLS = "TOO_MANY_CELLS"
    CONFLICTING_DUPLICATE = "CONFLICTING_DUPLICATE"


class FileReason:
    """Reason codes that fail the whole job."""

    EMPTY_FILE = "EMPTY_FILE"
    INVALID_ENCODING = "INVALID_ENCODING"
    MALFORMED_CSV = "MALFORMED_CSV"
    UNTERMINATED_QUOTE = "UNTERMINATED_QUOTE"
    INVALID_LINE_ENDING = "INVALID_LINE_ENDING"
    LINE_TOO_LONG = "LINE_TOO_LONG"
    MISSING_COLUMN = "MISSING_COLUMN"
    DUPLICATE_COLUMN = "DUPLICATE_COLUMN"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"


class CsvFileError(Exception):
    """The file as a whole breaks a rule; nothing after this point is read."""

    def __init__(self, code: str, message: str, line: int | None = None) -> None:
        super().__init__(f"{code}: {message}" + (f" (line {line})" if line else ""))
        self.code = code
        self.message = message
        self.line = line


class HeaderError(CsvFileError):
    """The header lacks what the rules need. `names` are its column names and `extra_columns`
    the ones the rules do not read, as far as the header was read (the job's warnings name them)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        names: Iterable[str] = (),
        extra_columns: Iterable[str] = (),
    ) -> None:
        super().__init__(code, message, 1)
        self.names = tuple(names)
        self.extra_columns = tuple(extra_columns)


RejectCallback = Callable[[int, str, list[str]], None]
# A valid row handed on undecided (a part of a split file): line, symbol, timestamp, price,
# volume, the original cells.
RouteCallback = Callable[[int, str, str, str, str, list[str]], None]


@dataclass(frozen=True, slots=True)
class Header:
    """A validated header: the names, where the rules' fields are, and the columns they ignore."""

    names: tuple[str, ...]
    positions: tuple[int, ...]
    extra_columns: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.names)

    def to_json(self) -> dict[str, Any]:
        return {"names": list(self.names)}


RowCheck = Callable[[list[str]], "Row | str"]
"""One record's cells (of the header's width) to the row to store, or the reason it is
rejected."""


class FieldRules(Protocol):
    """What the parser asks of a dataset's rules."""

    def header(self, cells: list[str]) -> Header:
        """The header line's columns, or `HeaderError` when the fields the rules read are not
        all there (once each)."""
        ...

    def row_check(self, header: Header) -> RowCheck:
        """The check of one record under `header`: the row `(symbol, timestamp, price, volume)`,
        whose first two fields are the key duplicates are decided on, or a reject reason."""
        ...


class CsvParser:
    """Iterate over a CSV file given as byte chunks, yielding the rows `rules` accept.

    Each record's cells are checked by `rules` (`FieldRules`: the header it needs, and one
    check per record that answers the row or its reject reason). Rejected rows go to
    `on_reject(line, reason, cells)`. Identical repeats of a key are counted in `duplicates` and
    not yielded; a conflicting repeat is rejected (the first row wins).
    Blank lines are skipped and not counted. A rule that fails the whole file raises
    `CsvFileError`. `on_progress(records)` is called every few thousand records, so a caller
    can watch its deadline even when no row is accepted.

    Two passes, for files with more than `max_keys` distinct keys: given a `spill` index, the
    first pass hands it the in-memory index when that reaches `max_keys` at line `switched_at`,
    then only feeds it the valid rows after that line (nothing after it is yielded, counted or
    reported). The second pass, `CsvParser(chunks, ..., resume=first_pass)`, reads the same bytes,
    skips the lines up to `switched_at`, and settles every later valid row with the repeated
    lines from `spill.resolve()`. The first pass's own `CsvFileError` after the switch is left for
    the second pass to raise at the same line (`deferred_error`).

    One part of a split file (`runtime.logic.split`): `header` is the file's, already read by the
    planner; `first_line` is the physical line number of the first byte; the BOM and the line
    length were settled by the planner over the whole file (`start_of_file=False`), and
    `end_error`, when the planner found a file-level failure right after this part, is raised
    when the bytes run out, where the single pass raised it. With `route`, a valid row is not
    decided here: it goes to `route` with its line and cells (duplicates need the whole file).
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        rules: FieldRules,
        on_reject: RejectCallback | None = None,
        on_progress: Callable[[int], None] | None = None,
        *,
        max_keys: int | None = None,
        spill: SpillIndex | None = None,
        resume: CsvParser | None = None,
        header: Header | None = None,
        first_line: int = 1,
        start_of_file: bool = True,
        end_error: CsvFileError | None = None,
        route: RouteCallback | None = None,
    ) -> None:
        self._chunks = chunks
        self._rules = rules
        self._given_header = header
        self._first_line = first_line
        self._start_of_file = start_of_file
        self._end_error = end_error
        self._route = route
        self.routed = 0
        self._on_reject = on_reject
        self._on_progress = on_progress
        self._max_keys = max_keys if spill is not None else None
        self.spill: SpillIndex | None = spill if resume is None else resume.spill
        self.switched_at: int | None = None
        self.deferred_error: CsvFileError | None = None
        self._resume = resume
        self.accepted = 0
        self.rejected = 0
        self.duplicates = 0
        self.reasons: Counter[str] = Counter()
        self.first_line: dict[str, int] = {}
        if resume is not None:
            self.accepted = resume.accepted
            self.rejected = resume.rejected
            self.duplicates = resume.duplicates
            self.reasons = Counter(resume.reasons)
            self.first_line = dict(resume.first_line)
        self.header: list[str] = list(header.names) if header else []
        self.extra_columns: list[str] = list(header.extra_columns) if header else []
        self.header_seen = header is not None
        self._lines_decoded = first_line - 1

    @property
    def total(self) -> int:
        return self.accepted + self.rejected + self.duplicates

    def _lines(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        carry = ""
        at_start = self._start_of_file
        check_length = self._start_of_file
        for chunk in self._chunks:
            buffered = decoder.getstate()[0]
            failure: UnicodeDecodeError | None = None
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # Keep the valid prefix, so the rows before the bad byte are read whatever
                # the chunk boundaries, then fail at the line holding it.
                failure = exc
                text = (buffered + chunk)[: exc.start].decode("utf-8")
            if not text and failure is None:
                continue
            if at_start and text:
                at_start = False
                if text[0] == "\ufeff":
                    text = text[1:]
            self._lines_decoded += text.count("\n")
            parts = (carry + text).split("\n")
            carry = parts.pop()
            if check_length and len(carry) > MAX_LINE_CHARS:
                raise CsvFileError(
                    FileReason.LINE_TOO_LONG,
                    f"a line is longer than {MAX_LINE_CHARS} characters",
                    self._lines_decoded + 1,
                )
            for part in parts:
                yield part + "\n"
            if failure is not None:
                raise CsvFileError(
                    FileReason.INVALID_ENCODING,
                    "the file is not valid UTF-8",
                    self._lines_decoded + 1,
                ) from failure
        if self._end_error is not None:
            # The part ends where the planner saw the file fail: nothing of that line is read.
            raise self._end_error
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise CsvFileError(
                FileReason.INVALID_ENCODING,
                "the file ends inside a UTF-8 sequence",
                self._lines_decoded + 1,
            ) from exc
        if at_start and tail[:1] == "\ufeff":
            tail = tail[1:]
        carry += tail
        if carry:
            yield carry

    def _reject(self, line: int, reason: str, cells: list[str]) -> None:
        self.rejected += 1
        self.reasons[reason] += 1
        self.first_line.setdefault(reason, line)
        if self._on_reject is not None:
            self._on_reject(line, reason, cells)

    def _read_header(self, cells: list[str]) -> Header:
        self.header_seen = True
        try:
            header = self._rules.header(cells)
        except HeaderError as error:
            # The warnings of a failed header name the columns it got to.
            self.header = list(error.names)
            self.extra_columns = list(error.extra_columns)
            raise
        self.header = list(header.names)
        self.extra_columns = list(header.extra_columns)
        return header

    def __iter__(self) -> Iterator[Row]:
        resume = self._resume
        if resume is None:
            return self._first_pass()
        if resume.spill is None or resume.switched_at is None:
            raise ValueError("resume= needs a first pass that switched to its spill index")
        return self._scan(resume.switched_at, resume.spill.resolve())

    def _first_pass(self) -> Iterator[Row]:
        try:
            yield from self._scan(0, None)
        except CsvFileError as error:
            if self.switched_at is None:
                raise
            self.deferred_error = error

    def _scan(self, skip_to: int, repeats: Iterator[int] | None) -> Iterator[Row]:
        """The rules over every record; pass 2 skips the lines up to `skip_to` and settles the
        valid rows after them with `repeats` (`line << 1 | conflicting`, in line order)."""
        # A dataset's rules may name their dialect's delimiter and key width (default: a
        # comma, and a key of two fields).
        delimiter = getattr(self._rules, "delimiter", ",")
        key_width: int = getattr(self._rules, "key_width", 2)
        reader = csv.reader(self._lines(), strict=True, delimiter=delimiter)
        seen: dict[int, int] = {}
        reject: RejectCallback = self._reject
        spill_add: Callable[[int, int, int], None] | None = None
        max_keys = self._max_keys or 0
        progress = self._on_progress
        settling = repeats is not None
        pending: Iterator[int] = repeats if repeats is not None else iter(())
        next_repeat = next(pending, -1)
        route = self._route
        base = self._first_line - 1
        previous_line = base
        records = 0
        width = 0
        check: RowCheck = _no_header
        if self._given_header is not None:
            check = self._rules.row_check(self._given_header)
            width = self._given_header.width
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise _csv_error(exc, previous_line + 1) from exc
            line = previous_line + 1
            previous_line = base + reader.line_num
            if not cells:
                continue
            if not self.header_seen:
                header = self._read_header(cells)
                check = self._rules.row_check(header)
                width = header.width
                continue
            records += 1
            if progress is not None and records % _PROGRESS_EVERY == 0:
                progress(records)
            if line <= skip_to:
                continue
            count = len(cells)
            if count != width:
                reject(
                    line,
                    RecordReason.TOO_FEW_CELLS if count < width else RecordReason.TOO_MANY_CELLS,
                    cells,
                )
                continue
            row = check(cells)
            if isinstance(row, str):
                reject(line, row, cells)
                continue
            if route is not None:
                # The split path routes trades rows (its partitions are the trades table's).
                symbol, timestamp, price, volume = cast("tuple[str, str, str, str]", row)
                self.routed += 1
                route(line, symbol, timestamp, price, volume, cells)
                continue
            if settling:
                if line == next_repeat >> 1:
                    if next_repeat & 1:
                        reject(line, RecordReason.CONFLICTING_DUPLICATE, cells)
                    else:
                        self.duplicates += 1
                    next_repeat = next(pending, -1)
                else:
                    self.accepted += 1
                    yield row
                continue
            # The key is the row's first key_width values (the dataset's primary key), the
            # value the rest: a repeat of the key with another value is a conflict.
            key = hash(row[:key_width])
            value = hash(row[key_width:])
            if spill_add is not None:
                spill_add(key, value, line)
                continue
            size = len(seen)
            first = seen.setdefault(key, value)
            if len(seen) != size:
                self.accepted += 1
                if size + 1 == max_keys and self.spill is not None:
                    # The index is full: later rows go to disk and are settled in pass 2.
                    self.switched_at = line
                    self.spill.dump(seen)
                    seen.clear()
                    spill_add = self.spill.add
                    reject = _ignore
                yield row
            elif first == value:
                self.duplicates += 1
            else:
                reject(line, RecordReason.CONFLICTING_DUPLICATE, cells)
        if not self.header_seen:
            raise CsvFileError(FileReason.EMPTY_FILE, "the file has no header and no rows")


def _ignore(_line: int, _reason: str, _cells: list[str]) -> None:
    """Pass 1 after the switch: rejections are counted and reported by pass 2."""


def _csv_error(exc: csv.Error, line: int) -> CsvFileError:
    message = str(exc)
    if "unexpected end of data" in message:
        return CsvFileError(FileReason.UNTERMINATED_QUOTE, "a quoted field is never closed", line)
    if "new-line character" in message:
        return CsvFileError(
            FileReason.INVALID_LINE_ENDING, "lines must end with LF or CRLF, not a bare CR", line
        )
    return CsvFileError(FileReason.MALFORMED_CSV, message, line)


def _no_header(_cells: list[str]) -> Row | str:
    raise AssertionError("a record is checked only after the header")
