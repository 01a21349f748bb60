"""The Lambda artifact, built for real on this checkout: the handler, its dependencies for the
target platform, no CDK, no tests, and the same bytes every time."""

from __future__ import annotations

import zipfile

import pytest

from careconnect_ws_cdk.lambda_artifact import build, sha256


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return build("arm64", out=tmp_path_factory.mktemp("lambda") / "careconnect-ws-lambda-arm64.zip")


def test_contains_the_handler_and_the_migrations(artifact):
    names = set(zipfile.ZipFile(artifact).namelist())
    assert {"careconnect_ws/handler.py", "careconnect_ws/migrations/0001_initial.sql", "careconnect_ws/routing.py"} <= names


def test_dependencies_are_manylinux_wheels_for_arm64_python_312(artifact):
    names = zipfile.ZipFile(artifact).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {"psycopg", "psycopg_binary", "jwt", "cryptography"} <= tops
    shared = [n for n in names if n.endswith(".so") or ".so." in n]
    assert shared and all("x86_64" not in n for n in shared)
    assert any("cpython-312-aarch64-linux-gnu" in n for n in shared)
    with zipfile.ZipFile(artifact) as zf:
        elf = zf.read(next(n for n in shared if n.startswith("psycopg_binary/")))
    assert elf[:4] == b"\x7fELF" and int.from_bytes(elf[18:20], "little") == 183  # EM_AARCH64


def test_no_cdk_no_tests_no_local_gateway_no_bytecode(artifact):
    names = zipfile.ZipFile(artifact).namelist()
    tops = {n.split("/")[0] for n in names}
    assert not tops & {"cdktf", "cdktn", "constructs", "jsii", "cdktf_cdktf_provider_aws", "cdktn_provider_aws", "stacks",
                        "careconnect_ws_cdk", "tests", "boto3", "botocore", "aiohttp"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("careconnect_ws/local/")
                    or n == "careconnect_ws/client.py"]


def test_reproducible(artifact, tmp_path):
    again = build("arm64", out=tmp_path / "again.zip")
    assert sha256(again) == sha256(artifact)
