"""Finding terraform and the AWS provider the way a user's machine does, and running terraform.

Where the provider comes from, in order:

1. ``TF_CLI_CONFIG_FILE``, when it names an existing file (the user's own CLI configuration);
2. ``CARECONNECT_WS_TF_PROVIDER_MIRROR``: a filesystem mirror directory (``registry.terraform.io/hashicorp/aws/<version>/…``),
   for which a CLI configuration is written;
3. the default CLI configuration, ``~/.terraformrc``, when its ``filesystem_mirror`` holds the provider;
4. terraform's implied local mirror directories (``~/.terraform.d/plugins``, ``$XDG_DATA_HOME/terraform/plugins``,
   each ``$XDG_DATA_DIRS/terraform/plugins``), then ``/opt/tf-plugins`` (where these CI machines keep one);
5. the public registry, when it can be reached.

None of them: :class:`Unavailable`, with the reason (the rehearsal then skips and says so).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

MIRROR_VARIABLE = "CARECONNECT_WS_TF_PROVIDER_MIRROR"
REGISTRY_HOST = "registry.terraform.io"
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"


class Unavailable(Exception):
    """terraform or the AWS provider cannot be had here; the message says what is missing."""


class TerraformFailed(Exception):
    def __init__(self, command: str, output: str) -> None:
        super().__init__(f"terraform {command} failed:\n{output[-4000:]}")


@dataclass(frozen=True)
class Toolchain:
    terraform: str
    cli_config: Path | None
    """The CLI configuration terraform runs with (None: terraform's defaults, the registry)."""
    provider_constraint: str | None
    """A version constraint the stack must use to match what is at hand (None: the stack's own pin)."""
    source: str
    env: dict[str, str] = field(default_factory=dict)


def find_toolchain(work_dir: Path) -> Toolchain:
    terraform = shutil.which("terraform")
    if terraform is None:
        raise Unavailable("terraform is not on PATH (https://developer.hashicorp.com/terraform/install)")
    env = {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    given = os.environ.get("TF_CLI_CONFIG_FILE", "")
    if given and Path(given).is_file():
        return Toolchain(
            terraform,
            Path(given),
            _constraint_for(_mirror_dirs(Path(given))),
            f"TF_CLI_CONFIG_FILE={given}",
            {**env, "TF_CLI_CONFIG_FILE": given},
        )
    mirror = os.environ.get(MIRROR_VARIABLE, "")
    source = f"{MIRROR_VARIABLE}={mirror}"
    if mirror and not (Path(mirror) / AWS_PROVIDER).is_dir():
        raise Unavailable(f"{MIRROR_VARIABLE}={mirror} holds no {AWS_PROVIDER}/<version>/ directory")
    if not mirror:
        rc = Path.home() / ".terraformrc"
        found = [d for d in (_mirror_dirs(rc) if rc.is_file() else []) if (d / AWS_PROVIDER).is_dir()]
        if found:
            return Toolchain(terraform, rc, _constraint_for(found), f"{rc}", {**env, "TF_CLI_CONFIG_FILE": str(rc)})
        implied = next((d for d in implied_mirror_dirs() if (d / AWS_PROVIDER).is_dir()), None)
        if implied is not None:
            mirror, source = str(implied), f"the local mirror {implied}"
    if mirror:
        mirror_dir = Path(mirror)
        config = work_dir / "terraform.rc"
        config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = {json.dumps(str(mirror_dir))}\n    include = ["{AWS_PROVIDER}"]\n  }}\n'
            f'  direct {{\n    exclude = ["{AWS_PROVIDER}"]\n  }}\n'
            "}\n"
        )
        return Toolchain(terraform, config, _constraint_for([mirror_dir]), source, {**env, "TF_CLI_CONFIG_FILE": str(config)})
    if _reachable(REGISTRY_HOST):
        # terraform's default: the registry. An unset TF_CLI_CONFIG_FILE pointing nowhere must not confuse it.
        return Toolchain(terraform, None, None, "the Terraform registry", {**env, "TF_CLI_CONFIG_FILE": ""})
    looked = ", ".join(str(d) for d in implied_mirror_dirs())
    raise Unavailable(
        f"the Terraform registry is not reachable and no copy of hashicorp/aws was found (looked in "
        f"TF_CLI_CONFIG_FILE, {MIRROR_VARIABLE}, ~/.terraformrc and {looked}): set {MIRROR_VARIABLE} to a "
        "filesystem mirror holding it (find / -name 'terraform-provider-aws*' shows where one is)"
    )


def implied_mirror_dirs(environ: dict[str, str] | None = None, *, ci_mirror: bool = True) -> list[Path]:
    """Where terraform looks for providers by itself on Linux and macOS (its "implied local mirror directories"),
    then the directory these CI machines keep a mirror in."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    data_home = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    data_dirs = [Path(d) for d in (env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":") if d]
    return [
        home / ".terraform.d" / "plugins",
        data_home / "terraform" / "plugins",
        *(d / "terraform" / "plugins" for d in data_dirs),
        *([CI_MIRROR] if ci_mirror else []),
    ]


CI_MIRROR = Path("/opt/tf-plugins")


def _mirror_dirs(config: Path) -> list[Path]:
    """The filesystem_mirror paths of a CLI configuration (a simple reading: ``path = "..."`` lines)."""
    dirs = []
    for line in config.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "path":
            dirs.append(Path(value.strip().strip('"')))
    return dirs


def _constraint_for(mirrors: list[Path]) -> str | None:
    """With a mirror, the stack must accept what the mirror holds: the versions found there."""
    versions = sorted({p.name for m in mirrors for p in (m / AWS_PROVIDER).glob("*") if p.is_dir()})
    if not versions:
        return None
    return " || ".join(f"= {v}" for v in versions) if len(versions) > 1 else f"= {versions[0]}"


def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


class Terraform:
    """terraform in one synthesized stack directory."""

    def __init__(self, toolchain: Toolchain, directory: Path) -> None:
        self.toolchain = toolchain
        self.directory = directory

    def run(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.toolchain.env}
        if env.get("TF_CLI_CONFIG_FILE") == "":
            env.pop("TF_CLI_CONFIG_FILE")
        proc = subprocess.run(
            [self.toolchain.terraform, *args], cwd=self.directory, env=env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise TerraformFailed(" ".join(args[:1]), proc.stdout + proc.stderr)
        return proc

    def init(self) -> None:
        self.run("init", "-input=false", "-no-color")

    def validate(self) -> dict:
        return json.loads(self.run("validate", "-json", "-no-color", check=False).stdout)

    def plan(self, out: str = "plan.tfplan") -> dict:
        self.run("plan", "-input=false", "-no-color", "-lock=false", f"-out={out}")
        return json.loads(self.run("show", "-json", out).stdout)

    def apply(self, plan: str = "plan.tfplan") -> None:
        self.run("apply", "-input=false", "-no-color", "-auto-approve", plan)

    def state(self) -> dict:
        return json.loads(self.run("show", "-json").stdout)

    def destroy(self) -> None:
        self.run("destroy", "-input=false", "-no-color", "-auto-approve")
