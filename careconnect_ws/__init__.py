"""careconnect-ws: the runtime of the CareConnect WebSocket notification system.

This package is what the backend Lambda runs. It never imports the CDK (cdktf,
constructs, jsii or the provider bindings): those start Node.js and cost seconds
and a gigabyte of memory on every cold start.

``careconnect_ws.publish(topic, subject, payload)`` is the one name at the top: it loads
the database and sending modules on first use, so ``import careconnect_ws`` stays cheap.

Where things are (one module per concept):

* entry points: ``handler`` (the Lambda: API Gateway's events), ``commands`` (the backend's commands, one table
  the handler's direct invocations and the CLI both run), ``cli`` (``careconnect-ws``);
* what a client sends: ``events`` (typed views over API Gateway's events), ``routing`` (actions such
  as ``ping`` and ``subscribe``), ``tokens`` (JWTs), ``jwks`` (an identity provider's keys), ``topics`` (who
  may read which stream), ``access`` (access that ends: withdrawal, rules asked again);
* delivery: ``publishing`` (store, then push), ``streams`` (the durable streams in PostgreSQL),
  ``notifications`` (named payloads over ``publish``; revocation), ``delivery`` (fan-out),
  ``management`` and ``sigv4`` (``@connections`` calls, signed);
* state: ``registry`` (connections), ``db`` (one connection per container, pooler- and
  failover-safe), ``migrations/`` (the schema), ``cleanup`` (the scheduled sweep);
* configuration: ``settings`` (every variable the runtime reads; secrets re-read as they rotate), ``secrets``,
  ``contract`` (names the infrastructure shares, close codes), ``limits`` (API Gateway's), ``errors``, ``text``
  (the one rule for stored text), ``backoff`` (the one retry rule), ``services``;
* operations: ``logs`` (JSON lines with the Lambda context), ``metrics`` (CloudWatch EMF in the same line),
  ``status`` (``careconnect-ws status``: the registry's health for whoever is on call);
* ``snapstart`` (SnapStart's hooks); not in the Lambda zip: ``client`` (the reference client), ``local/``
  (``careconnect-ws serve`` and the throwaway PostgreSQL), ``testing/`` (the pytest plugin for your extensions).
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
