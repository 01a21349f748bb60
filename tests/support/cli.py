"""Running ``careconnect-ws`` as a user does: a subprocess with exactly the variables a test gives it."""

from __future__ import annotations

import os
import subprocess
import sys

_RUNTIME_PREFIXES = ("PG", "DATABASE_", "WS_", "AWS_WEBSOCKET", "CONNECTION_", "DB_")


def minimal_env(**values: str) -> dict[str, str]:
    """The environment without any runtime variable, plus exactly the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_RUNTIME_PREFIXES)}
    return {**env, **values}


def bare_run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python -m careconnect_ws ARGS`` with ``env`` as its whole environment."""
    return subprocess.run([sys.executable, "-m", "careconnect_ws", *args], env=env, capture_output=True, text=True, timeout=60)
