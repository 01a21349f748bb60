"""careconnect-ws as a construct library, for cdktf or CDK Terrain (cdktn), whichever is installed.

    from careconnect_ws_cdk import WebSocketApi, WebSocketApiProps, LambdaTarget

Everything CDK-shaped comes through :mod:`careconnect_ws_cdk.cdk`, the one module that imports
cdktf/cdktn and the AWS provider bindings (it starts Node.js: seconds, hundreds of MB). The names
below load on first use, so ``careconnect_ws_cdk.lambda_artifact``, ``WebSocketApiProps`` and the
``connect_authorization`` types import without the CDK (``WebSocketSystemProps`` does not: it reads the
alarms' and the function's own defaults), and the Lambda runtime (``careconnect_ws``) never imports this package at all.

Where things are: ``websocket_api`` (the API construct) with ``websocket_api_props`` (its props and validation)
and its parts, a file each: ``connect_authorization`` (who may connect: a token authorizer, IAM or none),
``websocket_routes`` (routes, integrations, permissions), ``websocket_stage`` (the stage and its logs),
``custom_domain``, ``lambda_target``; ``websocket_system`` (the complete system: API, function, key, secrets,
schedule, dashboard, alarms) with ``websocket_system_props`` and ``cleanup_schedule``; ``backend_function`` (the Lambda built from this package); ``lambda_artifact``
(building its zip); ``testing`` (synthesize, snapshot without churn, assert routes: for your own stack's tests);
``alarms`` and ``dashboard`` (what an operator watches), ``log_encryption_key``, ``account_logging_role``, ``iam``;
``provider`` (the one rule that puts a construct's resources on its provider), ``physical_names`` (each claimed
once per stack), ``outputs`` (root outputs named ``{prefix}{name}``), ``prop_values``, ``deprecations``,
``defaults`` and ``errors``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "WebSocketApi": "websocket_api",
    "WebSocketApiProps": "websocket_api_props",
    "LambdaTarget": "lambda_target",
    "CustomDomain": "custom_domain",
    "ConnectAuthorization": "connect_authorization",
    "TokenAuthorizer": "connect_authorization",
    "IamAuthorization": "connect_authorization",
    "NoAuthorization": "connect_authorization",
    "WebSocketSystem": "websocket_system",
    "WebSocketSystemProps": "websocket_system_props",
    "BackendFunction": "backend_function",
    "BackendFunctionProps": "backend_function",
    "Alarms": "alarms",
    "AlarmsProps": "alarms",
    "AlarmThresholds": "alarms",
    "Dashboard": "dashboard",
    "DashboardProps": "dashboard",
    "LogEncryptionKey": "log_encryption_key",
    "LogEncryptionKeyProps": "log_encryption_key",
    "AccountLoggingRole": "account_logging_role",
    "AccountLoggingRoleProps": "account_logging_role",
    "InvalidPropsError": "errors",
    "build_lambda_artifact": "lambda_artifact",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'careconnect_ws_cdk' has no attribute {name!r}")
    attr = "build" if name == "build_lambda_artifact" else name
    return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
