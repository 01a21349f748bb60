"""The app's options are the construct props: one name per concept, from ``CARECONNECT_WS_MEMORY_MB`` down to
``WebSocketSystemProps(memory_mb=...)``, so ``main.py`` builds its props without a table restating them. The 0.1
names still work for one release and say what to write instead."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from careconnect_ws_cdk.connect_authorization import IamAuthorization, NoAuthorization, TokenAuthorizer
from careconnect_ws_cdk.custom_domain import CustomDomain
from careconnect_ws_cdk.lambda_target import LambdaTarget
from careconnect_ws_cdk.websocket_system import WebSocketSystemProps
from stacks.stack_config import NOT_OPTIONS, PROP, RENAMED, StackConfig, deprecated_options, load_stack_config, unknown_options

SYSTEM_PROPS = {f.name for f in fields(WebSocketSystemProps)}
# A composite prop's types: one for a dataclass, several for a choice (an option part names a type or a field).
COMPOSITES = {
    "domain": (CustomDomain,),
    "existing_function": (LambdaTarget,),
    "connect_authorization": (TokenAuthorizer, IamAuthorization, NoAuthorization),
}
# Props a stack option cannot express (objects, not text) or that are deprecated spellings: set them in Python.
PROPS_WITHOUT_OPTION = {
    "provider",
    "alarm_thresholds",
    "jwt_public_key",
    "outputs",
    "existing_role_name",
    "environment",
    "authorizer",
    "iam_connect",
    "token_source",
}


def test_every_option_is_a_prop_of_its_own_name_or_says_which_part_of_a_prop_it_is():
    for f in fields(StackConfig):
        path = f.metadata.get(PROP, f.name)
        if path is None:  # the stack's own settings: state, region, provider pin
            assert f.name not in SYSTEM_PROPS, f"{f.name} is a prop: it must set it"
            continue
        head, _, part = path.partition(".")
        assert head in SYSTEM_PROPS, f"option {f.name} names no WebSocketSystemProps field ({path})"
        if part:
            types = COMPOSITES[head]
            parts = {t.__name__ for t in types if len(types) > 1} | {c.name for t in types for c in fields(t)}
            assert part in parts, f"{path}: no such field (or type) of {head}"
        else:
            assert path == f.name, f"option {f.name} must be named as its prop {path}"


def test_every_prop_that_text_can_express_is_an_option():
    options = {
        f.metadata.get(PROP, f.name).partition(".")[0] for f in fields(StackConfig) if f.metadata.get(PROP, f.name) is not None
    }
    assert SYSTEM_PROPS - options == PROPS_WITHOUT_OPTION


def test_the_options_become_the_props_unchanged(fake_artifact):
    """Every option set (to a value unlike its default) reaches the prop of the same name."""
    config = load_stack_config(
        {},
        {
            "CARECONNECT_WS_NAME": "care-alerts",
            "CARECONNECT_WS_STAGE": "beta",
            "CARECONNECT_WS_MEMORY_MB": "1024",
            "CARECONNECT_WS_TIMEOUT_SECONDS": "20",
            "CARECONNECT_WS_RESERVED_CONCURRENCY": "none",
            "CARECONNECT_WS_ARCHITECTURE": "x86_64",
            "CARECONNECT_WS_FUNCTION_NAME": "care-alerts-fn",
            "CARECONNECT_WS_SNAP_START": "on",
            "CARECONNECT_WS_ARTIFACT_PATH": fake_artifact,
            "CARECONNECT_WS_FUNCTION_ENVIRONMENT": '{"WS_MAX_MESSAGES_PER_SECOND": "20"}',
            "CARECONNECT_WS_TOKEN_SOURCE": "header:Authorization",
            "CARECONNECT_WS_DASHBOARD": "off",
            "CARECONNECT_WS_EXTENSIONS": "acme_ws, acme_ws.chat",
            "CARECONNECT_WS_TOPICS": '[{"name": "care-plan", "rule": "claim:care_plans"}]',
        },
    )
    values = config.system_prop_values()
    props = WebSocketSystemProps(**values)
    for name, value in values.items():
        assert getattr(props, name) == value, name
    assert (props.name, props.memory_mb, props.reserved_concurrency, props.function_environment) == (
        "care-alerts",
        1024,
        "none",
        {"WS_MAX_MESSAGES_PER_SECOND": "20"},
    )
    assert tuple(props.extensions) == ("acme_ws", "acme_ws.chat")
    assert tuple(props.topics) == ({"name": "care-plan", "rule": "claim:care_plans"},)
    assert config.composite_prop_values("domain") == {}
    config = load_stack_config(
        {},
        {
            "CARECONNECT_WS_DOMAIN_NAME": "ws.example.org",
            "CARECONNECT_WS_CERTIFICATE_ARN": "arn:aws:acm:us-east-1:111122223333:certificate/abc",
        },
    )
    assert CustomDomain(**config.composite_prop_values("domain")) == CustomDomain(
        domain_name="ws.example.org", certificate_arn="arn:aws:acm:us-east-1:111122223333:certificate/abc"
    )


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED.items()))
def test_each_0_1_name_still_sets_its_option_and_warns(old, new):
    sample = {
        "api_name": "legacy",
        "lambda_function_name": "legacy-fn",
        "lambda_artifact": "x.zip",
        "lambda_architecture": "x86_64",
        "lambda_memory_mb": "1024",
        "lambda_timeout_seconds": "20",
        "lambda_reserved_concurrency": "7",
        "lambda_environment": '{"WS_MAX_MESSAGES_PER_SECOND": "20"}',
        "lambda_snap_start": "on",
    }[old]
    variable = f"CARECONNECT_WS_{old.upper()}"
    from_env = load_stack_config({}, {variable: sample})
    from_context = load_stack_config({old: sample}, {})
    assert getattr(from_env, new) == getattr(from_context, new) != getattr(StackConfig(), new)
    assert from_env.sources[new] == variable and from_context.sources[new] == f"cdktf.json context {old}"
    assert deprecated_options({}, {variable: sample}) == [
        f"{variable} is deprecated: set CARECONNECT_WS_{new.upper()} (the construct prop {new}); the old name goes in 0.3.0"
    ]
    assert deprecated_options({old: sample}, {}) == [
        f"cdktf.json context {old} is deprecated: set cdktf.json context {new} (the construct prop {new}); "
        "the old name goes in 0.3.0"
    ]
    assert unknown_options({old: sample}, {variable: sample}) == []


def test_the_new_name_wins_over_the_old_and_the_warning_says_so():
    environ = {"CARECONNECT_WS_LAMBDA_MEMORY_MB": "2048", "CARECONNECT_WS_MEMORY_MB": "1024"}
    config = load_stack_config({"lambda_memory_mb": 4096}, environ)
    assert config.memory_mb == 1024 and config.sources["memory_mb"] == "CARECONNECT_WS_MEMORY_MB"
    warnings = deprecated_options({"lambda_memory_mb": 4096}, environ)
    assert warnings == [
        "CARECONNECT_WS_LAMBDA_MEMORY_MB is deprecated: set CARECONNECT_WS_MEMORY_MB (the construct prop memory_mb); "
        "the old name goes in 0.3.0; ignored here, because CARECONNECT_WS_MEMORY_MB is set",
        "cdktf.json context lambda_memory_mb is deprecated: set cdktf.json context memory_mb (the construct prop "
        "memory_mb); the old name goes in 0.3.0; ignored here, because CARECONNECT_WS_MEMORY_MB is set",
    ]
    # Context under the new name still loses to the environment under the old one (the environment beats context).
    config = load_stack_config({"memory_mb": 4096}, {"CARECONNECT_WS_LAMBDA_MEMORY_MB": "2048"})
    assert config.memory_mb == 2048


def test_variables_other_tools_read_are_not_reported_as_typos():
    environ = {
        "CARECONNECT_WS_URL": "ws://127.0.0.1:8080/prod",
        "CARECONNECT_WS_TOKEN": "t",
        "CARECONNECT_WS_LAMBDA_PYTHON": "/usr/bin/python3.12",
        "CARECONNECT_WS_CLI_CACHE": "/tmp/cli",
    }
    assert unknown_options({}, environ) == []


def test_an_option_left_unset_means_the_props_default():
    """Defaults are stated once, in the props: an option's default is None (the prop decides) or the same value.
    The one exception is the app's own tags."""
    config, props = StackConfig(), WebSocketSystemProps(artifact_path="x.zip")
    for name, value in config.system_prop_values().items():
        if name == "tags":
            assert dict(value) == {"Project": "careconnect", "Component": "websocket", "ManagedBy": "cdktf"}
            continue
        assert value is None or value == getattr(props, name), name


def test_the_readme_documents_every_option_and_names_no_variable_that_does_not_exist():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("### Options (environment") :]
    table = table[: table.index("\n\n**")]
    documented = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            documented |= set(re.findall(r"`([a-z_]+)`", row.split("|")[1]))
    options = {f.name for f in fields(StackConfig)} - {"sources"}
    assert options - documented == set(), "options missing from the README's table"
    assert documented - options == set(), "the README's table lists options that do not exist"
    variables = set(re.findall(r"\bCARECONNECT_WS_[A-Z_]+[A-Z]\b", readme))
    known = {f"CARECONNECT_WS_{name.upper()}" for name in options | set(RENAMED)} | NOT_OPTIONS
    assert variables - known == set()
