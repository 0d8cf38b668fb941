"""What `fpipe upload` declares (R28): the file's sha256, and a data-row count that is the
pipeline's own `rows.total` (checked here against the processor's parser), sent by default."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_api import make_rows, render_csv, unique_symbol

import fpipe.cli
from fpipe.cli import main
from fpipe.integrity import FileFacts, file_facts
from local.pipeline import LocalPipeline
from runtime.logic.csv_parser import CsvFileError, FileReason
from runtime.logic.csv_rules import parse_bytes

HEADER = b"symbol,price,volume,timestamp\n"
ROW = b"AAPL,1.5,10,2024-01-01T00:00:00Z"
# The file-level failures of reading (not of the header's names): a file the pipeline cannot
# read has no row count to declare.
UNREADABLE = {
    FileReason.INVALID_ENCODING,
    FileReason.MALFORMED_CSV,
    FileReason.UNTERMINATED_QUOTE,
    FileReason.INVALID_LINE_ENDING,
}


def _pipeline_total(data: bytes) -> int | None:
    """``rows.total`` as the processor counts it, None when it cannot read the file."""
    try:
        parser, _, _ = parse_bytes(data)
    except CsvFileError as error:
        if error.code in UNREADABLE:
            return None
        if error.code == FileReason.EMPTY_FILE:
            return 0  # the job fails with no rows at all
        raise
    return parser.total


def _facts(tmp_path: Path, data: bytes) -> FileFacts:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    return file_facts(path)


TRICKY = {
    "plain": HEADER + ROW + b"\n" + ROW + b"\n",
    "no-final-newline": HEADER + ROW + b"\n" + ROW,
    "crlf": (HEADER + ROW + b"\n" + ROW + b"\n").replace(b"\n", b"\r\n"),
    "bom": b"\xef\xbb\xbf" + HEADER + ROW + b"\n",
    "bom-crlf-blank-lines": b"\xef\xbb\xbf"
    + HEADER.replace(b"\n", b"\r\n")
    + b"\r\n\r\n"
    + ROW
    + b"\r\n\r\n"
    + ROW
    + b"\r\n\r\n",
    # The BOM is no cell: the blank line after it is blank, and the header comes after.
    "bom-then-blank-lines": b"\xef\xbb\xbf\r\n\n" + HEADER + ROW + b"\n",
    "blank-lines-everywhere": b"\n\n" + HEADER + b"\n" + ROW + b"\n\n\n" + ROW + b"\n\n",
    "quoted-newlines": HEADER
    + b'"AAPL",1.5,10,"2024-01-01T00:00:00Z"\n'
    + b'"MS\nFT",2,3,2024-01-01T00:00:01Z\n'
    + b'AAPL,"1\r\n\r\n.5",10,2024-01-01T00:00:02Z\n'
    + b'"a ""quoted"" \n\n symbol",1,1,2024-01-01\n',
    "bad-rows": HEADER
    + ROW
    + b"\n"
    + b"AAPL,-1,1,2024-01-01\n"  # price not positive
    + b"AAPL,1\n"  # too few cells
    + b"AAPL,1,1,2024-01-01,extra\n"  # too many cells
    + b" \n"  # one cell of a space: a row, rejected, not a blank line
    + b'""\n'  # one empty quoted cell: a row as well
    + ROW
    + b"\n",  # an identical repeat: a duplicate, counted
    "header-only": HEADER,
    "header-only-no-newline": HEADER.rstrip(b"\n"),
    "empty": b"",
    "blank-only": b"\n\r\n\n",
    "extra-columns": b"note,symbol,price,volume,timestamp\nx," + ROW + b"\n",
    "bom-later-is-data": HEADER + b"\xef\xbb\xbf" + ROW + b"\n",
    "unterminated-quote": HEADER + b'"AAPL,1,1,2024-01-01\n',
    "bare-cr": HEADER + ROW + b"\r" + ROW + b"\n",
    "invalid-utf8": HEADER + b"AAPL,1,1,\xff\xfe\n",
    "quote-inside-unquoted-field": HEADER + b'AA"PL,1,1,2024-01-01\n',
}


@pytest.mark.parametrize("name", list(TRICKY))
def test_r28_fpipe_counts_the_rows_the_pipeline_counts(tmp_path: Path, name: str) -> None:
    # Given a file with a trap of CSV in it
    data = TRICKY[name]
    # When fpipe and the processor's parser read it
    facts = _facts(tmp_path, data)
    # Then fpipe declares the processor's rows.total (none when the processor cannot read the
    # file), and the file's sha256 in lowercase hex
    assert facts.rows == _pipeline_total(data), name
    assert (facts.problem is None) == (facts.rows is not None)
    assert facts.sha256 == hashlib.sha256(data).hexdigest()


def test_r28_counts_agree_across_fpipes_read_buffers(tmp_path: Path) -> None:
    # Given a file of several MiB whose quoted newlines and CRLFs straddle fpipe's 1 MiB reads
    record = b'AAPL,"1\n.5",10,"2024-01-01T00:00:00Z"\r\n'
    data = b"\xef\xbb\xbf" + HEADER + record * 150_000 + b"\r\n" + ROW
    # When both count / Then they agree, and the digest covers every byte
    facts = _facts(tmp_path, data)
    assert facts.rows == _pipeline_total(data) == 150_001
    assert facts.sha256 == hashlib.sha256(data).hexdigest()


def test_r28_an_unreadable_file_still_gets_its_whole_digest(tmp_path: Path) -> None:
    # Given a file that breaks UTF-8 in its first line, followed by 2 MiB more
    data = HEADER + b"\xff\n" + ROW * 70_000
    facts = _facts(tmp_path, data)
    # Then there is no count, a reason, and the digest of all of it
    assert facts.rows is None
    assert facts.problem == "the file is not valid UTF-8"
    assert facts.sha256 == hashlib.sha256(data).hexdigest()


_PIECES = st.sampled_from(
    [b"a", b"1", b",", b"\n", b"\r\n", b'"', b'""', b" ", b"\xef\xbb\xbf", b"\xc3\xa9", b"\r"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.lists(_PIECES, max_size=40))
def test_r28_counts_agree_on_generated_files(
    tmp_path_factory: pytest.TempPathFactory, bom: bool, pieces: list[bytes]
) -> None:
    # Given any file made of CSV's delicate pieces after its header (quotes, separators, both
    # line ends, a BOM anywhere, a bare CR, multibyte UTF-8)
    data = (b"\xef\xbb\xbf" if bom else b"") + HEADER + b"".join(pieces)
    # Then fpipe's count is the processor's
    facts = _facts(tmp_path_factory.mktemp("gen"), data)
    assert facts.rows == _pipeline_total(data)


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_r28_upload_declares_the_digest_and_rows_and_wait_shows_the_digest(
    pipeline: LocalPipeline, tmp_path: Path
) -> None:
    # Given a file with a blank line and a rejected row
    symbol = unique_symbol("FV")
    data = render_csv(make_rows(symbol, 30)) + b"\n" + f"{symbol},0,1,2024-01-01\n".encode()
    file = tmp_path / "v.csv"
    file.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()

    # When fpipe uploads it and waits
    code, out, err = _run("--api", pipeline.url, "upload", str(file), "--wait")

    # Then it declared both, the job agreed (no mismatch), and the digest is shown at the end
    assert code == 0, err
    assert f"declared sha256 {digest} and 31 data rows" in err
    assert f"sha256           {digest}" in out
    assert f"expectedSha256   {digest}" in out
    assert "expectedRows     31" in out
    assert "status           COMPLETED_WITH_ERRORS" in out
    assert "MISMATCH" not in out + err
    assert err.rstrip().endswith(f"sha256 {digest} (computed by the pipeline)")


def test_r28_no_verify_declares_nothing_but_the_job_records_the_digest(
    pipeline: LocalPipeline, tmp_path: Path
) -> None:
    data = render_csv(make_rows(unique_symbol("NV"), 3))
    file = tmp_path / "n.csv"
    file.write_bytes(data)

    code, out, err = _run(
        "--api", pipeline.url, "--json", "upload", str(file), "--wait", "--no-verify"
    )

    assert code == 0, err
    job = json.loads(out)
    assert "expectedSha256" not in job and "expectedRows" not in job
    assert job["sha256"] == hashlib.sha256(data).hexdigest()
    assert "declared" not in err


def test_fails_r28_upload_whose_file_changed_after_hashing_says_checksum_mismatch(
    pipeline: LocalPipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a file that changes between fpipe's hashing and the upload (the digest fpipe
    # declares is of the file as it was)
    symbol = unique_symbol("FM")
    file = tmp_path / "m.csv"
    file.write_bytes(render_csv(make_rows(symbol, 4)))
    hashed = file_facts

    def hash_then_change(path: Path) -> FileFacts:
        facts = hashed(path)
        path.write_bytes(render_csv(make_rows(symbol, 5)))
        return facts

    monkeypatch.setattr(fpipe.cli, "file_facts", hash_then_change)

    # When it is uploaded with --wait
    code, out, err = _run("--api", pipeline.url, "upload", str(file), "--wait")

    # Then the job failed and fpipe says why, plainly, with both digests
    assert code == 1
    assert "status           FAILED" in out
    (line,) = [line for line in err.splitlines() if line.startswith("fpipe: CHECKSUM_MISMATCH")]
    assert hashed(file).sha256 in line
    rows = _run("--api", pipeline.url, "--json", "results", symbol)[1]
    assert json.loads(rows)["count"] == 0


def test_fails_r28_upload_of_an_unreadable_file_declares_its_digest_only(
    pipeline: LocalPipeline, tmp_path: Path
) -> None:
    file = tmp_path / "u.csv"
    file.write_bytes(HEADER + b"AAPL,1,1,\xff\n")

    code, out, err = _run("--api", pipeline.url, "--json", "upload", str(file), "--wait")

    assert code == 1
    assert "cannot count the rows" in err and "declaring its sha256 only" in err
    job = json.loads(out)
    assert job["status"] == "FAILED"
    assert job["expectedSha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert "expectedRows" not in job
