"""A password never reaches an error message or a log line, whatever shape the database URL has.

Hardening round 4: for malformed URLs (text after an unencoded ``@``, a space, a quote), 846 of 4,000 generated
URLs still printed part of the password, in the CLI and in the function's log; a secret rotated to a URL whose
password held ``%db`` turned every event into a 500 instead of keeping the settings that worked.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careconnect_ws import contract
from careconnect_ws.errors import ConfigError
from careconnect_ws.settings import Settings, credentials_of, get_settings, redact, set_settings
from tests.support.cli import bare_run, minimal_env
from tests.support.log_lines import captured_lines
from tests.support.runtime import SECRET

EXAMPLES = int(os.environ.get("REDACTION_EXAMPLES", "1000"))
"""1,000 in the default suite; ``make fuzz`` (a CI step of its own) runs 4,000."""

# Letters that rarely form English words, with every character a URL can break on.
_SECRET_ALPHABET = "QZXJKVWqzxjkvw0123456789@%'\" &?=/:#[]\\{}!$^|~"
passwords = st.text(_SECRET_ALPHABET, min_size=4, max_size=24).filter(lambda p: sum(c.isalnum() for c in p) >= 2)
users = st.sampled_from(["app", "care_user", "u"])
hosts = st.sampled_from(["db.internal", "127.0.0.1", "[::1]", "h:5x", "", "db internal"])
suffixes = st.sampled_from(["/care", "/care?sslmode=require", "/care?bogus=1", "?host=/tmp&port=5432", "", "/c a"])


@st.composite
def urls(draw) -> tuple[str, str]:
    password = draw(passwords)
    shape = draw(st.sampled_from(["url", "url-query", "keyvalue", "keyvalue-quoted"]))
    if shape == "url":
        return f"postgresql://{draw(users)}:{password}@{draw(hosts)}{draw(suffixes)}", password
    if shape == "url-query":
        return f"postgresql://{draw(users)}@{draw(hosts)}/care?password={password}&sslmode=x", password
    if shape == "keyvalue":
        return (
            f"host={draw(hosts)} user=app password={password} dbname=care {draw(st.sampled_from(['', 'bogus=1', '=']))}",
            password,
        )
    return f"host=db.internal password='{password}' dbname=care {draw(st.sampled_from(['', 'sslmode=nonsense']))}", password


def _pieces(password: str) -> set[str]:
    size = min(4, len(password))
    return {password[i : i + size] for i in range(len(password) - size + 1)}


def _leaks(text: str, password: str) -> set[str]:
    return {piece for piece in _pieces(password) if piece in text}


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(urls())
def test_no_piece_of_the_password_survives_in_a_configuration_error(case):
    url, password = case
    try:
        Settings.from_env({"DATABASE_URL": url, "WS_JWT_SECRET": SECRET})
    except ConfigError as err:
        assert not _leaks(str(err), password), (url, str(err))
        assert str(err).startswith("DATABASE_URL:")


@settings(max_examples=min(EXAMPLES, 1000), derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    urls(),
    st.sampled_from(
        [
            'invalid percent-encoded token: "{p}"',
            'missing "=" after "{p}" in connection info string',
            'connection to server at "h" failed: FATAL: password authentication failed for user "app" ({p})',
        ]
    ),
)
def test_redact_removes_the_password_from_any_message_that_quotes_it(case, template):
    url, password = case
    message = template.format(p=password)
    assert not _leaks(redact(message, url), password)
    assert credentials_of(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:Qz7#xJ@k9W@db.internal/care",
        "postgresql://app:QZ x'kv9J@db.internal/care",
        "postgresql://app:Kz%dbWq77@db.internal/care",
        "postgresql://app:\"Jq'Vx 9@db.internal:5x/care",
    ],
)
def test_the_cli_prints_no_piece_of_the_password(url):
    proc = bare_run("status", env=minimal_env(DATABASE_URL=url))
    output = proc.stdout + proc.stderr
    password = url.split("://app:", 1)[1].rsplit("@", 1)[0]
    assert proc.returncode in (1, 2) and "Traceback" not in output
    assert not _leaks(output, password), output


def test_a_rotated_secret_that_does_not_parse_keeps_the_settings_in_use_and_says_so(careconnect_runtime, monkeypatch):
    """The secret now holds a URL whose password has ``%db`` (not valid percent-encoding): the container keeps the
    settings that worked, logs why (naming the variable, not the value), and serves."""
    from careconnect_ws import settings as settings_module
    from careconnect_ws.handler import lambda_handler
    from tests.support.events import make_event
    from tests.support.runtime import token_for

    good = careconnect_runtime.database_url
    current = {"value": good}
    monkeypatch.setenv(contract.DATABASE_SECRET_ARN, "arn:aws:secretsmanager:us-east-1:123456789012:secret:db")
    monkeypatch.setenv("WS_JWT_SECRET", SECRET)
    monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "1")
    monkeypatch.setenv("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", careconnect_runtime.management_endpoint or "http://127.0.0.1:9")
    monkeypatch.setattr(settings_module, "boto3_secret_reader", lambda client=None: lambda arn: current["value"])
    set_settings(None)
    assert get_settings().database_url == good
    current["value"] = "postgresql://app:Kz%dbWq77@db.internal/care"
    monkeypatch.setattr(settings_module, "_read_at", settings_module._read_at - 5)  # past the max age
    with captured_lines() as lines:
        response = lambda_handler(make_event("connect", connection_id="keep=", query={"token": token_for("alice")}))
    assert response["statusCode"] == 200, response
    assert get_settings().database_url == good
    warning = next(line for line in lines.lines if line["msg"] == "settings not re-read; keeping the ones in use")
    assert warning["level"] == "WARNING" and warning["error"].startswith("DATABASE_URL:")
    assert not _leaks(json.dumps(lines.lines), "Kz%dbWq77")
