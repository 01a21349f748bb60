"""careconnect-ws: the runtime of the CareConnect WebSocket notification system.

This package is what the backend Lambda runs. It never imports the CDK (cdktf,
constructs, jsii or the provider bindings): those start Node.js and cost seconds
and a gigabyte of memory on every cold start.

``careconnect_ws.publish(topic, subject, payload)`` is the one name at the top: it loads
the database and sending modules on first use, so ``import careconnect_ws`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "publish"]

if TYPE_CHECKING:
    from .publishing import publish


def __getattr__(name: str) -> Any:
    # PEP 562: the heavy import happens when the name is first used, not when the package is. (The module
    # is named ``publishing``: a submodule called ``publish`` would replace this function once imported.)
    if name == "publish":
        from .publishing import publish

        return publish
    raise AttributeError(f"module 'careconnect_ws' has no attribute {name!r}")
