"""R23 with a part's memory bounded: rows routed past the part's budget go out as chunk objects
(`partition_rows_key(..., chunk)`), and the outcome is still exactly the single pass's."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from split_support import delete_items, outcome, run_single, run_split
from test_split_equivalence import files

import runtime.logic.split.part as part_module
from runtime.dal import objects

CHUNKED = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@CHUNKED
@given(files(), st.integers(16, 400), st.integers(1, 3), st.integers(1, 3), st.integers(1, 120))
def test_r23_parts_written_in_chunks_give_the_single_pass_result(
    aws_endpoint, monkeypatch, file, part_bytes, partitions, drain_rows, budget
):
    from runtime import clients

    # Given parts that drain their routed rows every few rows and flush them past a tiny budget
    monkeypatch.setattr(part_module, "_DRAIN_ROWS", drain_rows)
    monkeypatch.setattr(part_module, "ROUTED_BUDGET_BYTES", budget)
    data, symbols = file
    s3, dynamodb = clients.s3(), clients.dynamodb()
    single = outcome(s3, dynamodb, run_single(s3, dynamodb, data), symbols)
    delete_items(dynamodb, single["items"])

    # When the file is split
    max_keys = max(1, len(data) // 17 // partitions + 1)
    job_id, answer = run_split(s3, dynamodb, data, part_bytes=part_bytes, max_keys=max_keys)
    split = outcome(s3, dynamodb, job_id, symbols)
    delete_items(dynamodb, split["items"])

    # Then a client sees exactly the single pass's outcome
    assert split == single, answer


def test_a_part_over_its_budget_writes_chunks_in_line_order(aws_endpoint, monkeypatch):
    from runtime import clients

    # Given a part budget far below the part's rows, and a record of every object written
    monkeypatch.setattr(part_module, "_DRAIN_ROWS", 4)
    monkeypatch.setattr(part_module, "ROUTED_BUDGET_BYTES", 300)
    written: list[str] = []
    put = objects.ObjectStore.put

    def recording(self, key, body, *args, **kwargs):  # type: ignore[no-untyped-def]
        written.append(key)
        return put(self, key, body, *args, **kwargs)

    monkeypatch.setattr(objects.ObjectStore, "put", recording)
    rows = "".join(f"CHK,1.{i},1,2024-01-01T00:00:{i % 60:02d}.{i:03d}Z\n" for i in range(200))
    data = (
        "symbol,price,volume,timestamp\n" + rows + "CHK,1.0,1,2024-01-01T00:00:00.000Z\n"
    ).encode()
    s3, dynamodb = clients.s3(), clients.dynamodb()

    # When it is split into two parts over one partition
    job_id, answer = run_split(s3, dynamodb, data, part_bytes=len(data) // 2, max_keys=10**6)

    # Then each part wrote its partition's rows as several chunks, named in line order
    chunks = [k for k in written if k.startswith(objects.partition_rows_prefix(job_id, 0))]
    assert answer["outcome"] == "split"
    assert len(chunks) > 2
    assert any(k.endswith(".csv.000001") for k in chunks)
    assert chunks == sorted(chunks)
    # And the last row, a duplicate of the first row's key in the last chunk, is a duplicate
    result = outcome(s3, dynamodb, job_id, ["CHK"])
    delete_items(dynamodb, result["items"])
    assert result["rows"] == {"total": 201, "accepted": 200, "rejected": 0, "duplicates": 1}
