"""R23, the split path's intermediate objects on their own (no AWS): routed rows come back from
`read_rows` exactly as the part routed them, whatever the cells hold and whatever the Python
version's csv writer quotes; a partition's conflicts go to their one object within a memory
budget, as a multipart upload once they pass it."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runtime.dal.objects import ObjectStore
from runtime.logic.split.part import _Routed
from runtime.logic.split.partition import _Conflicts
from runtime.logic.split.rows import fragment_line, read_fragment, read_rows

# Any text a cell read from a UTF-8 file can hold (no lone surrogates): CR, LF, quotes, NUL,
# the separators `str.splitlines` would cut at (U+2028, U+0085, ...).
cells = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
rows = st.lists(
    st.tuples(st.integers(1, 10**9), cells, cells, cells, cells, st.lists(cells, max_size=4)),
    max_size=12,
)


def routed_back(written: list[tuple[Any, ...]], partitions: int, budget: int) -> list[list[str]]:
    """Every row through `_Routed` (partition = line % partitions) and back through
    `read_rows`, partition by partition, chunk by chunk."""
    objects: dict[tuple[int, int], bytes] = {}
    routed = _Routed(partitions, lambda p, c, body: objects.__setitem__((p, c), body), budget)
    for row in written:
        routed.write(row[0] % partitions, row)
    routed.close()
    return [row for key in sorted(objects) for row in read_rows(objects[key])]


@settings(max_examples=300, deadline=None)
@given(rows, st.integers(1, 3), st.integers(1, 200))
@example([(7, "a\rb", "\r", "x\r\ny", '"', ["\x00", "", "\u2028"])], 1, 1 << 20)
def test_fails_r23_routed_rows_come_back_as_written_whatever_the_cells(drawn, partitions, budget):
    # Given rows whose cells hold anything a quoted field of the file can hold, a bare CR too
    # (the csv writer of Python 3.11/3.12 does not quote it under minimal quoting)
    written = [(line, a, b, c, d, *more) for line, a, b, c, d, more in drawn]
    # When they are routed to partitions, in chunks past a budget, and read back
    back = routed_back(written, partitions, budget)
    # Then every row comes back, field for field, as text
    expected = sorted(([str(f) for f in row] for row in written), key=lambda r: int(r[0]))
    assert sorted(back, key=lambda r: int(r[0])) == expected


class FakeS3:
    """The S3 calls of `_Conflicts`, recorded; `fail_abort` refuses AbortMultipartUpload."""

    def __init__(self, *, fail_abort: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.parts: dict[int, bytes] = {}
        self.objects: dict[str, bytes] = {}
        self.fail_abort = fail_abort

    def put_object(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("put_object", request))
        self.objects[request["Key"]] = request["Body"]
        return {}

    def create_multipart_upload(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("create_multipart_upload", request))
        return {"UploadId": "u1"}

    def upload_part(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("upload_part", request))
        self.parts[request["PartNumber"]] = request["Body"]
        return {"ETag": f'"e{request["PartNumber"]}"'}

    def complete_multipart_upload(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("complete_multipart_upload", request))
        numbers = [part["PartNumber"] for part in request["MultipartUpload"]["Parts"]]
        self.objects[request["Key"]] = b"".join(self.parts[n] for n in numbers)
        return {}

    def abort_multipart_upload(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("abort_multipart_upload", request))
        if self.fail_abort:
            raise ClientError({"Error": {"Code": "AccessDenied"}}, "AbortMultipartUpload")
        return {}

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


KEY = "split/j/partitions/000000/conflicts.jsonl"


def lines(count: int) -> list[str]:
    return [fragment_line(line, "CONFLICTING_DUPLICATE", ["K", f"1.{line}", "x" * 40]) for line in
            range(2, count + 2)]  # fmt: skip


def test_fails_r23_conflicts_past_the_budget_go_out_as_parts_of_one_object():
    # Given a budget of 300 bytes and 50 conflicts of ~80 bytes each
    client = FakeS3()
    conflicts = _Conflicts(ObjectStore(client, "b"), KEY, 300)  # type: ignore[arg-type]
    written = lines(50)
    longest = max(len(line.encode()) for line in written)
    # When they are added, then the object closed
    for line in written:
        conflicts.add(line)
        assert len(conflicts._buffer) < 300  # never more than the budget held
    conflicts.close()
    # Then they went out as parts of the budget's size (plus at most one line) and one object
    # holds them all, in line order, as one PutObject would have
    sizes = [len(request["Body"]) for name, request in client.calls if name == "upload_part"]
    assert len(sizes) >= len(written) * 80 // (300 + longest)
    assert all(size < 300 + longest for size in sizes)
    assert client.names()[0] == "create_multipart_upload"
    assert client.names()[-1] == "complete_multipart_upload"
    assert "put_object" not in client.names()
    assert client.objects[KEY] == "".join(written).encode()
    assert [entry[0] for entry in read_fragment(client.objects[KEY].splitlines())] == list(
        range(2, 52)
    )


def test_conflicts_within_the_budget_are_one_put_and_none_are_no_object():
    client = FakeS3()
    few = _Conflicts(ObjectStore(client, "b"), KEY, 1 << 20)  # type: ignore[arg-type]
    for line in lines(3):
        few.add(line)
    few.close()
    assert client.names() == ["put_object"]
    assert client.objects[KEY] == "".join(lines(3)).encode()
    empty = FakeS3()
    _Conflicts(ObjectStore(empty, "b"), KEY, 1 << 20).close()  # type: ignore[arg-type]
    assert empty.calls == []


@pytest.mark.parametrize("fail_abort", [False, True])
def test_a_failed_partition_aborts_its_conflicts_upload(fail_abort):
    # Given an upload with parts sent, and an abort that may itself be refused
    client = FakeS3(fail_abort=fail_abort)
    conflicts = _Conflicts(ObjectStore(client, "b"), KEY, 100)  # type: ignore[arg-type]
    for line in lines(5):
        conflicts.add(line)
    # When the partition fails / Then the upload is aborted, and a refusal is not raised
    conflicts.abort()
    assert client.names()[-1] == "abort_multipart_upload"
    assert KEY not in client.objects
    conflicts.abort()  # once only
    assert client.names().count("abort_multipart_upload") == 1
