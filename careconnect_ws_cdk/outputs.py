"""Root outputs, the same way on every construct: named ``{prefix}{name}`` exactly (no construct-path hash), so
``terraform output -raw {prefix}{name}`` keeps working when the construct tree changes, and claimed once per stack
(two constructs asked for the same output name are refused at synth, naming both)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidPropsError
from .physical_names import claim

_TERRAFORM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_prefix(prefix: str, prop: str = "prefix") -> None:
    """An output prefix is the start of a Terraform name: letters, digits and ``_``."""
    if prefix and not _TERRAFORM_NAME.match(prefix):
        raise InvalidPropsError(prop, prefix, "use a Terraform name: letters, digits and '_'")


def root_outputs(scope: Any, prefix: str, outputs: Mapping[str, tuple[Any, str]]) -> dict[str, Any]:
    """``outputs`` (name -> (value, description)) as root outputs ``{prefix}{name}``, created in ``scope``;
    returned by their name without the prefix."""
    from .cdk import TerraformOutput

    check_prefix(prefix)
    created = {}
    for name, (value, description) in outputs.items():
        full = f"{prefix}{name}"
        claim(scope, "output", full, prop="prefix")
        out = TerraformOutput(scope, full, value=value, description=description)
        out.override_logical_id(full)
        created[name] = out
    return created
