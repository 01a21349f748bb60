"""The one module that imports cdktf, constructs and the AWS provider bindings.

Every other module in ``stacks/`` imports CDK names from here. Supporting the
maintained CDK Terrain fork (``cdktn`` and ``cdktn-provider-aws``, the same API
under new package names) means changing the imports below and nothing else.

Importing this module starts Node.js (jsii) and costs ~10 s and ~1.2 GB: the
Lambda runtime in ``careconnect_ws`` must never import it.
"""

from __future__ import annotations

import os

# jsii prints a large end-of-life banner on Node 20; the message is not ours to act on.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from cdktf import (  # noqa: E402
    App,
    Fn,
    LocalBackend,
    S3Backend,
    TerraformAsset,
    AssetType,
    TerraformOutput,
    TerraformStack,
    Testing,
    Token,
)
from constructs import Construct  # noqa: E402
from cdktf_cdktf_provider_aws.provider import AwsProvider  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_api import Apigatewayv2Api  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_integration import Apigatewayv2Integration  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_route import Apigatewayv2Route  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_route_response import Apigatewayv2RouteResponse  # noqa: E402
from cdktf_cdktf_provider_aws.apigatewayv2_stage import (  # noqa: E402
    Apigatewayv2Stage,
    Apigatewayv2StageAccessLogSettings,
    Apigatewayv2StageDefaultRouteSettings,
)
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (  # noqa: E402
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
)
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_lambda_function import DataAwsLambdaFunction  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion  # noqa: E402
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias  # noqa: E402
from cdktf_cdktf_provider_aws.kms_key import KmsKey  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy  # noqa: E402
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission  # noqa: E402

__all__ = [
    "App",
    "AssetType",
    "Apigatewayv2Api",
    "Apigatewayv2Integration",
    "Apigatewayv2Route",
    "Apigatewayv2RouteResponse",
    "Apigatewayv2Stage",
    "Apigatewayv2StageAccessLogSettings",
    "Apigatewayv2StageDefaultRouteSettings",
    "AwsProvider",
    "CloudwatchLogGroup",
    "Construct",
    "DataAwsIamPolicyDocument",
    "DataAwsIamPolicyDocumentStatement",
    "DataAwsCallerIdentity",
    "DataAwsLambdaFunction",
    "DataAwsPartition",
    "DataAwsRegion",
    "KmsAlias",
    "KmsKey",
    "Fn",
    "IamRolePolicy",
    "LambdaPermission",
    "LocalBackend",
    "S3Backend",
    "TerraformAsset",
    "TerraformOutput",
    "TerraformStack",
    "Testing",
    "Token",
]
