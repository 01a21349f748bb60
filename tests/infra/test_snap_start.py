"""SnapStart on the complete system: a published version, an alias, and every way in (routes, authorizer,
their permissions, the cleanup schedule) pointing at the alias; nothing changes with it off."""

from __future__ import annotations

import pytest

from careconnect_ws_cdk.errors import InvalidPropsError


def test_the_function_publishes_versions_and_snapshots_them(snap_start_synth):
    _, function = snap_start_synth.one("aws_lambda_function")
    assert function["publish"] is True
    assert function["snap_start"] == {"apply_on": "PublishedVersions"}
    assert function["runtime"] == "python3.12"
    # A code change changes the hash, so it publishes a new version (and a new snapshot).
    assert "filebase64sha256" in function["source_code_hash"]


def test_an_alias_follows_the_newest_version(snap_start_synth):
    name, alias = snap_start_synth.one("aws_lambda_alias")
    function_name, _ = snap_start_synth.one("aws_lambda_function")
    assert alias["name"] == "live"
    assert alias["function_version"] == f"${{aws_lambda_function.{function_name}.version}}"
    assert alias["function_name"] == f"${{aws_lambda_function.{function_name}.function_name}}"


def test_every_integration_and_the_authorizer_invoke_the_alias(snap_start_synth):
    alias_name, _ = snap_start_synth.one("aws_lambda_alias")
    alias_invoke = f"${{aws_lambda_alias.{alias_name}.invoke_arn}}"
    integrations = snap_start_synth.resources("aws_apigatewayv2_integration")
    assert integrations and all(i["integration_uri"] == alias_invoke for i in integrations.values())
    ((_, authorizer),) = snap_start_synth.resources("aws_apigatewayv2_authorizer").items()
    assert authorizer["authorizer_uri"] == alias_invoke


def test_every_permission_is_on_the_alias(snap_start_synth):
    alias_name, _ = snap_start_synth.one("aws_lambda_alias")
    permissions = snap_start_synth.resources("aws_lambda_permission")
    principals = sorted(p["principal"] for p in permissions.values())
    assert principals.count("apigateway.amazonaws.com") == 4 and "events.amazonaws.com" in principals
    assert all(p["qualifier"] == f"${{aws_lambda_alias.{alias_name}.name}}" for p in permissions.values())


def test_the_cleanup_schedule_invokes_the_alias(snap_start_synth):
    alias_name, _ = snap_start_synth.one("aws_lambda_alias")
    ((_, target),) = snap_start_synth.resources("aws_cloudwatch_event_target").items()
    assert target["arn"] == f"${{aws_lambda_alias.{alias_name}.arn}}"


def test_with_snap_start_off_nothing_is_published_and_no_alias_exists(default_synth):
    _, function = default_synth.one("aws_lambda_function")
    assert "publish" not in function and "snap_start" not in function
    assert default_synth.resources("aws_lambda_alias") == {}
    assert all("qualifier" not in p for p in default_synth.resources("aws_lambda_permission").values())


def test_snap_start_is_refused_for_an_existing_function():
    from careconnect_ws_cdk.cdk import App, TerraformStack
    from careconnect_ws_cdk.websocket_api_props import LambdaTarget
    from careconnect_ws_cdk.websocket_system import WebSocketSystem, WebSocketSystemProps

    stack = TerraformStack(App(), "refused")
    with pytest.raises(InvalidPropsError, match="snap_start"):
        WebSocketSystem(
            stack,
            "system",
            WebSocketSystemProps(
                existing_function=LambdaTarget(function_name="f", invoke_arn="arn:aws:apigateway:x"), snap_start=True
            ),
        )
