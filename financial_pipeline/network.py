"""Network: where the functions run in the hardened profile, and how they reach AWS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from financial_pipeline._defaults import FLOW_LOG_RETENTION, VPC_MAX_AZS
from financial_pipeline.nag import acknowledge, compliance

__all__ = ["INTERFACE_ENDPOINTS", "Network"]

INTERFACE_ENDPOINTS: Final = {
    # The sweeper re-drives stuck jobs with lambda:InvokeFunction on the processor.
    "Lambda": ec2.InterfaceVpcEndpointAwsService.LAMBDA_,
    # The X-Ray SDK's segments, for active tracing (R7).
    "XRay": ec2.InterfaceVpcEndpointAwsService.XRAY,
    # The processor, finish_split and the sweeper publish job events (R27).
    "Events": ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
    # The processor starts the execution of a split file (R23).
    "StepFunctions": ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
}
"""The interface endpoints, by construct id: only the services the Lambda code calls besides
S3 and DynamoDB (gateway endpoints, free). Each costs an hourly fee per availability zone."""

# What the functions call through each endpoint (`Network.admit_only`). S3: reads, writes,
# moves (CopyObject is GetObject on the source), deletes, the report's multipart upload and
# its abort, and ListBucket (HeadObject of a missing key then answers 404).
_S3_OBJECT_ACTIONS = ("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject")
_S3_BUCKET_ACTIONS = ("s3:ListBucket",)
# DynamoDB: what CDK's table data grants give the roles, less the Streams actions (DynamoDB
# Streams has an endpoint of its own, which the functions never call).
_DYNAMODB_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
)
# X-Ray's trace upload, what Lambda's tracing grants; these actions name no resource.
_XRAY_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")


class Network(Construct):
    """A VPC with no route to the internet, and the endpoints the functions need.

    A new VPC has private isolated subnets in two availability zones, no internet or NAT
    gateway, a closed default security group and flow logs. The functions' security group
    allows no inbound traffic and only HTTPS out: in isolated subnets the only destinations
    HTTPS can reach are the endpoints (the gateway endpoints' AWS prefix lists and the
    interface endpoints' addresses in the VPC). Naming the prefix lists instead would need a
    lookup at synth time or a custom resource, for no gain while the subnets have no other
    route.

    Through the endpoints, HTTPS out would reach every bucket, table and bus of any account:
    `admit_only` gives each endpoint a policy that admits the pipeline's function roles calling
    the pipeline's own resources, and nothing else.

    Attributes:
        vpc: the VPC (new or the one passed in).
        subnets: the subnets the functions and interface endpoints use.
        security_group: the functions' security group.
        endpoint_security_group: the interface endpoints' security group (HTTPS from the
            functions only); None when no endpoints are created.
        endpoints: the gateway and interface endpoints, by construct id.
        flow_log: the flow log of a new VPC, else None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        existing_vpc: ec2.IVpc | None = None,
        endpoints: bool = True,
        encryption_key: kms.IKey | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        """Create the network.

        Args:
            existing_vpc: the VPC to run in; default: a new one. The functions use its
                private isolated subnets, or its private subnets with egress when it has no
                isolated ones; a VPC with neither is refused. With egress subnets, HTTPS out
                reaches whatever their routes reach: the network boundary is then the VPC
                owner's.
            endpoints: create the S3 and DynamoDB gateway endpoints and the interface
                endpoints of `INTERFACE_ENDPOINTS`; default True. Turn off for an existing
                VPC that already has them (a second interface endpoint with private DNS for
                one service cannot be created in a VPC).
            encryption_key: encrypts the flow log group of a new VPC; default AWS-managed.
            removal_policy: of the flow log group; default RETAIN.
        """
        super().__init__(scope, construct_id)
        if existing_vpc is not None:
            self.subnets = _private_subnets(existing_vpc)
            self.vpc = existing_vpc
            self.flow_log: ec2.FlowLog | None = None
        else:
            vpc = ec2.Vpc(
                self,
                "Vpc",
                max_azs=VPC_MAX_AZS,
                nat_gateways=0,
                subnet_configuration=[
                    ec2.SubnetConfiguration(
                        name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                    )
                ],
                restrict_default_security_group=True,
            )
            self.vpc = vpc
            self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
            flow_log_group = logs.LogGroup(
                self,
                "FlowLogs",
                retention=FLOW_LOG_RETENTION,
                encryption_key=encryption_key,
                removal_policy=removal_policy,
            )
            self.flow_log = vpc.add_flow_log(
                "FlowLog",
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
                traffic_type=ec2.FlowLogTrafficType.ALL,
            )
            role = self.flow_log.node.try_find_child("IAMRole")
            policy = role.node.try_find_child("DefaultPolicy") if role is not None else None
            if policy is not None:
                acknowledge(
                    policy,
                    compliance("IAMNoInlinePolicy"),
                    "CDK's flow log role may write to the flow log group only, in an inline "
                    "policy of that role alone.",
                )

        self.security_group = ec2.SecurityGroup(
            self,
            "FunctionSecurityGroup",
            vpc=self.vpc,
            description="Pipeline functions: no inbound, HTTPS out to the AWS endpoints",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to the VPC endpoints"
        )

        self.endpoints: dict[str, ec2.GatewayVpcEndpoint | ec2.InterfaceVpcEndpoint] = {}
        self.endpoint_security_group: ec2.SecurityGroup | None = None
        if not endpoints:
            return
        for name, gateway in (
            ("S3", ec2.GatewayVpcEndpointAwsService.S3),
            ("DynamoDb", ec2.GatewayVpcEndpointAwsService.DYNAMODB),
        ):
            self.endpoints[name] = self.vpc.add_gateway_endpoint(
                name, service=gateway, subnets=[self.subnets]
            )
        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="Pipeline interface endpoints: HTTPS from the pipeline functions",
            allow_all_outbound=False,
        )
        self.endpoint_security_group.add_ingress_rule(
            self.security_group, ec2.Port.tcp(443), "HTTPS from the pipeline functions"
        )
        for name, service in INTERFACE_ENDPOINTS.items():
            self.endpoints[name] = ec2.InterfaceVpcEndpoint(
                self,
                f"{name}Endpoint",
                vpc=self.vpc,
                service=service,
                subnets=self.subnets,
                security_groups=[self.endpoint_security_group],
                private_dns_enabled=True,
                # Inbound is the one rule above, not the whole VPC's address range.
                open=False,
            )

    def admit_only(
        self,
        callers: Sequence[iam.IRole],
        *,
        bucket: s3.IBucket,
        tables: Sequence[dynamodb.ITable],
        event_bus: events.IEventBus,
        invoked_functions: Sequence[lambda_.IFunction],
        state_machines: Sequence[sfn.IStateMachine],
    ) -> None:
        """Give every endpoint this network created a policy that admits only ``callers`` (the
        roles of the functions in the VPC) calling what the Lambda code calls through it:

        - S3: objects of ``bucket`` (get, put, delete, abort a multipart upload), and listing it;
        - DynamoDB: item reads and writes, queries and DescribeTable on ``tables`` and their
          indexes;
        - Lambda: ``lambda:InvokeFunction`` of ``invoked_functions`` (and their versions);
        - Step Functions: ``states:StartExecution`` of ``state_machines``;
        - EventBridge: ``events:PutEvents`` to ``event_bus``;
        - X-Ray: the trace uploads (they name no resource).

        Each role's own policy still narrows its calls; the endpoints keep any call from the
        VPC off other accounts' (and other workloads') buckets, tables, buses and functions,
        and other credentials off the endpoints. A gateway endpoint's policy cannot name a role
        as its principal, so every statement admits any principal on condition that its
        ``aws:PrincipalArn`` is one of ``callers``. In an existing VPC shared with other
        workloads these endpoints would refuse their calls: bring your own endpoints there
        (``endpoints=False``), with policies that admit the calls above.

        A new AWS call of the Lambda code needs its statement here as well as its grant.
        """
        if not self.endpoints:
            return
        condition = {"ArnEquals": {"aws:PrincipalArn": [role.role_arn for role in callers]}}

        def admit(endpoint: str, actions: Sequence[str], resources: Sequence[str]) -> None:
            self.endpoints[endpoint].add_to_policy(
                iam.PolicyStatement(
                    principals=[iam.AnyPrincipal()],
                    actions=list(actions),
                    resources=list(resources),
                    conditions=condition,
                )
            )

        admit("S3", _S3_OBJECT_ACTIONS, [bucket.arn_for_objects("*")])
        admit("S3", _S3_BUCKET_ACTIONS, [bucket.bucket_arn])
        admit(
            "DynamoDb",
            _DYNAMODB_ACTIONS,
            [arn for table in tables for arn in (table.table_arn, f"{table.table_arn}/index/*")],
        )
        admit(
            "Lambda",
            ["lambda:InvokeFunction"],
            [
                arn
                for function in invoked_functions
                for arn in (function.function_arn, f"{function.function_arn}:*")
            ],
        )
        admit(
            "StepFunctions",
            ["states:StartExecution"],
            [machine.state_machine_arn for machine in state_machines],
        )
        admit("Events", ["events:PutEvents"], [event_bus.event_bus_arn])
        admit("XRay", _XRAY_ACTIONS, ["*"])


def _private_subnets(vpc: ec2.IVpc) -> ec2.SubnetSelection:
    if vpc.isolated_subnets:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
    if vpc.private_subnets:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
    raise ValueError(
        "existing_vpc needs private isolated or private subnets "
        f"(got {len(vpc.public_subnets)} public subnet(s) only in {vpc.node.path!r})"
    )
