"""Build the backend Lambda's zip: ``python -m careconnect_ws_cdk.lambda_artifact [--arch arm64|x86_64]``.

The zip holds ``careconnect_ws`` (without the local gateway and the reference client) and the
pinned runtime dependencies of ``requirements-lambda.txt`` as manylinux wheels for the target
architecture and Python, each module with its bytecode for CPython 3.12 (``unchecked-hash``
pycs: Lambda's /var/task is read-only, so without them every cold start compiles every module).
Never the CDK, never tests. It is reproducible: the same inputs give the same bytes (sorted
entries, fixed timestamps and permissions, hash-based pycs compiled with a fixed hash seed), so
``source_code_hash`` changes only when the code does.

It works from an installed package as from a checkout: the runtime is taken from wherever
``careconnect_ws`` is installed, the pins from this package's ``requirements-lambda.txt``, and
the zip is written under the current directory (``dist/lambda/``).

Importing this module does not load the CDK.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().with_name("requirements-lambda.txt")


def runtime_source() -> Path:
    """The installed (or checked-out) ``careconnect_ws`` package directory, found without importing it."""
    spec = importlib.util.find_spec("careconnect_ws")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("careconnect_ws is not installed: pip install careconnect-ws")
    return Path(next(iter(spec.submodule_search_locations)))


PYTHON_VERSION = "3.12"
DEFAULT_ARCHITECTURE = "arm64"
ARCHITECTURES = {
    "arm64": ["manylinux_2_28_aarch64", "manylinux2014_aarch64"],
    "x86_64": ["manylinux_2_28_x86_64", "manylinux2014_x86_64"],
}
# Lambda's Python 3.12 runtime runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels fit.
EXCLUDED_PARTS = {"tests", "local"}
# Parts of careconnect_ws the Lambda never runs: the local gateway and the reference client (which needs websockets).
RUNTIME_EXCLUDED = ("local", "client.py", "testing")
EXCLUDED_TOP = {"bin"}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
TASK_ROOT = "/var/task"
"""Where Lambda unpacks the zip: the path compiled into the bytecode (what a traceback shows)."""
PYTHON_ENV = "CARECONNECT_WS_LAMBDA_PYTHON"
"""A CPython of the target version to compile the zip's bytecode with, when none is found by itself."""


def target_python() -> str | None:
    """A CPython of the Lambda runtime's version (3.12) on this machine, to compile bytecode with.

    Lambda runs the zip from a read-only /var/task: without bytecode in the zip, every cold container
    compiles every module it imports (measured: 250 ms against 130 ms for the handler). Looked up as
    ``$CARECONNECT_WS_LAMBDA_PYTHON``, this interpreter, ``python3.12`` on the PATH, then pyenv's."""
    candidates = [os.environ.get(PYTHON_ENV, "").strip(), sys.executable, shutil.which(f"python{PYTHON_VERSION}") or ""]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob(f"{PYTHON_VERSION}.*/bin/python{PYTHON_VERSION}"), reverse=True)]
    for candidate in filter(None, candidates):
        try:
            version = subprocess.run(
                [
                    candidate,
                    "-c",
                    "import sys, platform; print(platform.python_implementation(), '%d.%d' % sys.version_info[:2])",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.split()
        except OSError:
            continue
        if version == ["CPython", PYTHON_VERSION]:
            return candidate
    if os.environ.get(PYTHON_ENV, "").strip():
        raise SystemExit(f"{PYTHON_ENV}={os.environ[PYTHON_ENV]} is not a CPython {PYTHON_VERSION}")
    return None


def compile_bytecode(site: Path, python: str) -> None:
    """Bytecode next to every module, for the target Python, reproducible: ``unchecked-hash`` pycs carry the
    source's hash instead of its mtime (and are used without checking it, as nothing can change under
    /var/task), paths are /var/task's, and a fixed hash seed keeps set constants in one order."""
    subprocess.run(
        [python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", "-s", str(site), "-p", TASK_ROOT, str(site)],
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def artifact_path(arch: str = DEFAULT_ARCHITECTURE) -> Path:
    """Where the build puts the zip, and where the stack looks for it."""
    return Path.cwd() / "dist" / "lambda" / f"careconnect-ws-lambda-{arch}.zip"


def check_include(path: Path) -> Path:
    """An ``--include``: a package directory (with ``__init__.py``), a module (``.py``) or a requirements file
    (``.txt``, pinned and complete, as ``pip freeze`` writes it: installed without dependencies, for the target)."""
    path = Path(path).resolve()
    if path.is_dir() and (path / "__init__.py").is_file() or path.is_file() and path.suffix in (".py", ".txt"):
        if path.stem == "careconnect_ws" or path.name == "careconnect_ws":
            raise SystemExit(f"--include {path}: careconnect_ws is the runtime itself, already in the zip")
        return path
    raise SystemExit(
        f"--include {path}: give a package directory (with __init__.py), a module (.py) or a requirements file (.txt)"
    )


def _files_of(path: Path) -> list[Path]:
    """The files an include contributes, in a stable order (bytecode and caches left out)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def inputs_fingerprint(arch: str, compiler: str | None = None, include: tuple[Path, ...] = ()) -> str:
    """Everything the zip is made of: the pinned requirements, the target, the bytecode compiler, this
    package's files, and what ``include`` adds."""
    digest = hashlib.sha256(f"{arch}|{PYTHON_VERSION}|{_version_of(compiler)}|".encode())
    digest.update(REQUIREMENTS.read_bytes())
    for extra in include:
        for path in _files_of(extra):
            digest.update(f"include:{extra.name}/{path.relative_to(extra.parent).as_posix()}".encode() + b"\0")
            digest.update(path.read_bytes())
    source = runtime_source()
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_file() and "__pycache__" not in rel.parts and rel.parts[0] not in RUNTIME_EXCLUDED and path.suffix != ".pyc":
            digest.update(rel.as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build(
    arch: str = DEFAULT_ARCHITECTURE,
    *,
    out: Path | None = None,
    pip: list[str] | None = None,
    force: bool = False,
    include: tuple[Path, ...] | list[Path] = (),
) -> Path:
    """The zip for ``arch``; ``include``: a team's packages, modules and pinned requirements (``--include``), put
    beside ``careconnect_ws`` with the same bytecode, so ``WS_EXTENSIONS`` can name them."""
    include = tuple(check_include(Path(p)) for p in include)
    if arch not in ARCHITECTURES:
        raise SystemExit(f"--arch must be one of {', '.join(ARCHITECTURES)}")
    out = out or artifact_path(arch)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The zip is reproducible, so when nothing it is made of changed, the one on disk is the one we would
    # build: no pip run, no downloads on every `make synth`.
    stamp = out.with_suffix(".inputs")
    compiler = target_python()
    fingerprint = inputs_fingerprint(arch, compiler, include)
    if not force and out.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
        return out
    stamp.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="ccws-lambda-") as tmp:
        site = Path(tmp) / "site"
        platforms = [arg for p in ARCHITECTURES[arch] for arg in ("--platform", p)]
        cmd = [
            *(pip or [sys.executable, "-m", "pip"]),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-compile",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            *platforms,
            "--target",
            str(site),
            "-r",
            str(REQUIREMENTS),
        ]
        subprocess.run(cmd, check=True)
        for requirements in (p for p in include if p.suffix == ".txt"):
            subprocess.run([*cmd[:-1], str(requirements)], check=True)  # the same target, wheels only, no deps
        shutil.copytree(
            runtime_source(), site / "careconnect_ws", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *RUNTIME_EXCLUDED)
        )
        for extra in (p for p in include if p.suffix != ".txt"):
            target = site / extra.name
            if target.exists():
                raise SystemExit(f"--include {extra}: the zip already has {extra.name} (a dependency or another include)")
            if extra.is_dir():
                shutil.copytree(extra, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copyfile(extra, target)
        if compiler:
            compile_bytecode(site, compiler)
        else:
            print(
                f"lambda_artifact: no CPython {PYTHON_VERSION} found: the zip carries no bytecode, so every cold start "
                f"compiles each module it imports (about 120 ms more); install python{PYTHON_VERSION} or set "
                f"{PYTHON_ENV}",
                file=sys.stderr,
            )
        files = sorted(
            p
            for p in site.rglob("*")
            if p.is_file()
            and not (set(p.relative_to(site).parts) & EXCLUDED_PARTS)
            and p.relative_to(site).parts[0] not in EXCLUDED_TOP
            and not p.name.endswith(("RECORD", "INSTALLER", "direct_url.json"))
            and (
                p.suffix != ".pyc"
                or (p.parent.name == "__pycache__" and f".cpython-{PYTHON_VERSION.replace('.', '')}." in p.name)
            )
        )
        tmp_zip = out.with_suffix(".zip.tmp")
        with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for path in files:
                info = zipfile.ZipInfo(path.relative_to(site).as_posix(), FIXED_TIME)
                executable = path.suffix == ".so" or ".so." in path.name
                info.external_attr = (0o755 if executable else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
        tmp_zip.replace(out)
    stamp.write_text(fingerprint)
    return out


def _version_of(python: str | None) -> str:
    if not python:
        return "no-bytecode"
    return subprocess.run(
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, timeout=30
    ).stdout.strip()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    return run_cli(argv, prog="python -m careconnect_ws_cdk.lambda_artifact", default_arch=lambda: DEFAULT_ARCHITECTURE)


def run_cli(argv: list[str] | None, *, prog: str, default_arch) -> int:
    """The command line, shared with an app that resolves the default architecture from its own configuration."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--arch",
        default=None,
        choices=sorted(ARCHITECTURES),
        help="target architecture (default: " + ("the configured one" if default_arch else "arm64") + ")",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    parser.add_argument(
        "--include",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="your code for WS_EXTENSIONS: a package directory, a module (.py) or a pinned requirements file (.txt); repeatable",
    )
    args = parser.parse_args(argv)
    path = build(args.arch or default_arch(), out=args.out, force=args.force, include=args.include)
    size = path.stat().st_size
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"{shown}  {size / 1024 / 1024:.1f} MiB  sha256 {sha256(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
