"""Old names of the runtime, accepted for one release: each use warns, naming what to write instead.

``REMOVED_IN`` is the release both packages drop their deprecated names in (the construct library's
``careconnect_ws_cdk.deprecations`` reads it from here).
"""

from __future__ import annotations

import warnings

REMOVED_IN = "0.3.0"


def moved(old: str, new: str) -> None:
    """``old`` (``module.name``) is now ``new``: the old name still works in this release."""
    warnings.warn(
        f"{old} is deprecated: use {new} (same arguments); the old name goes in {REMOVED_IN}", DeprecationWarning, stacklevel=3
    )
