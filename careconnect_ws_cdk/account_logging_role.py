"""The account's API Gateway CloudWatch role: a per-account, per-region singleton.

API Gateway writes execution logs (``logging_level`` INFO or ERROR) only when the
account's API Gateway settings name a role it can assume. There is one such setting
per account and region, shared by every API there: manage it in one stack only.
Destroying this stack removes the role (execution logging of every API in the region
stops) while the account setting keeps pointing at it: Terraform only forgets an
``aws_api_gateway_account``, it does not reset it.
"""

from __future__ import annotations

from collections.abc import Mapping

from .cdk import ApiGatewayAccount, Construct, IamRole, IamRolePolicyAttachment
from .iam import trust_policy

PUSH_TO_CLOUDWATCH = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


class AccountLoggingRole(Construct):
    def __init__(self, scope: Construct, id_: str, *, name: str, tags: Mapping[str, str]) -> None:
        super().__init__(scope, id_)
        self.role = IamRole(
            self,
            "role",
            name=name,
            assume_role_policy=trust_policy("apigateway.amazonaws.com"),
            tags=dict(tags),
        )
        IamRolePolicyAttachment(self, "push_to_cloudwatch", role=self.role.name, policy_arn=PUSH_TO_CLOUDWATCH)
        self.account = ApiGatewayAccount(self, "account", cloudwatch_role_arn=self.role.arn)
