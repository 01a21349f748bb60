"""Putting a construct's resources on the provider its props name (an alias, another region)."""

from __future__ import annotations

from typing import Any

from .cdk import Construct, TerraformDataSource, TerraformResource


def use_provider(scope: Construct, provider: Any) -> None:
    """Every resource and data source under ``scope`` that names no provider of its own goes on ``provider``
    (the pieces other constructs built inside it too). Nothing happens for ``None``: the stack's default."""
    if provider is None:
        return
    for child in scope.node.find_all():
        if isinstance(child, TerraformResource | TerraformDataSource) and child.provider is None:
            child.provider = provider
