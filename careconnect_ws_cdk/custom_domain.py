"""A custom domain for the WebSocket API's clients (``wss://ws.example.org``), with its mapping and DNS record.

``@connections`` stays on ``execute-api``: API Gateway serves the management API there only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidPropsError
from .prop_values import text

_DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")


@dataclass(frozen=True, kw_only=True)
class CustomDomain:
    """A custom domain for clients (``wss://{domain_name}``); ``@connections`` stays on execute-api."""

    domain_name: str
    """e.g. ``ws.careconnect.example``. Required."""

    certificate_arn: str
    """ACM certificate for the name, in the API's region. Required."""

    hosted_zone_id: str | None = None
    """Route 53 zone to create an alias record in. Default: none (create the DNS record yourself)."""


def check_domain(domain: CustomDomain) -> None:
    """Fail at synth, naming the field, for what API Gateway would reject at apply (tokens are checked at plan)."""
    name = text("domain.domain_name", domain.domain_name)
    if name is not None and not _DNS_NAME.match(name):
        raise InvalidPropsError("domain.domain_name", domain.domain_name, "use a lower-case DNS name such as ws.example.org")
    if not (domain.certificate_arn or "").startswith(("arn:", "${")):
        raise InvalidPropsError("domain.certificate_arn", domain.certificate_arn, "give the ACM certificate's ARN")


def add_custom_domain(scope: Any, domain: CustomDomain, *, api_id: str, stage_id: str, tags: dict[str, str]) -> Any:
    """The regional domain name (TLS 1.2), its mapping to the stage and, given a hosted zone, an alias record.
    Created in ``scope`` (the API's construct), so their Terraform addresses are the API's."""
    from .cdk import Apigatewayv2ApiMapping, Apigatewayv2DomainName, Route53Record

    domain_name = Apigatewayv2DomainName(
        scope,
        "domain",
        domain_name=domain.domain_name,
        domain_name_configuration={
            "certificate_arn": domain.certificate_arn,
            "endpoint_type": "REGIONAL",
            "security_policy": "TLS_1_2",
        },
        tags=tags,
    )
    Apigatewayv2ApiMapping(scope, "domain_mapping", api_id=api_id, domain_name=domain_name.id, stage=stage_id)
    if domain.hosted_zone_id:
        config = domain_name.domain_name_configuration
        Route53Record(
            scope,
            "domain_record",
            zone_id=domain.hosted_zone_id,
            name=domain.domain_name,
            type="A",
            alias={
                "name": config.target_domain_name,
                "zone_id": config.hosted_zone_id,
                "evaluate_target_health": False,
            },
        )
    return domain_name
