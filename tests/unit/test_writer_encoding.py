"""The results writer's request body, byte for byte what botocore would send (no AWS)."""

from __future__ import annotations

import botocore.session
from botocore.serialize import create_serializer

from runtime.dal.results_writer import encode_request

RESULTS_TABLE = "results"
# 38 significant digits: the most DynamoDB accepts; any float on the way would lose some.
BIG_PRICE = "12345678901234567890.123456789012345678"
BIG_VOLUME = "99999999999999999999999999999999999999"


def test_encoded_body_is_byte_identical_to_botocores_serialization():
    # Given a batch with 38-digit numbers, punctuated symbols and a non-ASCII string
    items = {
        RESULTS_TABLE: [
            {
                "PutRequest": {
                    "Item": {
                        "symbol": {"S": symbol},
                        "timestamp": {"S": "2024-01-01T00:00:00.000001Z"},
                        "price": {"N": BIG_PRICE},
                        "volume": {"N": BIG_VOLUME},
                        "jobId": {"S": 'j"\\/\té'},
                    }
                }
            }
            for symbol in ["BRK.B", "^GSPC", "EUR/USD", "A-1_b"]
        ]
    }
    model = botocore.session.get_session().get_service_model("dynamodb")
    operation = model.operation_model("BatchWriteItem")
    # When encoded by the writer and by botocore's JSON serializer
    ours = encode_request(items)
    theirs = create_serializer("json").serialize_to_request({"RequestItems": items}, operation)
    # Then the bytes are the same
    assert ours == theirs["body"]
