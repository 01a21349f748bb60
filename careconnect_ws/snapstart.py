"""Lambda SnapStart: what runs before the snapshot is taken and after it is restored.

With SnapStart (the construct's ``snap_start=True``), Lambda initialises one environment, snapshots its
memory and restores copies of it instead of starting fresh containers. Whatever the snapshot captured is
shared by every restored copy, so:

* **before the snapshot** the first events' imports are done (PyJWT and ``cryptography`` for ``$connect``,
  botocore's credentials and the SigV4 signer for sends, the handler's own modules), so a restored
  container does not pay for them; and the database connection is closed, so no socket is captured;
* **after a restore** nothing stale may be used: the database connection and the ``@connections`` clients
  (sockets, credentials) are dropped, the settings are read again when they came from Secrets Manager
  (a secret may have rotated since the snapshot), and the ``random`` generator is reseeded (every copy
  would otherwise draw the same numbers; ``secrets`` and ``uuid4`` read the OS and need nothing).

:func:`register` hooks both in through ``snapshot_restore_py``, which the managed Python runtime bundles.
Outside Lambda, or where that module is absent, it registers nothing: the hooks are no-ops there.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from . import contract

RESTORE_SECONDS = "restoreSeconds"


def before_snapshot() -> None:
    """Import what the first events need, then close what must not be captured."""
    import jwt  # noqa: F401  ($connect and the authorizer)
    import jwt.algorithms  # noqa: F401
    from botocore.session import get_session  # sends: the credentials chain the signer reads
    from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: F401  (RS256 / ES256 keys)

    from . import cleanup, notifications, publishing, sigv4  # noqa: F401
    from .extensions import ensure_extensions

    try:
        ensure_extensions()  # the team's modules go into the snapshot too; a failure is answered at the first event
    except Exception:  # noqa: S110 (reported, once, by ensure_extensions itself)
        pass
    get_session()
    _drop_connections()


def after_restore() -> float:
    """Drop everything a snapshot may have captured; returns the seconds it took (for the log line)."""
    started = time.perf_counter()
    _drop_connections()
    from .logs import mark_cold_start
    from .settings import set_settings

    mark_cold_start()  # the restored copy's first invocation is its cold start (the log line and the metric)

    if any(os.environ.get(name) for name in (contract.DATABASE_SECRET_ARN, contract.JWT_SECRET_ARN)):
        set_settings(None)  # read again, secrets included, at the first event after the restore
    random.seed()
    return time.perf_counter() - started


def _drop_connections() -> None:
    from .db import reset_database
    from .management import set_management_api

    reset_database()
    set_management_api(None)


def register(hooks: Any = None) -> bool:
    """Register :func:`before_snapshot` and :func:`after_restore` with SnapStart; False when not on Lambda."""
    if hooks is None:
        if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            return False
        try:
            import snapshot_restore_py  # bundled in the managed Python runtimes
        except ImportError:
            return False
        hooks = snapshot_restore_py
    hooks.register_before_snapshot(before_snapshot)
    hooks.register_after_restore(after_restore)
    return True
