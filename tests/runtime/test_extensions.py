"""A team's modules (WS_EXTENSIONS) imported where the system runs: the function at cold start, the CLI, the pytest
plugin; a module that cannot be imported is reported once and answered as a misconfiguration, never retried per
message. (serve --extension and the env file it writes: e2e/test_serve_cli.py.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from careconnect_ws import contract
from careconnect_ws.errors import ConfigError
from careconnect_ws.extensions import ExtensionError, extension_names, forget_extensions, load_extensions
from careconnect_ws.settings import Settings
from careconnect_ws.testing import connect, send
from careconnect_ws.topics import TOPICS
from tests.support.cli import bare_run, minimal_env
from tests.support.log_lines import captured_lines

GOOD = """
from careconnect_ws.topics import Topic, register_topic

register_topic(Topic("{topic}", may_subscribe=lambda user, subject: subject.startswith("ward-"), static=True))
"""
BROKEN = """
from pathlib import Path

Path(__file__).with_suffix(".imports").open("a").write("x")
raise RuntimeError("the team's module is broken")
"""


@pytest.fixture
def team_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A directory on sys.path for the team's modules; whatever they register is forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    forget_extensions()
    before = set(TOPICS.names())
    yield tmp_path
    forget_extensions()
    for name in set(TOPICS.names()) - before:
        TOPICS.remove(name)
    for name in [m for m in sys.modules if m.startswith("team_")]:
        del sys.modules[name]


def test_the_function_imports_the_extensions_before_answering_so_their_topics_are_served(
    team_dir, careconnect_connections, monkeypatch
):
    (team_dir / "team_rounds.py").write_text(GOOD.format(topic="team-rounds"))
    monkeypatch.setenv(contract.EXTENSIONS, "team_rounds")
    assert "team-rounds" not in TOPICS
    assert connect("c-1", "nurse", connections=careconnect_connections).status == 200
    assert send("c-1", {"action": "subscribe", "topic": "team-rounds", "subject": "ward-4b"}).status == 200
    assert send("c-1", {"action": "subscribe", "topic": "team-rounds", "subject": "icu"}).outcome == (403, "forbidden")
    assert load_extensions() == ("team_rounds",)


def test_a_broken_extension_is_reported_once_and_every_event_answers_misconfigured(team_dir, careconnect_runtime, monkeypatch):
    (team_dir / "team_broken.py").write_text(BROKEN)
    monkeypatch.setenv(contract.EXTENSIONS, "team_broken")
    with captured_lines() as lines:
        answers = [connect("c-1", "nurse"), send("c-1", {"action": "ping", "id": "r-1"}), connect("c-2", "nurse")]
    assert [a.outcome for a in answers] == [(500, "misconfigured")] * 3
    failures = [line for line in lines.lines if line["msg"] == "extension failed to load"]
    assert len(failures) == 1 and "team_broken" in failures[0]["error"] and "WS_EXTENSIONS" in failures[0]["error"]
    assert "RuntimeError: the team's module is broken" in failures[0]["error"]
    assert [line["ServerErrors"] for line in lines.handled()] == [1, 1, 1]  # the 5xx metric, and its alarm, see it
    assert (team_dir / "team_broken.imports").read_text() == "x"  # imported once, not per message


def test_extension_names_are_module_names_and_a_bad_one_names_the_variable(monkeypatch):
    assert extension_names({contract.EXTENSIONS: " acme_ws, acme_ws.chat,,acme_ws "}) == ("acme_ws", "acme_ws.chat")
    for bad in ("acme-ws", "acme ws", "1acme", "acme..chat", "../acme"):
        with pytest.raises(ConfigError, match="WS_EXTENSIONS") as err:
            extension_names({contract.EXTENSIONS: bad})
        assert err.value.variable == contract.EXTENSIONS
        with pytest.raises(ConfigError, match="WS_EXTENSIONS"):
            Settings.from_env({contract.EXTENSIONS: bad, "DATABASE_URL": "postgresql://x/y", "WS_JWT_SECRET": "k" * 32})
    with pytest.raises(ExtensionError, match="'team_absent' could not be imported: ModuleNotFoundError"):
        load_extensions(["team_absent"])


def test_the_plugins_runtime_fixture_imports_them_too(team_dir, monkeypatch, request):
    (team_dir / "team_plugin.py").write_text(GOOD.format(topic="team-plugin"))
    monkeypatch.setenv(contract.EXTENSIONS, "team_plugin")
    settings = request.getfixturevalue("careconnect_runtime")
    assert "team-plugin" in TOPICS and settings.extensions == ("team_plugin",)


def test_every_cli_command_imports_them_and_one_that_cannot_be_imported_stops_it(team_dir, careconnect_database):
    (team_dir / "team_cli.py").write_text(GOOD.format(topic="team-cli"))
    env = minimal_env(**{contract.EXTENSIONS: "team_cli", "PYTHONPATH": str(team_dir), "DATABASE_URL": careconnect_database.url})
    published = bare_run("publish", "--topic", "team-cli", "--subject", "ward-1", "--payload", '{"type": "x"}', env=env)
    assert published.returncode == 0, published.stderr
    listed = bare_run("publish", "--topic", "nope", "--subject", "s", "--payload", "{}", env=env)
    assert listed.returncode == 2 and "team-cli" in listed.stderr  # the refusal lists the team's topic as known
    missing = bare_run("token", "--user", "u", env=minimal_env(**{contract.EXTENSIONS: "team_nowhere"}))
    assert missing.returncode == 2
    assert "WS_EXTENSIONS: extension 'team_nowhere' could not be imported: ModuleNotFoundError" in missing.stderr


def test_serve_stops_before_starting_anything_when_an_extension_cannot_be_imported():
    done = bare_run("serve", "--port", "0", "--extension", "team_nowhere", env=minimal_env())
    assert done.returncode == 2
    assert "--extension: 'team_nowhere' could not be imported: ModuleNotFoundError" in done.stderr
    bad = bare_run("serve", "--port", "0", "--extension", "team-nowhere", env=minimal_env())
    assert bad.returncode == 2 and "--extension: 'team-nowhere' is not a module name" in bad.stderr


def test_the_extension_surface_is_importable_and_the_readme_lists_exactly_it():
    import importlib
    import re

    from careconnect_ws.extensions import SURFACE

    for entry in SURFACE:
        module, name = entry.split(":")
        assert hasattr(importlib.import_module(module), name), entry
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("**What your module may import**") : readme.index("**Your module, everywhere")]
    assert set(re.findall(r"`(careconnect_ws[\w.]*:\w+)`", section)) == set(SURFACE)
