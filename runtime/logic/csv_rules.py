"""The CSV rules of the SPEC as a streaming parser: bytes in, accepted rows and rejections out.

No AWS here. This is the per-row hot path, so it leans on C-implemented pieces (the incremental
UTF-8 decoder, `csv.reader`, `str` methods, one precompiled regex per numeric or time cell) and
caches symbol validation, because a file repeats few symbols many times.

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
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.dal.results_writer import Row
    from runtime.logic.dedup import SpillIndex

REQUIRED_COLUMNS = ("symbol", "price", "volume", "timestamp")
MAX_LINE_CHARS = 1 << 20
MAX_SYMBOL_LENGTH = 32
MAX_DIGITS = 38
# DynamoDB numbers: positive magnitudes from 1E-130 to 9.99...E+125.
MIN_ADJUSTED_EXPONENT = -130
MAX_ADJUSTED_EXPONENT = 125
_MAX_NUMBER_TEXT = 200
_SYMBOL_CACHE_SIZE = 65536
_PROGRESS_EVERY = 4096


class Reason:
    """Reason codes of rejected rows (the report names one per row)."""

    TOO_FEW_CELLS = "TOO_FEW_CELLS"
    TOO_MANY_CELLS = "TOO_MANY_CELLS"
    INVALID_SYMBOL = "INVALID_SYMBOL"
    SYMBOL_TOO_LONG = "SYMBOL_TOO_LONG"
    INVALID_PRICE = "INVALID_PRICE"
    PRICE_NOT_POSITIVE = "PRICE_NOT_POSITIVE"
    PRICE_TOO_PRECISE = "PRICE_TOO_PRECISE"
    PRICE_OUT_OF_RANGE = "PRICE_OUT_OF_RANGE"
    INVALID_VOLUME = "INVALID_VOLUME"
    VOLUME_OUT_OF_RANGE = "VOLUME_OUT_OF_RANGE"
    INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
    TIMESTAMP_TOO_PRECISE = "TIMESTAMP_TOO_PRECISE"
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


RejectCallback = Callable[[int, str, list[str]], None]
# A valid row handed on undecided (a part of a split file): line, symbol, timestamp, price,
# volume, the original cells.
RouteCallback = Callable[[int, str, str, str, str, list[str]], None]


@dataclass(frozen=True, slots=True)
class Header:
    """A validated header: the names, the positions of the required columns, the width."""

    names: tuple[str, ...]
    positions: tuple[int, int, int, int]  # symbol, price, volume, timestamp
    extra_columns: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.names)

    def to_json(self) -> dict[str, Any]:
        return {"names": list(self.names)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Header:
        return header_of([str(name) for name in data["names"]])


def header_of(cells: list[str]) -> Header:
    """The header rule of the SPEC; `CsvFileError` (line 1, as the single pass says) otherwise."""
    names = [cell.strip().lower() for cell in cells]
    positions: dict[str, int] = {}
    extra: list[str] = []
    for index, name in enumerate(names):
        if name in REQUIRED_COLUMNS:
            if name in positions:
                raise CsvFileError(FileReason.DUPLICATE_COLUMN, f"column {name!r} appears twice", 1)
            positions[name] = index
        else:
            extra.append(name)
    missing = [name for name in REQUIRED_COLUMNS if name not in positions]
    if missing:
        raise CsvFileError(FileReason.MISSING_COLUMN, "missing column(s): " + ", ".join(missing), 1)
    return Header(
        tuple(names),
        (positions["symbol"], positions["price"], positions["volume"], positions["timestamp"]),
        tuple(extra),
    )


_SYMBOL = re.compile(r"[A-Z0-9^][A-Z0-9.\-_:=^]*", re.ASCII).fullmatch
_NUMBER = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII
).fullmatch
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?",
    re.ASCII,
).fullmatch
# Exact for every value that passes the 38-digit check; the wide exponent range never rounds.
_EXACT = Context(prec=MAX_DIGITS + 2, Emax=999_999, Emin=-999_999)


def normalize_symbol(raw: str) -> str | None:
    """The stored form of a symbol, or None when the SPEC rule rejects it."""
    value = raw.strip()
    if not value.isascii():
        return None
    value = value.upper()
    if len(value) > MAX_SYMBOL_LENGTH or _SYMBOL(value) is None:
        return None
    return value


def _symbol_or_reason(raw: str) -> tuple[bool, str]:
    value = raw.strip()
    if not value.isascii():
        return False, Reason.INVALID_SYMBOL
    value = value.upper()
    if len(value) > MAX_SYMBOL_LENGTH:
        return False, Reason.SYMBOL_TOO_LONG
    if _SYMBOL(value) is None:
        return False, Reason.INVALID_SYMBOL
    return True, value


def parse_price(raw: str) -> tuple[bool, str]:
    """(True, DynamoDB number text) or (False, reason). Never goes through a float."""
    text = raw.strip()
    if len(text) > _MAX_NUMBER_TEXT or _NUMBER(text) is None:
        return False, Reason.INVALID_PRICE
    try:
        value = Decimal(text)
    except InvalidOperation:
        return False, Reason.PRICE_OUT_OF_RANGE
    if text[0] == "-" or value.is_zero():
        return False, Reason.PRICE_NOT_POSITIVE
    if len(text) <= MAX_DIGITS and "e" not in text and "E" not in text:
        # Plain notation this short has at most 38 digits and an exponent within range.
        return True, str(_EXACT.normalize(value))
    digits = value.as_tuple().digits
    significant = len(digits)
    while significant and digits[significant - 1] == 0:
        significant -= 1
    if significant > MAX_DIGITS:
        return False, Reason.PRICE_TOO_PRECISE
    if not MIN_ADJUSTED_EXPONENT <= value.adjusted() <= MAX_ADJUSTED_EXPONENT:
        return False, Reason.PRICE_OUT_OF_RANGE
    return True, str(_EXACT.normalize(value))


def parse_volume(raw: str) -> tuple[bool, str]:
    """(True, canonical integer text) or (False, reason)."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        return False, Reason.INVALID_VOLUME
    text = text.lstrip("0") or "0"
    if len(text) > MAX_DIGITS:
        return False, Reason.VOLUME_OUT_OF_RANGE
    return True, text


_valid_dates: dict[str, bool] = {}


def _date_ok(date: str) -> bool:
    known = _valid_dates.get(date)
    if known is None:
        try:
            datetime(int(date[0:4]), int(date[5:7]), int(date[8:10]))
            known = True
        except ValueError:
            known = False
        if len(_valid_dates) < 100_000:
            _valid_dates[date] = known
    return known


def _canonical_fast(raw: str) -> str | None:
    """The common machine-written forms `...THH:MM:SS.ffffffZ` / `...THH:MM:SSZ`, without regex.

    Returns None when the value is not in one of those exact shapes (the full grammar decides).
    """
    size = len(raw)
    if size == 27:
        if raw[19] != "." or not raw[20:26].isdigit():
            return None
    elif size != 20:
        return None
    if (
        raw[-1] != "Z"
        or raw[10] != "T"
        or raw[4] != "-"
        or raw[7] != "-"
        or raw[13] != ":"
        or raw[16] != ":"
        or not raw.isascii()
    ):
        return None
    digits = raw[0:4] + raw[5:7] + raw[8:10] + raw[11:13] + raw[14:16] + raw[17:19]
    if not digits.isdigit() or raw[11:13] > "23" or raw[14:16] > "59" or raw[17:19] > "59":
        return None
    if not _date_ok(raw[0:10]):
        return None
    return raw if size == 27 else raw[:19] + ".000000Z"


def parse_timestamp(raw: str) -> tuple[bool, str]:
    """(True, canonical `YYYY-MM-DDTHH:MM:SS.ffffffZ`) or (False, reason).

    ISO 8601 extended format: a date, optionally a time (minutes or seconds, fraction after `.`
    or `,`) and a zone (`Z`, `+HH`, `+HHMM`, `+HH:MM`). No zone means UTC. Fractions beyond the
    microsecond must be zeros: they are not silently cut, since cutting could merge two instants.
    """
    fast = _canonical_fast(raw)
    if fast is not None:
        return True, fast
    return parse_timestamp_full(raw)


def parse_timestamp_full(raw: str) -> tuple[bool, str]:
    """`parse_timestamp` without the fast path (the reference the fast path must agree with)."""
    match = _TIMESTAMP(raw.strip())
    if match is None:
        return False, Reason.INVALID_TIMESTAMP
    year, month, day, hour, minute, second, fraction, _zone, sign, off_h, off_m = match.groups()
    micros = 0
    if fraction is not None:
        if len(fraction) > 6:
            if fraction[6:].strip("0"):
                return False, Reason.TIMESTAMP_TOO_PRECISE
            fraction = fraction[:6]
        micros = int(fraction.ljust(6, "0"))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micros,
        )
        if sign is not None:
            offset_hours, offset_minutes = int(off_h), int(off_m or 0)
            if offset_hours > 23 or offset_minutes > 59:
                return False, Reason.INVALID_TIMESTAMP
            offset = timedelta(hours=offset_hours, minutes=offset_minutes)
            moment = moment - offset if sign == "+" else moment + offset
    except (ValueError, OverflowError):
        return False, Reason.INVALID_TIMESTAMP
    return True, (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


class CsvParser:
    """Iterate over a CSV file given as byte chunks, yielding the accepted rows.

    Rejected rows go to `on_reject(line, reason, cells)`. Identical repeats of a key are counted
    in `duplicates` and not yielded; a conflicting repeat is rejected (the first row wins).
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

    def _read_header(self, cells: list[str]) -> tuple[int, int, int, int]:
        self.header = [cell.strip().lower() for cell in cells]
        self.header_seen = True
        seen: set[str] = set()
        for name in self.header:
            if name not in REQUIRED_COLUMNS:
                self.extra_columns.append(name)
            elif name in seen:
                break  # the warnings of a failed header name the extras before the repeat
            else:
                seen.add(name)
        return header_of(cells).positions

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
        reader = csv.reader(self._lines(), strict=True)
        symbols: dict[str, tuple[bool, str]] = {}
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
        i_symbol = i_price = i_volume = i_time = 0
        if self._given_header is not None:
            i_symbol, i_price, i_volume, i_time = self._given_header.positions
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
                i_symbol, i_price, i_volume, i_time = self._read_header(cells)
                width = len(cells)
                continue
            records += 1
            if progress is not None and records % _PROGRESS_EVERY == 0:
                progress(records)
            if line <= skip_to:
                continue
            count = len(cells)
            if count != width:
                reject(
                    line, Reason.TOO_FEW_CELLS if count < width else Reason.TOO_MANY_CELLS, cells
                )
                continue
            raw_symbol = cells[i_symbol]
            checked = symbols.get(raw_symbol)
            if checked is None:
                checked = _symbol_or_reason(raw_symbol)
                if len(symbols) < _SYMBOL_CACHE_SIZE:
                    symbols[raw_symbol] = checked
            ok, symbol = checked
            if not ok:
                reject(line, symbol, cells)
                continue
            ok, price = parse_price(cells[i_price])
            if not ok:
                reject(line, price, cells)
                continue
            ok, volume = parse_volume(cells[i_volume])
            if not ok:
                reject(line, volume, cells)
                continue
            ok, timestamp = parse_timestamp(cells[i_time])
            if not ok:
                reject(line, timestamp, cells)
                continue
            if route is not None:
                self.routed += 1
                route(line, symbol, timestamp, price, volume, cells)
                continue
            if settling:
                if line == next_repeat >> 1:
                    if next_repeat & 1:
                        reject(line, Reason.CONFLICTING_DUPLICATE, cells)
                    else:
                        self.duplicates += 1
                    next_repeat = next(pending, -1)
                else:
                    self.accepted += 1
                    yield (symbol, timestamp, price, volume)
                continue
            # "|" is outside the symbol, number and timestamp alphabets: the joins are unambiguous.
            key = hash(symbol + "|" + timestamp)
            value = hash(price + "|" + volume)
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
                yield (symbol, timestamp, price, volume)
            elif first == value:
                self.duplicates += 1
            else:
                reject(line, Reason.CONFLICTING_DUPLICATE, cells)
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


def parse_bytes(data: bytes) -> tuple[CsvParser, list[Row], list[tuple[int, str, list[str]]]]:
    """Parse a whole in-memory file (tests and tools); the processor streams instead."""
    rejections: list[tuple[int, str, list[str]]] = []
    parser = CsvParser(
        [data], on_reject=lambda line, reason, cells: rejections.append((line, reason, cells))
    )
    rows = list(parser)
    return parser, rows, rejections
