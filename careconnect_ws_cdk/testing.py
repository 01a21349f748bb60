"""Testing a stack that contains these constructs: synthesize it to JSON once, snapshot it without churn, and
assert what a WebSocket API in it does.

    from careconnect_ws_cdk.testing import snapshot_json, synthesize, websocket_routes

    def test_my_stack(snapshot):
        app = Testing.app()                       # careconnect_ws_cdk.cdk.Testing: cdktf's or CDK Terrain's
        stack = MyStack(app, "mine")
        assert snapshot_json(stack) == snapshot   # syrupy
        routes = websocket_routes(synthesize(stack), api="chat")
        assert routes["chat.send"].invokes == reference(my_function, "invoke_arn")

``snapshot_json`` masks what changes without any change of yours: the version the provider bindings pin (a new
careconnect-ws release, or cdktf against CDK Terrain, can move it; cdktf also writes the provider's address in
its short form) and the content hash in an asset's path (a new Lambda zip changes it). Everything else, the
hash's *place* included, stays in the snapshot.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from careconnect_ws.contract import BUILT_IN_ROUTES

PIN_MASK = "<the bindings' pinned version>"
ASSET_HASH_MASK = "<hash>"
_ASSET = re.compile(r"assets/([A-Za-z0-9_-]+)/[0-9A-Fa-f]{32,64}/")
_EXACT_VERSION = re.compile(r"=?\s*\d+\.\d+\.\d+")


class SynthesizedStack:
    """A synthesized stack (``cdk.tf.json`` as a dict) with small lookups for assertions."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.doc: dict[str, Any] = json.loads(raw)

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        """Every resource of a type by its synthesized name (``aws_apigatewayv2_route`` -> ``{name: body}``)."""
        return self.doc.get("resource", {}).get(rtype, {})

    def data(self, dtype: str) -> dict[str, dict[str, Any]]:
        return self.doc.get("data", {}).get(dtype, {})

    def one(self, rtype: str) -> tuple[str, dict[str, Any]]:
        """The only resource of a type, with its name; fails when there are none or several."""
        found = self.resources(rtype)
        assert len(found) == 1, f"expected one {rtype}, found {sorted(found)}"
        return next(iter(found.items()))

    def ref(self, rtype: str, name: str, attr: str) -> str:
        """How the synthesized JSON refers to an attribute: ``${rtype.name.attr}``."""
        return f"${{{rtype}.{name}.{attr}}}"

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return self.doc.get("output", {})


def synthesize(stack: Any) -> SynthesizedStack:
    """The stack's Terraform JSON (``Testing.synth``), parsed. Synthesis starts jsii and takes seconds: do it once
    per test session (a session-scoped fixture) and assert on the result many times."""
    from .cdk import Testing

    return SynthesizedStack(Testing.synth(stack))


def normalized(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with provider version pins and asset content hashes masked (see the module's docstring)."""
    doc = json.loads(_ASSET.sub(rf"assets/\1/{ASSET_HASH_MASK}/", json.dumps(doc)))
    for provider in doc.get("terraform", {}).get("required_providers", {}).values():
        if isinstance(provider, dict) and _EXACT_VERSION.fullmatch(str(provider.get("version", ""))):
            provider["version"] = PIN_MASK
        if isinstance(provider, dict) and "/" not in str(provider.get("source", "/")):
            provider["source"] = f"hashicorp/{provider['source']}"  # cdktf's short form of the same address
    return doc


def snapshot_json(stack_or_doc: Any) -> dict[str, Any]:
    """What to compare with a syrupy ``snapshot``: the synthesized stack (or its dict), :func:`normalized`."""
    if isinstance(stack_or_doc, SynthesizedStack):
        return normalized(stack_or_doc.doc)
    if isinstance(stack_or_doc, dict):
        return normalized(stack_or_doc)
    return normalized(synthesize(stack_or_doc).doc)


def reference(resource: Any, attribute: str) -> str:
    """How the synthesized JSON refers to ``resource.attribute`` (e.g. a function's ``invoke_arn``):
    ``${aws_lambda_function.<its synthesized name>.invoke_arn}``."""
    return f"${{{resource.terraform_resource_type}.{resource.friendly_unique_id}.{attribute}}}"


@dataclass(frozen=True)
class Route:
    """One route of a synthesized WebSocket API."""

    key: str
    invokes: str
    """The integration's URI as synthesized: a function's invoke ARN, or a reference to one."""
    two_way: bool
    """The function's reply goes back to the client (a route response)."""
    authorization: str
    """``NONE``, ``CUSTOM`` (a Lambda authorizer) or ``AWS_IAM``."""


def websocket_routes(stack: SynthesizedStack | dict[str, Any], api: str | None = None) -> dict[str, Route]:
    """The routes of the stack's WebSocket API by key (``api``: its name, needed when the stack has several)."""
    doc = stack.doc if isinstance(stack, SynthesizedStack) else stack
    resources = doc.get("resource", {})
    websocket = {
        name: body for name, body in resources.get("aws_apigatewayv2_api", {}).items() if body.get("protocol_type") == "WEBSOCKET"
    }
    apis = {name: body for name, body in websocket.items() if api is None or body.get("name") == api}
    assert len(apis) == 1, (
        f"expected one WebSocket API{f' named {api!r}' if api else ''}; the stack has "
        f"{sorted(str(b.get('name')) for b in websocket.values()) or 'none'}" + ("" if api else ": pass api=<its name>")
    )
    api_ref = f"${{aws_apigatewayv2_api.{next(iter(apis))}.id}}"
    integrations = {
        f"integrations/${{aws_apigatewayv2_integration.{name}.id}}": body["integration_uri"]
        for name, body in resources.get("aws_apigatewayv2_integration", {}).items()
        if body.get("api_id") == api_ref
    }
    answered = {body["route_id"] for body in resources.get("aws_apigatewayv2_route_response", {}).values()}
    routes = {}
    for name, body in resources.get("aws_apigatewayv2_route", {}).items():
        if body.get("api_id") != api_ref:
            continue
        routes[body["route_key"]] = Route(
            key=body["route_key"],
            invokes=integrations.get(body.get("target", ""), body.get("target", "")),
            two_way=f"${{aws_apigatewayv2_route.{name}.id}}" in answered,
            authorization=body.get("authorization_type", "NONE"),
        )
    return routes


def assert_routes_invoke(
    stack: SynthesizedStack | dict[str, Any],
    invoke_arn: str,
    *,
    routes: tuple[str, ...] = BUILT_IN_ROUTES,
    api: str | None = None,
) -> None:
    """Assert the API has these routes (default: ``$connect``, ``$disconnect``, ``$default``) and each invokes
    ``invoke_arn`` (as synthesized: see :func:`reference`)."""
    found = websocket_routes(stack, api)
    missing = [key for key in routes if key not in found]
    assert not missing, f"the API has no route {', '.join(missing)} (it has {', '.join(sorted(found))})"
    wrong = {key: found[key].invokes for key in routes if found[key].invokes != invoke_arn}
    assert not wrong, f"routes invoking something else than {invoke_arn}: {wrong}"
