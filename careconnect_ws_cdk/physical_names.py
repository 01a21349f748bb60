"""Physical names are claimed once per stack: two constructs that would create the same named resource are refused
at synth, naming both construct paths and the prop to change (AWS would refuse the second only at apply, after the
first was half-created).

A name is claimed per kind of resource and per provider (a region or account of its own), except where AWS names are
account-wide (IAM roles). Names known only at apply (Terraform tokens) cannot be
compared and are not claimed.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidPropsError

#: Kinds whose names are unique in the whole account, whatever the provider's region.
ACCOUNT_WIDE = frozenset({"IAM role"})

_REGISTRY = "_careconnect_ws_physical_names"


def claim(
    construct: Any, kind: str, name: str, *, prop: str, value: Any = None, provider: Any = None, advice: str | None = None
) -> None:
    """Record that ``construct`` creates the ``kind`` named ``name`` (derived from ``prop``, whose ``value`` the
    error shows; default: ``name`` itself); refuse a second claim of the same name by another construct."""
    from .cdk import TerraformStack, Token

    if Token.is_unresolved(name):
        return  # known only at apply: nothing to compare now
    stack = TerraformStack.of(construct)
    claimed: dict[tuple[str, int, str], str] | None = getattr(stack, _REGISTRY, None)
    if claimed is None:
        claimed = {}
        setattr(stack, _REGISTRY, claimed)
    key = (kind, 0 if kind in ACCOUNT_WIDE else id(provider), name)
    path = construct.node.path
    other = claimed.setdefault(key, path)
    if other != path:
        raise InvalidPropsError(
            prop,
            name if value is None else value,
            f"{path} and {other} would both create the {kind} {name!r}: {advice or f'give one of them another {prop}'}",
        )
