"""The backend Lambda built from this package, with a least-privilege role.

    from careconnect_ws_cdk.backend_function import BackendFunction, BackendFunctionProps

Its role may write to its own log group, read the two secrets it is given, use the
stack's KMS key, send to its dead-letter queue, write X-Ray traces and, only when it
runs in a VPC, manage its network interfaces. ``execute-api:ManageConnections`` on the
stage's ``@connections`` is attached by the WebSocket API construct (``grant_manage_connections``),
which knows the API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from careconnect_ws import contract

from .cdk import (
    AssetType,
    CloudwatchLogGroup,
    Construct,
    Fn,
    IamRole,
    IamRolePolicy,
    LambdaAlias,
    LambdaFunction,
    SqsQueue,
    TerraformAsset,
)
from .errors import InvalidPropsError
from .iam import trust_policy
from .lambda_artifact import ARCHITECTURES, DEFAULT_ARCHITECTURE
from .physical_names import claim
from .provider import use_provider
from .websocket_api_props import DEFAULT_LOG_RETENTION_DAYS, LambdaTarget, check_log_retention_days

HANDLER = contract.HANDLER
SNAP_START_ALIAS = "live"
RUNTIMES = ("python3.12", "python3.13")

#: Statements whose Resource must be "*" because AWS offers no resource-level permission
#: for their actions. The synth test allows "*" for these Sids only.
WILDCARD_RESOURCE_STATEMENTS = {
    "VpcNetworkInterfaces": "EC2 network-interface actions Lambda needs in a VPC do not support resource-level permissions",
    "XRayTraces": "xray:PutTraceSegments and PutTelemetryRecords do not support resource-level permissions",
}


UNRESERVED = "none"
"""``reserved_concurrency`` of a function with no reserved concurrency, in every construct and the stack option."""


def check_extensions(
    extensions: Sequence[str],
    environment: Mapping[str, str],
    *,
    environment_prop: str,
    topics: Sequence[Mapping[str, str]] = (),
) -> None:
    """``extensions`` are module names and ``topics`` declarations the function will read, and neither variable is
    also set through ``environment_prop``."""
    for module in extensions:
        if not isinstance(module, str) or not re.fullmatch(contract.MODULE_NAME_PATTERN, module):
            raise InvalidPropsError("extensions", module, "give module names such as acme_ws or acme_ws.topics")
    try:
        contract.parse_declared_topics(list(topics))
    except ValueError as err:
        raise InvalidPropsError("topics", list(topics), str(err)) from None
    for prop, given, variable in (("extensions", extensions, contract.EXTENSIONS), ("topics", topics, contract.TOPICS_VARIABLE)):
        if given and variable in environment:
            raise InvalidPropsError(environment_prop, variable, f"set it once: the {prop} prop")


def extension_environment(extensions: Sequence[str], topics: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The variables that carry a team's extensions and declared topics to the function."""
    return {
        **({contract.EXTENSIONS: ",".join(extensions)} if extensions else {}),
        **({contract.TOPICS_VARIABLE: json.dumps([dict(t) for t in topics], separators=(",", ":"))} if topics else {}),
    }


@dataclass(frozen=True, kw_only=True)
class BackendFunctionProps:
    function_name: str
    """Name of the function. Required."""

    artifact_path: str
    """The zip built by ``python -m stacks.lambda_artifact`` (``make lambda``). Required."""

    kms_key_arn: str
    """Key for the log group, environment variables, secrets and dead-letter queue. Required."""

    database_secret_arn: str
    """Secrets Manager secret with the database URL or RDS-style JSON. Required."""

    jwt_secret_arn: str | None = None
    """Secret holding the HS256 token key. Default: none (then ``jwt_public_key``)."""

    jwt_public_key: str | None = None
    """RS256 public key (PEM; not a secret). Default: none."""

    jwt_jwks_url: str | None = None
    """Your identity provider's JWKS URL (RS256/ES256 keys by ``kid``, rotated by the provider). Default: none."""

    jwt_issuer: str | None = None
    jwt_audience: str | None = None

    provider: Any = None
    """The ``AwsProvider`` every resource of the function uses. Default: the stack's."""

    architecture: str = DEFAULT_ARCHITECTURE
    """``arm64`` or ``x86_64``; must match the artifact. Default: ``arm64``."""

    runtime: str = "python3.12"
    """Default: ``python3.12``."""

    memory_mb: int = 512
    """Default: 512."""

    timeout_seconds: int = 29
    """Default: 29 (API Gateway's integration timeout; longer buys nothing for WebSocket routes)."""

    reserved_concurrency: int | str | None = 100
    """Concurrent executions reserved for the function, which also caps its database connections. Default: 100.
    ``"none"`` (or ``None``) leaves it unreserved."""

    @property
    def reserved_limit(self) -> int | None:
        """``reserved_concurrency`` as a number, None when unreserved (``"none"`` is normalised at construction)."""
        value = self.reserved_concurrency
        return value if isinstance(value, int) else None

    subnet_ids: Sequence[str] = ()
    """Private subnets, when the database is private. Default: none (no VPC)."""

    security_group_ids: Sequence[str] = ()
    """Security groups, with ``subnet_ids``. Default: none."""

    environment: Mapping[str, str] = field(default_factory=dict)
    """Extra non-secret settings (e.g. ``CONNECTION_TTL_SECONDS``). Default: none."""

    extensions: Sequence[str] = ()
    """Your modules the function imports at cold start (``WS_EXTENSIONS``): their topics, actions and notification
    types. Put them in the zip with ``python -m careconnect_ws_cdk.lambda_artifact --include PATH``. Default: none."""

    topics: Sequence[Mapping[str, str]] = ()
    """Topics declared without code (``WS_TOPICS``): ``{"name": "care-plan", "rule": "claim:care_plans"}`` with the
    rules ``own-subject``, ``any-user`` or ``claim:<name>`` (the token's claim lists the subjects). Default: none."""

    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    """Default: 2192 (6 years)."""

    snap_start: bool = False
    """Lambda SnapStart: publish a version on every code or configuration change, snapshot it once it is
    initialised, and point every route, the authorizer, their permissions and the cleanup schedule at the
    alias ``live`` of the newest version, so cold starts restore the snapshot instead of importing. It costs
    a snapshot per published version and a restore charge per cold start (see the README), and needs
    Python 3.12+. The runtime's restore hooks (``careconnect_ws.snapstart``) drop everything a snapshot
    captured. Default: off."""

    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", self.function_name or ""):
            raise InvalidPropsError("function_name", self.function_name, "use 1-64 letters, digits, '-' or '_'")
        if self.architecture not in ARCHITECTURES:
            raise InvalidPropsError("architecture", self.architecture, f"use one of {', '.join(ARCHITECTURES)}")
        if self.runtime not in RUNTIMES:
            raise InvalidPropsError("runtime", self.runtime, f"use one of {', '.join(RUNTIMES)} (3.12+)")
        if not 128 <= self.memory_mb <= 10240:
            raise InvalidPropsError("memory_mb", self.memory_mb, "use 128 to 10240 MB")
        if not 1 <= self.timeout_seconds <= 900:
            raise InvalidPropsError("timeout_seconds", self.timeout_seconds, "use 1 to 900 seconds")
        if self.reserved_concurrency == UNRESERVED:
            object.__setattr__(self, "reserved_concurrency", None)  # one meaning, two spellings: "none" and None
        if self.reserved_concurrency is not None and (
            not isinstance(self.reserved_concurrency, int)
            or isinstance(self.reserved_concurrency, bool)
            or self.reserved_concurrency < 1
        ):
            raise InvalidPropsError(
                "reserved_concurrency", self.reserved_concurrency, f'use at least 1, or "{UNRESERVED}" for unreserved'
            )
        if bool(self.subnet_ids) != bool(self.security_group_ids):
            missing = "subnet_ids" if not self.subnet_ids else "security_group_ids"
            raise InvalidPropsError(missing, [], "a VPC function needs both subnet_ids and security_group_ids")
        ways = [name for name in ("jwt_secret_arn", "jwt_public_key", "jwt_jwks_url") if getattr(self, name)]
        iam = self.environment.get(contract.CONNECT_AUTH) == "iam"  # AWS_IAM on $connect: tokens optional
        if len(ways) > 1 or (not ways and not iam):
            raise InvalidPropsError(
                ways[1] if ways else "jwt_secret_arn",
                None,
                "set exactly one of jwt_secret_arn (HS256 key in Secrets Manager), jwt_public_key "
                "(RS256) or jwt_jwks_url (your identity provider's key set)",
            )
        if self.jwt_jwks_url and not self.jwt_jwks_url.startswith("https://"):
            raise InvalidPropsError("jwt_jwks_url", self.jwt_jwks_url, "an https:// URL (the provider's jwks_uri)")
        if (self.jwt_public_key or self.jwt_jwks_url) and not (self.jwt_issuer and self.jwt_audience):
            # The runtime refuses to start without both (a shared identity provider signs tokens for other
            # services with the same key): say so at synth, not at the first $connect.
            raise InvalidPropsError(
                "jwt_issuer" if not self.jwt_issuer else "jwt_audience",
                None,
                f"{ways[0]} needs both jwt_issuer and jwt_audience",
            )
        check_log_retention_days(self.log_retention_days)
        check_extensions(self.extensions, self.environment, environment_prop="environment", topics=self.topics)
        for name in contract.PLAIN_SECRETS:
            if name in self.environment:
                raise InvalidPropsError(
                    "environment",
                    name,
                    "secrets must not be plain environment variables (they land in Terraform state): "
                    "use database_secret_arn / jwt_secret_arn",
                )


class BackendFunction(Construct):
    def __init__(self, scope: Construct, id_: str, props: BackendFunctionProps) -> None:
        super().__init__(scope, id_)
        self.props = props
        tags = dict(props.tags)
        in_vpc = bool(props.subnet_ids)

        asset = TerraformAsset(self, "code", path=props.artifact_path, type=AssetType.FILE)
        name, on = props.function_name, props.provider
        for kind, physical in (
            ("Lambda function", name),
            ("log group", f"/aws/lambda/{name}"),
            ("SQS queue", f"{name}-dead-letters"),
            ("IAM role", f"{name}-role"),
        ):
            claim(self, kind, physical, prop="function_name", value=name, provider=on)

        self.log_group = CloudwatchLogGroup(
            self,
            "logs",
            name=f"/aws/lambda/{props.function_name}",
            retention_in_days=props.log_retention_days,
            kms_key_id=props.kms_key_arn,
            tags=tags,
        )
        # Where failed asynchronous invocations (the cleanup schedule) end up, instead of vanishing.
        self.dead_letter_queue = SqsQueue(
            self,
            "dead_letters",
            name=f"{props.function_name}-dead-letters",
            message_retention_seconds=14 * 24 * 3600,
            kms_master_key_id=props.kms_key_arn,
            tags=tags,
        )

        self.role = IamRole(
            self,
            "role",
            name=f"{props.function_name}-role",
            assume_role_policy=trust_policy("lambda.amazonaws.com"),
            tags=tags,
        )
        self.policy_document = self._policy(in_vpc)
        IamRolePolicy(
            self,
            "role_policy",
            name=f"{props.function_name}-least-privilege",
            role=self.role.id,
            policy=json.dumps(self.policy_document),
        )

        environment = {
            contract.DATABASE_SECRET_ARN: props.database_secret_arn,
            **({contract.JWT_SECRET_ARN: props.jwt_secret_arn} if props.jwt_secret_arn else {}),
            **({contract.JWT_PUBLIC_KEY: props.jwt_public_key} if props.jwt_public_key else {}),
            **({contract.JWT_JWKS_URL: props.jwt_jwks_url} if props.jwt_jwks_url else {}),
            **({contract.JWT_ISSUER: props.jwt_issuer} if props.jwt_issuer else {}),
            **({contract.JWT_AUDIENCE: props.jwt_audience} if props.jwt_audience else {}),
            **props.environment,
            **extension_environment(props.extensions, props.topics),
        }
        extra: dict[str, Any] = {}
        if in_vpc:
            extra["vpc_config"] = {"subnet_ids": list(props.subnet_ids), "security_group_ids": list(props.security_group_ids)}
        if props.reserved_concurrency is not None:
            extra["reserved_concurrent_executions"] = props.reserved_concurrency
        if props.snap_start:
            # source_code_hash changes with the zip, so a code change publishes a new version (and a new snapshot).
            extra.update(publish=True, snap_start={"apply_on": "PublishedVersions"})
        self.function = LambdaFunction(
            self,
            "function",
            function_name=props.function_name,
            role=self.role.arn,
            handler=HANDLER,
            runtime=props.runtime,
            architectures=[props.architecture],
            filename=asset.path,
            # Terraform compares this with the function's CodeSha256: it must be base64 SHA-256 of the zip.
            source_code_hash=Fn.filebase64sha256(asset.path),
            memory_size=props.memory_mb,
            timeout=props.timeout_seconds,
            environment={"variables": environment},
            kms_key_arn=props.kms_key_arn,
            dead_letter_config={"target_arn": self.dead_letter_queue.arn},
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "Text", "log_group": self.log_group.name},
            tags=tags,
            depends_on=[self.log_group],
            **extra,
        )
        self.alias = None
        if props.snap_start:
            self.alias = LambdaAlias(
                self,
                "alias",
                name=SNAP_START_ALIAS,
                description="The newest published version: SnapStart restores its snapshot",
                function_name=self.function.function_name,
                function_version=self.function.version,
            )
        use_provider(self, props.provider)

    @property
    def target(self) -> LambdaTarget:
        """This function as a route or authorizer target of the WebSocket API (its alias, with SnapStart)."""
        if self.alias is not None:
            return LambdaTarget(
                function_name=self.function.function_name, invoke_arn=self.alias.invoke_arn, qualifier=self.alias.name
            )
        return LambdaTarget(function_name=self.function.function_name, invoke_arn=self.function.invoke_arn)

    @property
    def arn(self) -> str:
        """What invokes it: the alias's ARN with SnapStart (the unqualified function would run $LATEST,
        which SnapStart does not apply to), the function's otherwise."""
        return self.alias.arn if self.alias is not None else self.function.arn

    @property
    def qualifier(self) -> str | None:
        return self.alias.name if self.alias is not None else None

    def _policy(self, in_vpc: bool) -> dict:
        props = self.props
        secrets = [arn for arn in (props.database_secret_arn, props.jwt_secret_arn) if arn]
        statements = [
            {
                "Sid": "OwnLogGroupOnly",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"{self.log_group.arn}:*"],
            },
            {
                "Sid": "ReadItsSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": secrets,
            },
            {
                "Sid": "UseTheStackKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": [props.kms_key_arn],
            },
            {
                "Sid": "DeadLetters",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [self.dead_letter_queue.arn],
            },
            {
                # AWS requires "*": X-Ray's write actions have no resource-level permissions.
                "Sid": "XRayTraces",
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": ["*"],
            },
        ]
        if in_vpc:
            statements.append(
                {
                    # AWS requires "*": Lambda's ENI actions do not support resource-level permissions.
                    "Sid": "VpcNetworkInterfaces",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    "Resource": ["*"],
                }
            )
        return {"Version": "2012-10-17", "Statement": statements}
