"""Bring up the template's storage on an S3/DynamoDB/SQS endpoint (the local one, or one given)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from local.cfn import Template, TemplateError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

log = logging.getLogger("local.backend")

_TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable")


@dataclass(frozen=True)
class Notification:
    """An S3 -> Lambda notification of the template, realized as S3 -> SQS -> poller."""

    bucket: str
    function_logical_id: str
    events: tuple[str, ...]
    filter_rules: tuple[tuple[str, str], ...]  # (prefix|suffix, value)
    queue_name: str

    def matches(self, key: str) -> bool:
        for name, value in self.filter_rules:
            if name.lower() == "prefix" and not key.startswith(value):
                return False
            if name.lower() == "suffix" and not key.endswith(value):
                return False
        return True


class Clients:
    def __init__(self, endpoint_url: str, region: str) -> None:
        kwargs: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            # Emulators accept any credentials: never sign with a real account's.
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.s3: S3Client = boto3.client("s3", **kwargs)
        self.dynamodb: DynamoDBClient = boto3.client("dynamodb", **kwargs)
        self.sqs: SQSClient = boto3.client("sqs", **kwargs)
        self.stepfunctions: SFNClient = boto3.client("stepfunctions", **kwargs)
        self.events: EventBridgeClient = boto3.client("events", **kwargs)


def notifications_from_template(template: Template) -> list[Notification]:
    found: list[Notification] = []

    def add(bucket_value: Any, function_value: Any, events: list[str], rules: list[Any]) -> None:
        bucket = str(template.resolve(bucket_value))
        targets = [
            t
            for t in template.find_refs(function_value)
            if template.resource(t).type == "AWS::Lambda::Function"
        ]
        if not targets:
            raise TemplateError(f"S3 notification on {bucket} targets no function in the template")
        filter_rules = tuple(
            (str(rule["Name"]), str(template.resolve(rule["Value"]))) for rule in rules
        )
        digest = hashlib.sha256(f"{bucket}/{targets[0]}".encode()).hexdigest()[:10]
        found.append(
            Notification(
                bucket=bucket,
                function_logical_id=targets[0],
                events=tuple(events),
                filter_rules=filter_rules,
                queue_name=f"local-s3-events-{digest}",
            )
        )

    # What CDK emits for bucket.add_event_notification(...): a custom resource.
    for custom in template.of_type("Custom::S3BucketNotifications"):
        config = custom.properties.get("NotificationConfiguration") or {}
        for item in config.get("LambdaFunctionConfigurations") or []:
            rules = ((item.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
            add(custom.properties["BucketName"], item["LambdaFunctionArn"], item["Events"], rules)
    # The plain CloudFormation form.
    for bucket in template.of_type("AWS::S3::Bucket"):
        config = bucket.properties.get("NotificationConfiguration") or {}
        for item in config.get("LambdaConfigurations") or []:
            rules = ((item.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            add({"Ref": bucket.logical_id}, item["Function"], [item["Event"]], rules)
    return found


def provision(template: Template, clients: Clients) -> list[Notification]:
    """Create buckets, tables and queues; wire S3 notifications to local queues."""
    for bucket in template.of_type("AWS::S3::Bucket"):
        name = template.physical_name(bucket.logical_id)
        try:
            if template.region == "us-east-1":
                clients.s3.create_bucket(Bucket=name)
            else:
                clients.s3.create_bucket(
                    Bucket=name,
                    CreateBucketConfiguration={"LocationConstraint": template.region},  # type: ignore[typeddict-item]
                )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
                raise
    tables = [
        _create_table(template, clients, table.logical_id, template.resolve(table.properties))
        for table in template.of_type(*_TABLE_TYPES)
    ]
    for q in template.of_type("AWS::SQS::Queue"):
        attributes: dict[str, str] = {}
        if q.properties.get("FifoQueue"):
            attributes["FifoQueue"] = "true"
        created = clients.sqs.create_queue(
            QueueName=template.physical_name(q.logical_id),
            Attributes=attributes,  # type: ignore[arg-type]
        )
        template.queue_urls[q.logical_id] = created["QueueUrl"]
    # DynamoDB (and dynalite) answer CreateTable while the table is CREATING; writes fail until
    # it is ACTIVE. The buckets and queues above were made meanwhile.
    for name in tables:
        _wait_active(clients, name)
    for bus in template.of_type("AWS::Events::EventBus"):
        try:
            clients.events.create_event_bus(Name=template.physical_name(bus.logical_id))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                raise
    for machine in template.of_type("AWS::StepFunctions::StateMachine"):
        _create_state_machine(template, clients, machine.logical_id, machine.properties)
    notifications = notifications_from_template(template)
    by_bucket: dict[str, list[Notification]] = {}
    for notification in notifications:
        by_bucket.setdefault(notification.bucket, []).append(notification)
    for bucket_name, items in by_bucket.items():
        queue_configs = []
        for item in items:
            url = clients.sqs.create_queue(QueueName=item.queue_name)["QueueUrl"]
            arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            config: dict[str, Any] = {"QueueArn": arn, "Events": list(item.events)}
            if item.filter_rules:
                config["Filter"] = {
                    "Key": {
                        "FilterRules": [
                            {"Name": name, "Value": value} for name, value in item.filter_rules
                        ]
                    }
                }
            queue_configs.append(config)
        clients.s3.put_bucket_notification_configuration(
            Bucket=bucket_name,
            NotificationConfiguration={"QueueConfigurations": queue_configs},  # type: ignore[typeddict-item]
        )
    return notifications


def state_machine_definition(template: Template, properties: dict[str, Any]) -> str:
    """The ASL text of a state machine, with its functions', bucket's and role's local names:
    what CloudFormation would hand Step Functions (``DefinitionString`` is usually an
    ``Fn::Join`` of literal text and ``Fn::GetAtt`` / ``Ref``)."""
    if "DefinitionString" in properties:
        text = str(template.resolve(properties["DefinitionString"]))
    elif "Definition" in properties:
        text = json.dumps(template.resolve(properties["Definition"]))
    else:
        raise TemplateError("a state machine from S3 (DefinitionS3Location) cannot run locally")
    for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + name + "}", str(template.resolve(value)))
    return text


def _create_state_machine(
    template: Template, clients: Clients, logical_id: str, properties: dict[str, Any]
) -> str:
    """Create (or update to the template's definition) one state machine on moto; its ARN is
    the one `Ref` resolves to, so the functions' environment names it."""
    name = template.physical_name(logical_id)
    definition = state_machine_definition(template, properties)
    role = str(template.resolve(properties["RoleArn"]))
    arn = template.arn(logical_id)
    try:
        created = clients.stepfunctions.create_state_machine(
            name=name,
            definition=definition,
            roleArn=role,
            type=properties.get("StateMachineType", "STANDARD"),
        )
        arn = created["stateMachineArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "StateMachineAlreadyExists":
            raise
    # moto answers a create of an existing name with that machine, unchanged: a backend that
    # outlives one template (the tests' endpoint) must still run this template's definition.
    existing = clients.stepfunctions.describe_state_machine(stateMachineArn=arn)
    if existing["definition"] != definition or existing["roleArn"] != role:
        clients.stepfunctions.update_state_machine(
            stateMachineArn=arn, definition=definition, roleArn=role
        )
    if arn != template.arn(logical_id):
        raise TemplateError(f"state machine {name}: moto named it {arn}")
    return arn


def _wait_active(clients: Clients, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while clients.dynamodb.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {name} not ACTIVE after {timeout}s")
        time.sleep(0.02)


def _create_table(
    template: Template, clients: Clients, logical_id: str, props: dict[str, Any]
) -> str:
    """Creates the table (an existing one is kept) and returns its name."""
    name = template.physical_name(logical_id)
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        # Capacity settings mean nothing locally; on-demand keeps moto from throttling.
        "BillingMode": "PAY_PER_REQUEST",
    }
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        indexes = [
            {
                "IndexName": index["IndexName"],
                "KeySchema": index["KeySchema"],
                "Projection": index.get("Projection", {"ProjectionType": "ALL"}),
            }
            for index in props.get(kind) or []
        ]
        if indexes:
            request[kind] = indexes
    try:
        clients.dynamodb.create_table(**request)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
        return name
    ttl = props.get("TimeToLiveSpecification") or {}
    if ttl.get("Enabled"):
        try:
            clients.dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        except ClientError as exc:
            # dynalite has no TTL: expired items stay (the local run says so in its banner).
            if exc.response["Error"]["Code"] != "UnknownOperationException":
                raise
            log.info("%s: TTL on %r is not emulated by this backend", name, ttl["AttributeName"])
    return name
