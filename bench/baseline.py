"""The naive baseline: what a first version of the processor usually looks like.

The whole object is read into memory, parsed with ``csv.DictReader`` and written with one
``Table.batch_writer()`` in one thread; prices go through ``float`` and back via
``Decimal(str(...))``. Rows that do not convert are skipped. It validates almost nothing, so it
does less work per row than the processor: the comparison flatters the baseline.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import boto3

__all__ = ["run"]


def run(bucket: str, key: str, results_table: str) -> int:
    """Write every convertible row of s3://bucket/key; return the number of rows written."""
    s3 = boto3.client("s3")
    table: Any = boto3.resource("dynamodb").Table(results_table)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8-sig")
    written = 0
    with table.batch_writer(overwrite_by_pkeys=["symbol", "timestamp"]) as writer:
        for row in csv.DictReader(io.StringIO(body)):
            try:
                item = {
                    "symbol": row["symbol"].strip().upper(),
                    "timestamp": row["timestamp"].strip(),
                    "price": Decimal(str(float(row["price"]))),
                    "volume": int(row["volume"]),
                }
            except (KeyError, ValueError, TypeError, AttributeError):
                continue
            writer.put_item(Item=item)
            written += 1
    return written
