"""The Lambda artifact, built for real on this checkout: the handler, its dependencies for the
target platform, no CDK, no tests, and the same bytes every time."""

from __future__ import annotations

import re
import zipfile

import pytest

from careconnect_ws_cdk.lambda_artifact import build, sha256, target_python


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
    assert not tops & {
        "cdktf",
        "cdktn",
        "constructs",
        "jsii",
        "cdktf_cdktf_provider_aws",
        "cdktn_provider_aws",
        "stacks",
        "careconnect_ws_cdk",
        "tests",
        "boto3",
        "botocore",
        "aiohttp",
    }
    assert not [n for n in names if n.startswith("careconnect_ws/local/") or n == "careconnect_ws/client.py"]
    # Bytecode only for the target Python, next to its source.
    assert not [n for n in names if n.endswith(".pyc") and not re.search(r"(^|/)__pycache__/[^/]+\.cpython-312\.pyc$", n)]


# What the Lambda runs, and nothing else: a new module under careconnect_ws is a decision (add it here), and
# development code (the local gateway, the throwaway PostgreSQL, the reference client) never ships.
RUNTIME_MODULES = {
    "__init__",
    "__main__",
    "access",
    "backoff",
    "catalogue",
    "cleanup",
    "cli",
    "commands",
    "contract",
    "db",
    "delivery",
    "deprecations",
    "errors",
    "events",
    "extensions",
    "handler",
    "jwks",
    "limits",
    "logs",
    "management",
    "metrics",
    "notifications",
    "publishing",
    "registry",
    "revocation",
    "routing",
    "secrets",
    "services",
    "settings",
    "sigv4",
    "snapstart",
    "status",
    "streams",
    "text",
    "tokens",
    "topics",
    "migrations/__init__",
}


def test_the_zip_holds_exactly_the_runtime_modules(artifact):
    names = zipfile.ZipFile(artifact).namelist()
    modules = {
        n.removeprefix("careconnect_ws/").removesuffix(".py")
        for n in names
        if n.startswith("careconnect_ws/") and n.endswith(".py")
    }
    assert modules == RUNTIME_MODULES


def test_every_module_has_bytecode_for_python_312_when_a_312_is_at_hand(artifact):
    if target_python() is None:
        pytest.skip("no CPython 3.12 on this machine: the zip is built without bytecode (the build says so)")
    names = set(zipfile.ZipFile(artifact).namelist())
    sources = [n for n in names if n.endswith(".py")]
    missing = [
        n
        for n in sources
        if "/".join([*n.split("/")[:-1], "__pycache__", n.split("/")[-1][:-3] + ".cpython-312.pyc"]) not in names
    ]
    assert sources and not missing, missing[:5]
    with zipfile.ZipFile(artifact) as zf:
        header = zf.read("careconnect_ws/__pycache__/handler.cpython-312.pyc")[:16]
        source = zf.read("careconnect_ws/handler.py")
    flags = int.from_bytes(header[4:8], "little")
    assert flags == 0b01, "hash-based and unchecked: valid in a read-only /var/task without a stat per import"
    assert header[8:16] == _source_hash_312(source), "the pyc is the source's, byte for byte"


def _source_hash_312(source: bytes) -> bytes:
    """The hash CPython 3.12 puts in a hash-based pyc (keyed by its own magic number: computed by 3.12)."""
    import subprocess

    code = "import sys, importlib.util; sys.stdout.buffer.write(importlib.util.source_hash(sys.stdin.buffer.read()))"
    return subprocess.run([target_python(), "-c", code], input=source, capture_output=True, timeout=60, check=True).stdout


def test_modules_import_from_bytecode_in_a_read_only_task_directory(tmp_path):
    """As Lambda runs it: the zip unpacked, no bytecode writing, CPython 3.12; every module of the zip that the
    handler and its first events import, a team's extensions (--include) among them, is loaded from the zip's own
    bytecode, and nothing is written."""
    import json
    import os
    import platform
    import subprocess

    python = target_python()
    if python is None:
        pytest.skip("no CPython 3.12 on this machine")
    arch = "x86_64" if platform.machine() in ("x86_64", "AMD64") else "arm64"
    # A team's package and module (--include), imported as WS_EXTENSIONS names them.
    team = tmp_path / "team" / "acme_ws"
    team.mkdir(parents=True)
    (team / "__init__.py").write_text(
        "from careconnect_ws.topics import Topic, register_topic\nregister_topic(Topic('care-plan'))\n"
    )
    (tmp_path / "team" / "acme_chat.py").write_text("from careconnect_ws.routing import router\n")
    artifact = build(arch, out=tmp_path / f"{arch}.zip", include=[team, tmp_path / "team" / "acme_chat.py"])
    task = tmp_path / "task"
    zipfile.ZipFile(artifact).extractall(task)
    before = sorted(str(p) for p in task.rglob("*"))
    for path in task.rglob("*"):
        path.chmod(path.stat().st_mode & ~0o222)
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]);"
        "import careconnect_ws.handler, careconnect_ws.publishing, careconnect_ws.cleanup, jwt, jwt.algorithms;"
        "from careconnect_ws.extensions import load_extensions; load_extensions(['acme_ws', 'acme_chat']);"
        "from careconnect_ws.topics import get_topic; assert get_topic('care-plan');"
        "from cryptography.hazmat.primitives.asymmetric import rsa;"
        "mods = {m.__name__: getattr(m, '__cached__', None) for m in list(sys.modules.values())"
        "        if (getattr(m, '__file__', None) or '').startswith(sys.argv[1]) and m.__file__.endswith('.py')};"
        "print(json.dumps(mods))"
    )
    # -B: no bytecode writing, as in Lambda's read-only /var/task (-I ignores PYTHONDONTWRITEBYTECODE).
    proc = subprocess.run(
        [python, "-I", "-B", "-v", "-c", code, str(task)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    loaded_from_bytecode = set(re.findall(r"^# code object from '([^']+)'", proc.stderr, re.M))
    assert len(modules) > 50 and {"acme_ws", "acme_chat"} <= set(modules)
    assert {name for name, cached in modules.items() if cached not in loaded_from_bytecode} == set()
    assert sorted(str(p) for p in task.rglob("*")) == before, "nothing may be written under the task directory"


def test_reproducible(artifact, tmp_path):
    again = build("arm64", out=tmp_path / "again.zip", force=True)
    assert sha256(again) == sha256(artifact)
    assert any(n.endswith(".pyc") for n in zipfile.ZipFile(again).namelist()) == (target_python() is not None)


def test_an_include_must_be_a_package_a_module_or_a_requirements_file(tmp_path):
    from careconnect_ws_cdk.lambda_artifact import check_include

    (tmp_path / "not_a_package").mkdir()
    for bad in (tmp_path / "not_a_package", tmp_path / "missing.py", tmp_path / "careconnect_ws.py"):
        if bad.suffix == ".py" and bad.stem == "careconnect_ws":
            bad.write_text("")
        with pytest.raises(SystemExit, match="--include"):
            check_include(bad)
