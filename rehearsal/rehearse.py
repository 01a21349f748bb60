"""Rehearse a deploy, offline (``python -m rehearsal [complete|existing|snapstart ...] [--break route-target]``).

For each mode: synthesize the stack (``python main.py``, as ``make synth`` does), start a
throwaway moto server, point the AWS provider at it with an override file, then
``terraform init / validate / plan / apply``, read every resource back and check the wiring,
``plan`` again (nothing may change beyond moto's known gaps), ``destroy``, stop moto.

Modes: ``complete`` (the default stack: function, authorizer, IAM, secrets, schedule, key), ``snapstart``
(the same with Lambda SnapStart: a published version and an alias every way in invokes) and
``existing`` (the API bound to an existing function and role, created in moto first, with the
options moto supports: alarms and the account's CloudWatch role).

``--break route-target`` applies a stack whose ``$default`` route targets the integration id
without ``integrations/`` and expects the read-back to fail, naming the route.

Exit codes: 0 rehearsed, 1 a check failed, 3 skipped (terraform or the provider is not available here).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from careconnect_ws.limits import LIMITS
from careconnect_ws_cdk import defaults
from careconnect_ws_cdk.backend_function import SNAP_START_ALIAS
from careconnect_ws_cdk.websocket_api_props import DEFAULT_LOG_RETENTION_DAYS, WebSocketApiProps
from rehearsal.cli import CLIS, rehearse_cli
from rehearsal.moto_server import MotoServer
from rehearsal.readback import Expectations, Findings, WiringError, check_wiring, unexpected_changes
from rehearsal.terraform import Terraform, TerraformFailed, Toolchain, Unavailable, find_toolchain
from stacks.stack_config import load_stack_config

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
SKIPPED = 3

EXISTING_FUNCTION = "cc-backend-main"
EXISTING_ROLE = "cc-backend-role"
ALARM_TOPIC = "cc-websocket-alarms"


@dataclass(frozen=True)
class Mode:
    name: str
    stack_name: str
    env: dict[str, str]


def _modes(moto: MotoServer | None) -> dict[str, Mode]:
    account = "123456789012"  # moto's account
    return {
        "complete": Mode(
            "complete",
            "careconnect-ws-rehearsal-complete",
            {"CARECONNECT_WS_ALARM_TOPIC_ARN": f"arn:aws:sns:{REGION}:{account}:{ALARM_TOPIC}"},
        ),
        "snapstart": Mode("snapstart", "careconnect-ws-rehearsal-snapstart", {"CARECONNECT_WS_SNAP_START": "on"}),
        "existing": Mode(
            "existing",
            "careconnect-ws-rehearsal-existing",
            {
                "CARECONNECT_WS_BACKEND_FUNCTION_NAME": EXISTING_FUNCTION,
                "CARECONNECT_WS_BACKEND_ROLE_NAME": EXISTING_ROLE,
                "CARECONNECT_WS_ALARM_TOPIC_ARN": f"arn:aws:sns:{REGION}:{account}:{ALARM_TOPIC}",
                "CARECONNECT_WS_MANAGE_ACCOUNT_CLOUDWATCH_ROLE": "on",
            },
        ),
    }


def synthesize(mode: Mode, toolchain: Toolchain) -> Path:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CARECONNECT_WS_")},
        **mode.env,
        "CARECONNECT_WS_STACK_NAME": mode.stack_name,
        "CARECONNECT_WS_REGION": REGION,
    }
    if toolchain.provider_constraint:
        env["CARECONNECT_WS_AWS_PROVIDER_VERSION"] = toolchain.provider_constraint
    proc = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"synth of {mode.stack_name} failed:\n{proc.stderr[-3000:]}")
    return ROOT / "cdktf.out" / "stacks" / mode.stack_name


def expectations(mode: Mode, function_role: str) -> Expectations:
    config = load_stack_config({}, {**mode.env, "CARECONNECT_WS_STACK_NAME": mode.stack_name})
    existing = config.existing_backend
    return Expectations(
        stage=config.stage,
        throttling_rate_limit=LIMITS.throttling_rate_limit,
        throttling_burst_limit=LIMITS.throttling_burst_limit,
        logging_level=config.logging_level or str(WebSocketApiProps.__dataclass_fields__["logging_level"].default),
        log_retention_days=config.log_retention_days or DEFAULT_LOG_RETENTION_DAYS,
        function_name=(config.backend_function_name or "")
        if existing
        else (config.function_name or defaults.function_name(config.name)),
        authorizer=config.authorizer_enabled,
        manage_connections_role=config.backend_role_name if existing else function_role,
        cleanup_rule=not existing and config.cleanup_schedule is not None,
        alarm_topic_arn=config.alarm_topic_arn,
        account_role=config.manage_account_cloudwatch_role,
        qualifier=SNAP_START_ALIAS if config.snap_start and not existing else None,
        dashboard_name=f"{config.name}-{config.stage}" if config.dashboard else None,
    )


def read_back(mode: Mode, state: dict, moto: MotoServer, label: str) -> Findings:
    """Every wiring check of a deployed ``mode`` against moto; a failed check raises :class:`WiringError`."""
    function = expectations(mode, "")
    role_arn = moto.client("lambda", REGION).get_function(FunctionName=function.function_name)["Configuration"]["Role"]
    findings = check_wiring(
        state, expectations(mode, role_arn.rsplit("/", 1)[1]), lambda service: moto.client(service, REGION), REGION
    )
    if findings.problems:
        raise WiringError(
            f"{label}: {len(findings.problems)} of {findings.checked} wiring checks failed:\n  - "
            + "\n  - ".join(findings.problems)
        )
    return findings


def _read_back_complete(stack_name: str, state: dict[str, Any], moto: MotoServer, label: str) -> Findings:
    """The complete system's read-back for a stack the CDK CLIs deployed."""
    return read_back(Mode("complete", stack_name, {}), state, moto, label)


def prepare_existing(moto: MotoServer) -> None:
    """What mode (a) binds to must exist first: a role and a function."""
    iam = moto.client("iam", REGION)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName=EXISTING_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return {'statusCode': 200}\n")
    moto.client("lambda", REGION).create_function(
        FunctionName=EXISTING_FUNCTION,
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )


def break_route_target(stack_dir: Path) -> None:
    """An override that points ``$default`` at the bare integration id (no ``integrations/``)."""
    doc = json.loads((stack_dir / "cdk.tf.json").read_text())
    routes = doc["resource"]["aws_apigatewayv2_route"]
    name = next(n for n, r in routes.items() if r["route_key"] == "$default")
    target = routes[name]["target"]
    broken = target.replace("integrations/", "")
    (stack_dir / "broken_override.tf.json").write_text(
        json.dumps({"resource": {"aws_apigatewayv2_route": {name: {"target": broken}}}}, indent=2)
    )


def rehearse(mode: Mode, toolchain: Toolchain, *, broken: bool = False, log=print) -> dict:
    started = time.monotonic()
    stack_dir = synthesize(mode, toolchain)
    for stale in ("terraform.tfstate", f"terraform.{mode.stack_name}.tfstate", "broken_override.tf.json"):
        (stack_dir / stale).unlink(missing_ok=True)
    timings = {"synth": time.monotonic() - started}
    with MotoServer() as moto:
        if mode.name == "existing":
            prepare_existing(moto)
        if "CARECONNECT_WS_ALARM_TOPIC_ARN" in mode.env:
            moto.client("sns", REGION).create_topic(Name=ALARM_TOPIC)
        moto.write_override(stack_dir, REGION)
        if broken:
            break_route_target(stack_dir)
        tf = Terraform(toolchain, stack_dir)
        step = time.monotonic()
        tf.init()
        validation = tf.validate()
        if not validation.get("valid") or validation.get("warning_count"):
            raise WiringError(f"terraform validate: {json.dumps(validation.get('diagnostics'))[:3000]}")
        plan = tf.plan()
        timings["init+validate+plan"] = time.monotonic() - step
        step = time.monotonic()
        tf.apply()
        timings["apply"] = time.monotonic() - step
        try:
            findings = read_back(mode, tf.state(), moto, mode.stack_name)
            log(f"{mode.name}: {len(plan['resource_changes'])} resources applied, {findings.checked} wiring checks passed")
            step = time.monotonic()
            drift = unexpected_changes(tf.plan("replan.tfplan"))
            timings["replan"] = time.monotonic() - step
            if drift:
                raise WiringError(f"{mode.stack_name}: a second plan wants changes:\n  - " + "\n  - ".join(drift))
        finally:
            step = time.monotonic()
            tf.destroy()
            timings["destroy"] = time.monotonic() - step
            for leftover in ("rehearsal_override.tf.json", "broken_override.tf.json", "plan.tfplan", "replan.tfplan"):
                (stack_dir / leftover).unlink(missing_ok=True)
    timings["total"] = time.monotonic() - started
    log(
        f"{mode.name}: rehearsed in {timings['total']:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items() if k != "total")
        + ")"
    )
    return {"resources": len(plan["resource_changes"]), "checks": findings.checked, "timings": timings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal", description=__doc__.split("\n\n")[0])
    # No choices= here: argparse (3.11) checks an empty list against them and refuses it.
    parser.add_argument(
        "modes",
        nargs="*",
        metavar="MODE",
        help="complete, existing, snapstart (default: complete existing; none when only --cli is given)",
    )
    parser.add_argument(
        "--cli",
        action="append",
        default=[],
        choices=sorted(CLIS),
        help="also deploy and destroy the default app through this CDK CLI (cdktf, cdktn), as CI would",
    )
    parser.add_argument(
        "--break",
        dest="broken",
        choices=["route-target"],
        help="apply a deliberately broken stack and expect the read-back to fail",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modes) - {"complete", "existing", "snapstart"})
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}: choose from complete, existing, snapstart")
    if not args.modes and not args.cli:
        args.modes = ["complete", "existing"]
    work = ROOT / "cdktf.out"
    work.mkdir(exist_ok=True)
    try:
        toolchain = find_toolchain(work)
    except Unavailable as reason:
        print(f"rehearsal SKIPPED (nothing was deployed or checked): {reason}")
        return SKIPPED
    print(
        f"rehearsal: terraform {toolchain.terraform}, AWS provider from {toolchain.source}"
        + (f" (constraint {toolchain.provider_constraint})" if toolchain.provider_constraint else "")
    )
    modes = _modes(None)
    try:
        for name in args.modes:
            if args.broken:
                try:
                    rehearse(modes[name], toolchain, broken=True)
                except WiringError as err:
                    print(f"{name}: the broken stack failed the read-back, as it must:\n{err}")
                    continue
                print(f"{name}: the broken stack passed the read-back: the checks miss a broken route target")
                return 1
            rehearse(modes[name], toolchain)
        for name in args.cli:
            try:
                rehearse_cli(CLIS[name], toolchain, _read_back_complete)
            except Unavailable as reason:
                print(f"{name} CLI deploy SKIPPED: {reason}")
    except (WiringError, TerraformFailed) as err:
        print(f"rehearsal failed: {err}", file=sys.stderr)
        return 1
    return 0
