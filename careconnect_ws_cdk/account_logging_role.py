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
from dataclasses import dataclass, field
from typing import Any

from .cdk import ApiGatewayAccount, Construct, IamRole, IamRolePolicyAttachment
from .deprecations import replaced
from .errors import InvalidPropsError
from .iam import trust_policy
from .physical_names import claim
from .provider import use_provider

PUSH_TO_CLOUDWATCH = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


@dataclass(frozen=True, kw_only=True)
class AccountLoggingRoleProps:
    name: str
    """The role's name. Required."""
    tags: Mapping[str, str] = field(default_factory=dict)
    provider: Any = None
    """The ``AwsProvider`` (its region is the one whose API Gateway settings this changes). Default: the stack's."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidPropsError("name", self.name, "the role needs a name")


class AccountLoggingRole(Construct):
    def __init__(self, scope: Construct, id_: str, props: AccountLoggingRoleProps | None = None, **legacy: Any) -> None:
        super().__init__(scope, id_)
        if props is None:  # the keyword arguments of 0.1
            replaced("AccountLoggingRole", "name", "AccountLoggingRole(scope, id, AccountLoggingRoleProps(name=...))")
            props = AccountLoggingRoleProps(**legacy)
        self.props = props
        claim(self, "IAM role", props.name, prop="name")
        # The account's API Gateway settings are one per account and region: a second construct managing them would
        # take them over silently.
        claim(
            self,
            "API Gateway account settings",
            "cloudwatch_role_arn",
            prop="manage_account_cloudwatch_role",
            value=True,
            provider=props.provider,
            advice="an account and region has one; let one construct (or stack) manage it",
        )
        self.role = IamRole(
            self,
            "role",
            name=props.name,
            assume_role_policy=trust_policy("apigateway.amazonaws.com"),
            tags=dict(props.tags),
        )
        IamRolePolicyAttachment(self, "push_to_cloudwatch", role=self.role.name, policy_arn=PUSH_TO_CLOUDWATCH)
        self.account = ApiGatewayAccount(self, "account", cloudwatch_role_arn=self.role.arn)
        use_provider(self, props.provider)
