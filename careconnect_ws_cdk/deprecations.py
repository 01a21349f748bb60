"""Old names, accepted for one release: each use warns, naming what to write instead."""

from __future__ import annotations

import warnings

from careconnect_ws.deprecations import REMOVED_IN

__all__ = ["REMOVED_IN", "renamed", "replaced"]


def renamed(where: str, old: str, new: str) -> None:
    """``where.old`` was renamed ``where.new``: the old name still works in this release."""
    warnings.warn(
        f"{where}({old}=...) is deprecated: write {new}=... (same meaning); the old name goes in {REMOVED_IN}",
        DeprecationWarning,
        stacklevel=4,
    )


def replaced(where: str, old: str, instead: str) -> None:
    """``where.old`` does what ``instead`` does, which is the one way now."""
    warnings.warn(
        f"{where}({old}=...) is deprecated: use {instead} instead; {old} goes in {REMOVED_IN}", DeprecationWarning, stacklevel=4
    )
