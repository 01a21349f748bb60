"""The real plans of the real statements: ``auto_explain`` logs every plan the runtime's own
connection executes (nested statements inside the PL/pgSQL function included), and
:func:`plans_in_log` reads them back from the server log. Nothing re-types the SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

REGISTRY_TABLES = (
    "websocket_connections",
    "websocket_subscriptions",
    "websocket_message_rate",
    "websocket_streams",
    "websocket_events",
    "websocket_revocations",
    "websocket_revoked_tokens",
    "websocket_user_rate",
)

# The one statement that scans on purpose: cleanup's sweep of stale rate counters (UNLOGGED tables of at
# most one row per recently active connection or user; see Registry.sweep), every cleanup run.
SWEPT_COUNTERS = ("websocket_message_rate", "websocket_user_rate")


def explain_everything(conn: psycopg.Connection) -> None:
    """Log the plan of every statement this (superuser) connection runs from now on."""
    for statement in (
        "LOAD 'auto_explain'",
        "SET auto_explain.log_min_duration = 0",
        "SET auto_explain.log_nested_statements = on",
        "SET auto_explain.log_format = 'json'",
    ):
        conn.execute(statement)


def plans_in_log(log: str) -> Iterator[dict[str, Any]]:
    decoder = json.JSONDecoder()
    for chunk in log.split("plan:")[1:]:
        try:
            plan, _ = decoder.raw_decode(chunk.lstrip())
        except ValueError:
            continue
        yield plan


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stack = [plan["Plan"]]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.get("Plans", []))


_INDEX_SCANS = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")


def unindexed_scans(plan: dict[str, Any]) -> list[str]:
    """Scans of a registry table that are not index lookups: a sequential scan, or an index walked
    from end to end (no ``Index Cond``, as the planner does with ``enable_seqscan = off`` when no
    index fits the lookup). The counter sweep's scans of the counters are intended."""
    sweep = "DELETE FROM websocket_message_rate WHERE window_start" in plan.get("Query Text", "")
    found = []
    for node in nodes(plan):
        kind = node.get("Node Type", "")
        table = node.get("Relation Name") or _table_of_index(node.get("Index Name", ""))
        if table not in REGISTRY_TABLES or (sweep and table in SWEPT_COUNTERS):
            continue
        if kind == "Seq Scan" or (kind in _INDEX_SCANS and "Index Cond" not in node):
            found.append(f"{kind} on {table}" + (f" ({node['Index Name']})" if "Index Name" in node else ""))
    return found


def _table_of_index(index: str) -> str | None:
    return next((t for t in REGISTRY_TABLES if index.startswith(t)), None)


def registry_plans(server_log: Path, since: int) -> list[dict[str, Any]]:
    """Plans logged after byte ``since`` that touch a registry table."""
    text = server_log.read_bytes()[since:].decode("utf-8", "replace")
    return [
        p
        for p in plans_in_log(text)
        if any(n.get("Relation Name") in REGISTRY_TABLES for n in nodes(p))
        or "careconnect_ws_check_message" in p.get("Query Text", "")
    ]
