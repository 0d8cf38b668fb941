"""Checks of the resources a user brings (``existing_*_obj``), made before anything uses them.

A resource defined in the same app (an ``s3.Bucket``, a ``dynamodb.TableV2`` or ``Table``, an
``sns.Topic``) is read from its CloudFormation properties, and what the pipeline needs of it is
checked: a ``ValueError`` names what is wrong. An imported one (``from_bucket_name``,
``from_table_attributes``, ``from_topic_arn``) carries only its name, ARN and key: what cannot be
read is acknowledged with an info annotation on the pipeline, and the README lists what its
owner must guarantee.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Annotations, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

__all__ = ["KeySchema", "check_bucket", "check_exclusive", "check_table", "check_topic"]


@dataclass(frozen=True)
class KeySchema:
    """What the pipeline's code reads of a table: its keys, TTL attribute and indexes (every
    attribute a string)."""

    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None
    # index name -> (partition key, sort key)
    indexes: Mapping[str, tuple[str, str]] | None = None

    def problems(self, table: Mapping[str, Any]) -> list[str]:
        """What ``table`` (a resolved AWS::DynamoDB::Table or GlobalTable's properties) lacks."""
        found: list[str] = []
        types = {
            a["attributeName"]: a["attributeType"] for a in table.get("attributeDefinitions") or ()
        }
        found += _key_problems(
            "key schema", table.get("keySchema") or (), types, self.partition_key, self.sort_key
        )
        if self.ttl_attribute is not None:
            ttl = table.get("timeToLiveSpecification") or {}
            if not (ttl.get("enabled") and ttl.get("attributeName") == self.ttl_attribute):
                found.append(f"time to live must be on attribute {self.ttl_attribute!r}")
        indexes = {i["indexName"]: i for i in table.get("globalSecondaryIndexes") or ()}
        for name, (partition, sort) in (self.indexes or {}).items():
            if name not in indexes:
                found.append(f"global secondary index {name!r} is missing")
                continue
            found += _key_problems(
                f"index {name!r}", indexes[name].get("keySchema") or (), types, partition, sort
            )
        return found


def _key_problems(
    what: str,
    schema: Sequence[Mapping[str, str]],
    types: Mapping[str, str],
    partition: str,
    sort: str | None,
) -> list[str]:
    keys = {k["keyType"]: k["attributeName"] for k in schema}
    wanted = {"HASH": partition, **({"RANGE": sort} if sort else {})}
    have = ", ".join(f"{t.lower()} {n!r} ({types.get(n, '?')})" for t, n in keys.items())
    want = ", ".join(f"{t.lower()} {n!r} (S)" for t, n in wanted.items())
    if keys != wanted or any(types.get(n) != "S" for n in wanted.values()):
        return [f"{what} must be {want} (got {have or 'none'})"]
    return []


def check_exclusive(
    *,
    existing_bucket_obj: s3.IBucket | None,
    bucket_props: object | None,
    existing_results_table_obj: dynamodb.ITable | None,
    results_table_warm_throughput: dynamodb.WarmThroughput | None,
) -> None:
    """Refuse props for a resource the user brings: they would silently not apply."""
    if existing_bucket_obj is not None and bucket_props is not None:
        raise ValueError("existing_bucket_obj and bucket_props are exclusive: give one")
    if existing_results_table_obj is not None and results_table_warm_throughput is not None:
        raise ValueError(
            "existing_results_table_obj and results_table_warm_throughput are exclusive: "
            "the warm throughput of an existing table is its owner's to set"
        )


def _imported(scope: Construct, what: str, owner_must: str) -> None:
    Annotations.of(scope).add_info(
        f"{what} is imported: the pipeline cannot read its configuration, so its owner must "
        f"guarantee {owner_must} (README, Bring your own resources)."
    )


def check_bucket(
    scope: Construct,
    bucket: s3.IBucket,
    *,
    customer_managed_key: bool,
    versioned: bool,
) -> None:
    """Refuse an upload bucket the pipeline cannot keep its promises with: no default
    encryption (SSE-KMS when ``customer_managed_key``), public access not fully blocked, plain
    HTTP allowed, or (``versioned``) no versioning. An imported bucket must at least name its
    key when ``customer_managed_key``: every object grant needs it."""
    what = "existing_bucket_obj"
    if not isinstance(bucket, s3.Bucket):
        if customer_managed_key and bucket.encryption_key is None:
            raise ValueError(
                f"{what} must be SSE-KMS in the hardened profile: import it with its key "
                "(s3.Bucket.from_bucket_attributes(..., encryption_key=key)), which the "
                "functions' grants need"
            )
        _imported(
            scope,
            what,
            "default encryption, blocked public access, a policy denying plain HTTP, the "
            "lifecycle rules of each prefix and, when the key is not given, SSE-S3",
        )
        return
    stack = Stack.of(bucket)
    cfn = bucket.node.default_child
    assert isinstance(cfn, s3.CfnBucket)
    problems: list[str] = []
    rules = (stack.resolve(cfn.bucket_encryption) or {}).get(
        "serverSideEncryptionConfiguration"
    ) or ()
    algorithms: set[str] = {
        algorithm
        for r in rules
        if (algorithm := (r.get("serverSideEncryptionByDefault") or {}).get("sseAlgorithm"))
    }
    if not algorithms:
        problems.append("it has no default encryption")
    elif customer_managed_key and not algorithms & {"aws:kms", "aws:kms:dsse"}:
        problems.append(f"it must be SSE-KMS in the hardened profile (got {sorted(algorithms)})")
    elif customer_managed_key and bucket.encryption_key is None:
        problems.append("its SSE-KMS key must be given as encryption_key, for the grants")
    block = stack.resolve(cfn.public_access_block_configuration) or {}
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    if not all(block.get(flag) is True for flag in flags):
        problems.append("public access must be fully blocked (BlockPublicAccess.BLOCK_ALL)")
    if not _denies_plain_http(stack, bucket):
        problems.append("its policy must deny requests without TLS (enforce_ssl=True)")
    if versioned:
        versioning = stack.resolve(cfn.versioning_configuration) or {}
        if versioning.get("status") != "Enabled":
            problems.append("bucket versioning is on, so it must be versioned")
    if problems:
        raise ValueError(f"{what} cannot hold the uploads: {'; '.join(problems)}")


def _denies_plain_http(stack: Stack, bucket: s3.Bucket) -> bool:
    if bucket.policy is None:
        return False
    document = stack.resolve(bucket.policy.document.to_json())
    return any(
        statement.get("Effect") == "Deny"
        and (statement.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for statement in document.get("Statement") or ()
    )


def check_table(
    scope: Construct,
    table: dynamodb.ITable,
    *,
    what: str,
    schema: KeySchema,
    customer_managed_key: bool,
) -> None:
    """Refuse a table whose keys, TTL or indexes are not the pipeline's, or one without a
    customer-managed key in the hardened profile (an imported one must name it)."""
    if customer_managed_key and table.encryption_key is None:
        raise ValueError(
            f"{what} must be encrypted with a customer-managed key in the hardened profile, "
            "given as its encryption_key (an imported table: from_table_attributes(..., "
            "encryption_key=key))"
        )
    if not isinstance(table, (dynamodb.TableV2, dynamodb.Table)):
        _imported(
            scope,
            what,
            "the keys, time to live and indexes the README lists for it, point-in-time "
            "recovery, and that it was imported with its key when it has a customer-managed one",
        )
        return
    stack = Stack.of(table)
    cfn = table.node.default_child
    assert isinstance(cfn, (dynamodb.CfnGlobalTable, dynamodb.CfnTable))
    properties = {
        "attributeDefinitions": stack.resolve(cfn.attribute_definitions),
        "keySchema": stack.resolve(cfn.key_schema),
        "timeToLiveSpecification": stack.resolve(cfn.time_to_live_specification),
        "globalSecondaryIndexes": stack.resolve(cfn.global_secondary_indexes),
    }
    problems = schema.problems(properties)
    if problems:
        raise ValueError(f"{what} is not the pipeline's table: {'; '.join(problems)}")


def check_topic(scope: Construct, topic: sns.ITopic, *, customer_managed_key: bool) -> None:
    """Refuse an alarm topic without a key in the hardened profile (an imported one must be
    imported with its key, ``key_arn``)."""
    if customer_managed_key and topic.master_key is None:
        raise ValueError(
            "existing_alarm_topic_obj must be encrypted with a customer-managed key in the "
            "hardened profile, and the key known (sns.Topic.from_topic_attributes(..., "
            "key_arn=...))"
        )
    if not isinstance(topic, sns.Topic):
        _imported(
            scope,
            "existing_alarm_topic_obj",
            "that CloudWatch alarms of this account may publish to it and, when it is "
            "encrypted, use its key",
        )
