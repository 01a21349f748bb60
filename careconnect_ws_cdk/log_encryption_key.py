"""A KMS key for CloudWatch log groups, with rotation and a key policy scoped to named groups."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cdk import (
    Construct,
    DataAwsCallerIdentity,
    DataAwsPartition,
    DataAwsRegion,
    KmsAlias,
    KmsKey,
)
from .deprecations import replaced
from .errors import InvalidPropsError
from .physical_names import claim
from .provider import use_provider


@dataclass(frozen=True, kw_only=True)
class LogEncryptionKeyProps:
    alias: str
    """The key's alias is ``alias/{alias}-logs``. Required."""
    log_group_names: Sequence[str]
    """The log groups CloudWatch Logs may use the key for (``allow_log_groups`` adds more). Required."""
    tags: Mapping[str, str] = field(default_factory=dict)
    deletion_window_in_days: int = 30
    """7 to 30. Default: 30."""
    provider: Any = None
    """The ``AwsProvider`` of the key and its lookups. Default: the stack's."""

    def __post_init__(self) -> None:
        if not isinstance(self.alias, str) or not self.alias.strip():
            raise InvalidPropsError("alias", self.alias, "the key needs an alias")
        if isinstance(self.log_group_names, str):
            raise InvalidPropsError("log_group_names", self.log_group_names, "a list of log group names, not one string")
        if not 7 <= self.deletion_window_in_days <= 30:
            raise InvalidPropsError("deletion_window_in_days", self.deletion_window_in_days, "KMS allows 7 to 30 days")


class LogEncryptionKey(Construct):
    """A customer-managed key that CloudWatch Logs may use for the given log groups only.

    The account root keeps full control and delegates to IAM (without it a key can become
    unmanageable; the backend's role gets ``kms:Decrypt`` through its own policy); the
    CloudWatch Logs service of this region may use the key only when the encryption
    context names one of ``log_group_names`` (``*`` allowed where a name holds a token
    that is not known before the key, e.g. the execution log group's API id).
    """

    def __init__(self, scope: Construct, id_: str, props: LogEncryptionKeyProps | None = None, **legacy: Any) -> None:
        super().__init__(scope, id_)
        if props is None:  # the keyword arguments of 0.1
            replaced("LogEncryptionKey", "alias", "LogEncryptionKey(scope, id, LogEncryptionKeyProps(alias=...))")
            props = LogEncryptionKeyProps(**legacy)
        self.props = props
        self._account = DataAwsCallerIdentity(self, "account").account_id
        self._partition = DataAwsPartition(self, "partition").partition
        # ``id`` is the region's name in provider 5.x and 6.x alike (``region`` exists only in 6.x).
        self._region = DataAwsRegion(self, "region").id
        self._log_group_names = list(props.log_group_names)
        self.key = KmsKey(
            self,
            "key",
            description=f"Encrypts the CloudWatch logs of {props.alias}",
            enable_key_rotation=True,
            deletion_window_in_days=props.deletion_window_in_days,
            policy=self._policy(),
            tags=dict(props.tags),
        )
        claim(self, "KMS alias", f"alias/{props.alias}-logs", prop="alias", value=props.alias, provider=props.provider)
        KmsAlias(self, "alias", name=f"alias/{props.alias}-logs", target_key_id=self.key.key_id)
        use_provider(self, props.provider)

    def allow_log_groups(self, *names: str) -> None:
        """Let CloudWatch Logs use the key for these groups too: for a group whose name is known only
        after the key (the execution log group carries the API's id), so the policy names exactly it."""
        self._log_group_names += names
        self.key.policy = self._policy()

    def _policy(self) -> str:
        partition, region, account = self._partition, self._region, self._account
        log_group_arns = [f"arn:{partition}:logs:{region}:{account}:log-group:{name}" for name in self._log_group_names]
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AccountAdministration",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                        "Action": "kms:*",
                        # In a key policy "*" means this key and nothing else.
                        "Resource": "*",
                    },
                    {
                        "Sid": "CloudWatchLogsForTheseGroups",
                        "Effect": "Allow",
                        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                        "Action": [
                            "kms:Encrypt*",
                            "kms:Decrypt*",
                            "kms:ReEncrypt*",
                            "kms:GenerateDataKey*",
                            "kms:Describe*",
                        ],
                        "Resource": "*",
                        "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_group_arns}},
                    },
                ],
            }
        )

    @property
    def arn(self) -> str:
        return self.key.arn
