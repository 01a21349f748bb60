"""The construct library as another team uses it: the wheel installed with pip into a clean virtualenv
outside this repository, composed into their own stack, synthesized, on cdktf and on CDK Terrain.
Minutes of pip and jsii: run by `make test-consumer` (CI runs it), not by the default suite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.consumer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)], check=True)
    return next(out.glob("careconnect_ws-*.whl"))


@pytest.mark.parametrize(("extra", "lineage"), [("infra", "cdktf"), ("infra-cdktn", "cdktn")])
def test_two_apis_on_an_aliased_provider_in_a_consumer_stack(wheel, tmp_path, extra, lineage):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    constraints = ROOT / "constraints.txt"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints), f"{wheel}[{extra}]"], check=True)
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "main.py").write_text((Path(__file__).parent / "consumer_app.py").read_text())
    (app_dir / "function.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CARECONNECT_WS_CDK", "VIRTUAL_ENV")}
    proc = subprocess.run([str(python), "main.py"], cwd=app_dir, env=clean, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-2:] == ["snapshot-stable", lineage]
    doc = json.loads((app_dir / "out" / "stacks" / "consumer" / "cdk.tf.json").read_text())

    # The library came from the wheel, not from this checkout.
    origin = subprocess.run(
        [str(python), "-c", "import careconnect_ws_cdk; print(careconnect_ws_cdk.__file__)"],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
    ).stdout
    assert str(env_dir) in origin and str(ROOT) not in origin

    # Distinct outputs, asked for explicitly; none of the module's unprefixed names leak in.
    outputs = set(doc["output"])
    assert {"chat_websocket_api_endpoint", "alerts_websocket_api_endpoint"} <= outputs
    # Two systems' outputs by their plain names: terraform output -raw care_database_secret_arn works.
    assert {"notify_database_secret_arn", "care_database_secret_arn", "care_backend_function_name"} <= outputs
    assert not {"websocket_api_endpoint", "websocket_api_id"} & outputs

    # Every resource and data source of every construct is on the consumer's aliased provider.
    constructs = [
        (kind, name, body)
        for section in ("resource", "data")
        for kind, items in doc.get(section, {}).items()
        for name, body in items.items()
        if name.startswith(("chat_", "alerts_", "notifications_", "more_"))
    ]
    assert len(constructs) > 100
    assert {body.get("provider") for _, _, body in constructs} == {"aws.eu"}
    assert {kind for kind, name, _ in constructs if name.startswith("more_")} >= {
        "aws_cloudwatch_dashboard",
        "aws_cloudwatch_metric_alarm",
        "aws_kms_key",
        "aws_api_gateway_account",
        "aws_apigatewayv2_authorizer",
    }

    # Distinct physical names.
    groups = [b["name"] for b in doc["resource"]["aws_cloudwatch_log_group"].values()]
    assert len(groups) == len(set(groups)) == 16  # 2 per API (7, two of them the systems'), a function's per system
    aliases = [b["name"] for b in doc["resource"]["aws_kms_alias"].values()]
    assert len(aliases) == len(set(aliases)) == 8
    functions = {b["function_name"]: b for b in doc["resource"]["aws_lambda_function"].values()}
    assert set(functions) == {"consumer-ws", "notify-backend", "care-backend"}
    variables = functions["care-backend"]["environment"]["variables"]
    assert variables["WS_EXTENSIONS"] == "acme_ws" and json.loads(variables["WS_TOPICS"])[0]["rule"] == "claim:care_plans"
    for rtype, attribute in (("aws_iam_role", "name"), ("aws_sqs_queue", "name"), ("aws_secretsmanager_secret", "name")):
        names = [b[attribute] for b in doc["resource"][rtype].values()]
        assert len(names) == len(set(names)), (rtype, names)

    # The routes and authorizers: a bearer header, the subprotocols, AWS_IAM with only the custom domain.
    authorizers = {b["name"]: b["identity_sources"] for b in doc["resource"]["aws_apigatewayv2_authorizer"].values()}
    assert authorizers["devices-connect"] == ["route.request.header.Authorization"]
    assert authorizers["browsers-connect"] == ["route.request.header.Sec-WebSocket-Protocol"]
    services = next(b for b in doc["resource"]["aws_apigatewayv2_api"].values() if b["name"] == "services")
    assert services["disable_execute_api_endpoint"] is True
    assert [
        r["authorization_type"]
        for n, r in doc["resource"]["aws_apigatewayv2_route"].items()
        if n.startswith("more_services") and r["route_key"] == "$connect"
    ] == ["AWS_IAM"]

    # Permissions and integrations bound to the consumer's own function resource.
    fn_ref = "aws_lambda_function.fn"
    permissions = [p for n, p in doc["resource"]["aws_lambda_permission"].items() if n.startswith(("chat_", "alerts_"))]
    assert {p["function_name"] for p in permissions} == {f"${{{fn_ref}.function_name}}"}
    assert len(permissions) == 8  # 3 routes of each API, plus a custom route added later to each
    integrations = [i for n, i in doc["resource"]["aws_apigatewayv2_integration"].items() if n.startswith(("chat_", "alerts_"))]
    assert {i["integration_uri"] for i in integrations} == {f"${{{fn_ref}.invoke_arn}}"}
    grant = next(p for n, p in doc["resource"]["aws_iam_role_policy"].items() if n.startswith("chat_"))
    assert grant["role"] == "${aws_iam_role.role.name}"

    # The README's snapshot test of a team's own stack, as written, with pytest and syrupy: it records its
    # snapshot, then passes against it.
    subprocess.run([str(python), "-m", "pip", "install", "-q", "pytest", "syrupy"], check=True)
    tests_dir = tmp_path / "their-tests"
    tests_dir.mkdir()
    (tests_dir / "test_my_stack.py").write_text(_readme_block("careconnect_ws_cdk.testing"))
    for args, passed in ((["--snapshot-update"], "2 passed"), ([], "2 passed")):
        run = _pytest(python, tests_dir, "test_my_stack.py", *args, env=clean)
        assert run.returncode == 0 and passed in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]


def test_an_extension_tested_with_the_shipped_pytest_plugin_outside_the_repository(wheel, tmp_path):
    """tests/extension/ uses only careconnect_ws.testing: here it runs against the wheel with the testing extra."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), f"{wheel}[testing,client]"], check=True
    )
    project = tmp_path / "their-project"
    project.mkdir()
    source = ROOT / "tests" / "extension" / "test_custom_topic_and_action.py"
    (project / source.name).write_text(source.read_text())
    (project / "test_my_action.py").write_text(_readme_block("careconnect_ws.testing"))  # the README's, as written
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = _pytest(python, project, source.name, "test_my_action.py", env=clean)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout


def _readme_block(containing: str) -> str:
    """The README's Python block of "Testing your stack and your extensions" that imports ``containing``."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Testing your stack and your extensions") :]
    section = section[: section.index("\n### ", 1)]
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if f"from {containing} import" in b]
    return block


def _pytest(python: Path, cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
