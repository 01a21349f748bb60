"""Every configuration mistake is one line that names what the user set (the variable or the context key),
the value, and what is allowed; unknown options are reported instead of silently ignored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from careconnect_ws_cdk.errors import InvalidPropsError
from stacks.stack_config import load_stack_config, unknown_options

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"CARECONNECT_WS_REGION": "Europe (Ireland)"}, "CARECONNECT_WS_REGION", "AWS region code"),
        ({"AWS_REGION": "ireland"}, "AWS_REGION", "AWS region code"),
        (
            {"CARECONNECT_WS_STATE_REGION": "eu_west_1", "CARECONNECT_WS_STATE_BUCKET": "tf-state"},
            "CARECONNECT_WS_STATE_REGION",
            "AWS region code",
        ),
        ({"CARECONNECT_WS_ALARM_TOPIC_ARN": "oncall"}, "CARECONNECT_WS_ALARM_TOPIC_ARN", "arn:aws:sns:REGION:ACCOUNT:TOPIC"),
        ({"CARECONNECT_WS_ALARM_TOPIC_ARN": "arn:aws:sqs:us-east-1:111122223333:q"}, "CARECONNECT_WS_ALARM_TOPIC_ARN", "sns"),
        (
            {"CARECONNECT_WS_CERTIFICATE_ARN": "arn:aws:acm:us-east-1:1:certificate/x"},
            "CARECONNECT_WS_CERTIFICATE_ARN",
            "certificate/ID",
        ),
        ({"CARECONNECT_WS_DATABASE_SECRET_ARN": "my-secret"}, "CARECONNECT_WS_DATABASE_SECRET_ARN", "secretsmanager"),
        (
            {"CARECONNECT_WS_JWT_SECRET_ARN": "arn:aws:ssm:us-east-1:111122223333:parameter/x"},
            "CARECONNECT_WS_JWT_SECRET_ARN",
            "secretsmanager",
        ),
        (
            {
                "CARECONNECT_WS_BACKEND_FUNCTION_NAME": "fn",
                "CARECONNECT_WS_BACKEND_INVOKE_ARN": "arn:aws:lambda:us-east-1:1:function:fn",
            },
            "CARECONNECT_WS_BACKEND_INVOKE_ARN",
            "invoke ARN",
        ),
        ({"CARECONNECT_WS_CLEANUP_SCHEDULE": "every 15 minutes"}, "CARECONNECT_WS_CLEANUP_SCHEDULE", "rate(15 minutes)"),
        ({"CARECONNECT_WS_CLEANUP_SCHEDULE": "rate(1 minutes)"}, "CARECONNECT_WS_CLEANUP_SCHEDULE", "EventBridge schedule"),
        ({"CARECONNECT_WS_STATE_BUCKET": "My_Bucket"}, "CARECONNECT_WS_STATE_BUCKET", "S3 bucket name"),
        ({"CARECONNECT_WS_STACK_NAME": "my stack"}, "CARECONNECT_WS_STACK_NAME", "letters, digits"),
        ({"CARECONNECT_WS_ARCHITECTURE": "aarch64"}, "CARECONNECT_WS_ARCHITECTURE", "arm64 or x86_64"),
        ({"CARECONNECT_WS_HOSTED_ZONE_ID": "example.org"}, "CARECONNECT_WS_HOSTED_ZONE_ID", "hosted zone id"),
        ({"CARECONNECT_WS_MEMORY_MB": "lots"}, "CARECONNECT_WS_MEMORY_MB", "whole number"),
    ],
)
def test_a_bad_option_names_the_variable(env, variable, words):
    with pytest.raises(InvalidPropsError) as err:
        load_stack_config({}, env)
    message = str(err.value)
    assert message.startswith(f"{variable}=") and words in message
    assert "\n" not in message


def test_a_bad_context_key_names_the_context_key():
    with pytest.raises(InvalidPropsError, match=r"^cdktf.json context region='Europe \(Ireland\)'"):
        load_stack_config({"region": "Europe (Ireland)"}, {})


def test_good_values_pass():
    config = load_stack_config(
        {},
        {
            "CARECONNECT_WS_REGION": "eu-west-1",
            "CARECONNECT_WS_ALARM_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:oncall",
            "CARECONNECT_WS_CLEANUP_SCHEDULE": "cron(0/15 * * * ? *)",
            "CARECONNECT_WS_STATE_BUCKET": "careconnect-tfstate.eu",
            "CARECONNECT_WS_DATABASE_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf",
        },
    )
    assert config.sources["region"] == "CARECONNECT_WS_REGION"


def test_unknown_options_are_reported_with_a_suggestion():
    warnings = unknown_options({"stgae": "x", "stage": "ok"}, {"CARECONNECT_WS_STAEG": "x", "CARECONNECT_WS_STAGE": "ok"})
    assert warnings == [
        "CARECONNECT_WS_STAEG is not an option and is ignored (did you mean CARECONNECT_WS_STAGE?)",
        "cdktf.json context stgae is not an option and is ignored (did you mean stage?)",
    ]


def _stack(env, fake_artifact=None, tmp_path=None):
    from careconnect_ws_cdk.cdk import Testing
    from stacks.websocket_stack import WebSocketStack

    config = load_stack_config({}, {"CARECONNECT_WS_BACKEND_FUNCTION_NAME": "cc-backend", **env})
    return WebSocketStack(Testing.app(), config)


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"CARECONNECT_WS_STAGE": "has space"}, "CARECONNECT_WS_STAGE", "letters, digits, '-' or '_'"),
        ({"CARECONNECT_WS_LOG_RETENTION_DAYS": "42"}, "CARECONNECT_WS_LOG_RETENTION_DAYS", "retention CloudWatch Logs accepts"),
        ({"CARECONNECT_WS_LOGGING_LEVEL": "DEBUG"}, "CARECONNECT_WS_LOGGING_LEVEL", "OFF, ERROR, INFO"),
        ({"CARECONNECT_WS_NAME": " "}, "CARECONNECT_WS_NAME", "non-empty name"),
        (
            {
                "CARECONNECT_WS_HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ",
                "CARECONNECT_WS_CERTIFICATE_ARN": "arn:aws:acm:us-east-1:111122223333:certificate/abc",
            },
            "CARECONNECT_WS_DOMAIN_NAME (or context domain_name)",
            "needs both domain_name and certificate_arn",
        ),
        # An option that would do nothing in mode (a) is refused rather than ignored.
        ({"CARECONNECT_WS_ARTIFACT_PATH": "x.zip"}, "CARECONNECT_WS_ARTIFACT_PATH", "applies to the function"),
        ({"CARECONNECT_WS_SNAP_START": "on"}, "CARECONNECT_WS_SNAP_START", "applies to the function"),
        # Set under its 0.1 name, the error names what the user wrote.
        ({"CARECONNECT_WS_API_NAME": " "}, "CARECONNECT_WS_API_NAME", "non-empty name"),
        (
            {
                "CARECONNECT_WS_DOMAIN_NAME": "Not A Domain",
                "CARECONNECT_WS_CERTIFICATE_ARN": "arn:aws:acm:us-east-1:111122223333:certificate/abc",
            },
            "CARECONNECT_WS_DOMAIN_NAME",
            "lower-case DNS name",
        ),
    ],
)
def test_a_bad_value_caught_by_a_construct_still_names_the_variable(default_synth, env, variable, words):
    with pytest.raises(InvalidPropsError) as err:
        _stack(env)
    assert str(err.value).startswith(f"{variable}=") and words in str(err.value)


def test_mode_b_errors_name_the_variable_and_the_right_list(default_synth, fake_artifact):
    from careconnect_ws_cdk.cdk import Testing
    from stacks.websocket_stack import WebSocketStack

    env = {"CARECONNECT_WS_ARTIFACT_PATH": fake_artifact, "CARECONNECT_WS_SUBNET_IDS": "subnet-a,subnet-b"}
    with pytest.raises(InvalidPropsError) as err:
        WebSocketStack(Testing.app(), load_stack_config({}, env))
    # The missing list is named with no value, not the subnets shown as security groups.
    assert str(err.value).startswith("security_group_ids=[]") and "both subnet_ids and security_group_ids" in str(err.value)
    env = {"CARECONNECT_WS_ARTIFACT_PATH": fake_artifact, "CARECONNECT_WS_MEMORY_MB": "64"}
    with pytest.raises(InvalidPropsError, match=r"^CARECONNECT_WS_MEMORY_MB=64 .*128 to 10240"):
        WebSocketStack(Testing.app(), load_stack_config({}, env))


def test_an_explicit_artifact_that_does_not_exist_is_not_found_not_unbuilt(default_synth, tmp_path):
    from careconnect_ws_cdk.cdk import Testing
    from stacks.websocket_stack import WebSocketStack

    missing = str(tmp_path / "mine.zip")
    with pytest.raises(InvalidPropsError) as err:
        WebSocketStack(Testing.app(), load_stack_config({}, {"CARECONNECT_WS_ARTIFACT_PATH": missing}))
    assert str(err.value).startswith("CARECONNECT_WS_ARTIFACT_PATH=") and "no such file" in str(err.value)
    assert "not built" not in str(err.value)


def test_the_missing_zip_error_names_the_command_for_the_configured_architecture(default_synth, tmp_path, monkeypatch):
    from careconnect_ws_cdk.cdk import Testing
    from stacks import websocket_stack

    monkeypatch.setattr(websocket_stack, "artifact_path", lambda arch: tmp_path / f"careconnect-ws-lambda-{arch}.zip")
    with pytest.raises(InvalidPropsError) as err:
        websocket_stack.WebSocketStack(Testing.app(), load_stack_config({"architecture": "x86_64"}, {}))
    assert "make lambda LAMBDA_ARCH=x86_64" in str(err.value) and "--arch x86_64" in str(err.value)


def test_the_zip_architecture_follows_cdktf_json_context(tmp_path):
    """`make synth` builds the zip main.py will look for: both read cdktf.json's context."""
    (tmp_path / "cdktf.json").write_text(json.dumps({"context": {"architecture": "x86_64"}}))
    code = "from stacks.lambda_artifact import configured_architecture; print(configured_architecture())"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("CARECONNECT_WS_")}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.strip() == "x86_64", proc.stderr


def test_main_reads_cdktf_json_context_as_the_cli_does(default_synth, tmp_path, monkeypatch, capsys):
    """`python main.py` (what make synth runs) honours cdktf.json's "context" without the npm CLI."""
    monkeypatch.syspath_prepend(str(ROOT))
    for name in [n for n in __import__("os").environ if n.startswith("CARECONNECT_WS_")]:
        monkeypatch.delenv(name)
    (tmp_path / "cdktf.json").write_text(
        json.dumps(
            {"app": "python3 main.py", "context": {"stage": "from-context", "backend_function_name": "fn", "stgae": "typo"}}
        )
    )
    monkeypatch.chdir(tmp_path)
    import main

    app = main.build_app()
    stack = next(c for c in app.node.children if hasattr(c, "config"))
    assert stack.config.stage == "from-context" and stack.config.sources["stage"] == "cdktf.json context stage"
    assert "cdktf.json context stgae is not an option" in capsys.readouterr().err

    # A 0.1 name in cdktf.json still works for one release, and says what to write instead.
    (tmp_path / "cdktf.json").write_text(
        json.dumps({"app": "python3 main.py", "context": {"api_name": "legacy", "backend_function_name": "fn"}})
    )
    app = main.build_app()
    stack = next(c for c in app.node.children if hasattr(c, "config"))
    assert stack.config.name == "legacy" and stack.config.sources["name"] == "cdktf.json context api_name"
    err = capsys.readouterr().err
    assert "cdktf.json context api_name is deprecated: set cdktf.json context name" in err
    assert "not an option" not in err


def test_runtime_settings_reach_the_function_and_bad_ones_name_the_variable(default_synth, fake_artifact):
    from careconnect_ws_cdk.cdk import Testing
    from stacks.websocket_stack import WebSocketStack

    env = {
        "CARECONNECT_WS_ARTIFACT_PATH": fake_artifact,
        "CARECONNECT_WS_FUNCTION_ENVIRONMENT": '{"WS_MAX_MESSAGES_PER_SECOND": 20, "TOUCH_INTERVAL_SECONDS": "30"}',
    }
    doc = json.loads(Testing.synth(WebSocketStack(Testing.app(), load_stack_config({}, env))))
    variables = next(iter(doc["resource"]["aws_lambda_function"].values()))["environment"]["variables"]
    assert variables["WS_MAX_MESSAGES_PER_SECOND"] == "20" and variables["TOUCH_INTERVAL_SECONDS"] == "30"
    for bad, words in (
        ('{"WS_MAX_MESAGES_PER_SECOND": 5}', "did you mean WS_MAX_MESSAGES_PER_SECOND"),
        ('{"WS_JWT_SECRET": "x"}', "Terraform state"),
        ("[1]", "JSON object"),
    ):
        with pytest.raises(InvalidPropsError) as err:
            load_stack_config({}, {"CARECONNECT_WS_FUNCTION_ENVIRONMENT": bad})
        assert str(err.value).startswith("CARECONNECT_WS_FUNCTION_ENVIRONMENT=") and words in str(err.value)
