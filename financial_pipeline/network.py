"""Network: where the functions run in the hardened profile (R26), and how they reach AWS."""

from __future__ import annotations

from typing import Final

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
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


class Network(Construct):
    """A VPC with no route to the internet, and the endpoints the functions need.

    A new VPC has private isolated subnets in two availability zones, no internet or NAT
    gateway, a closed default security group and flow logs. The functions' security group
    allows no inbound traffic and only HTTPS out: in isolated subnets the only destinations
    HTTPS can reach are the endpoints (the gateway endpoints' AWS prefix lists and the
    interface endpoints' addresses in the VPC). Naming the prefix lists instead would need a
    lookup at synth time or a custom resource, for no gain while the subnets have no other
    route.

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

        self.endpoints: dict[str, ec2.IVpcEndpoint] = {}
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


def _private_subnets(vpc: ec2.IVpc) -> ec2.SubnetSelection:
    if vpc.isolated_subnets:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
    if vpc.private_subnets:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
    raise ValueError(
        "existing_vpc needs private isolated or private subnets "
        f"(got {len(vpc.public_subnets)} public subnet(s) only in {vpc.node.path!r})"
    )
