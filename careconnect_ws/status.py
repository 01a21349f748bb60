"""The registry's health at a glance, for whoever is on call: ``careconnect-ws status``.

One read-only statement (no write, no lock, safe against a primary under load): the schema version
against this release's, the connections open now, those the cleanup should already have ended (past
their lifetime, or idle past the limit) and how far behind it is, and the event store's oldest event
against the retention. The two tables that grow with use (events, streams) are sized with the
planner's estimate (``pg_class.reltuples``, as of the last autovacuum/ANALYZE): an exact count of
millions of events is a scan nobody on call should start.

Problems are sentences that say what to do; ``careconnect-ws status`` exits 1 when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .migrations import HISTORY_TABLE

if TYPE_CHECKING:
    from .db import Database

DEFAULT_GRACE_SECONDS = 3600
"""How far behind the cleanup (every 15 minutes by default) may fall before it is a problem."""

_SNAPSHOT_SQL = f"""
SELECT (SELECT coalesce(max(version), 0) FROM {HISTORY_TABLE})                        AS schema_version,
       (SELECT count(*) FROM websocket_connections WHERE is_active)                   AS active,
       (SELECT count(DISTINCT user_id) FROM websocket_connections WHERE is_active)    AS users,
       (SELECT count(*) FROM websocket_connections
         WHERE is_active AND expires_at <= now())                                      AS past_lifetime,
       (SELECT count(*) FROM websocket_connections
         WHERE is_active AND last_activity_at <= now() - make_interval(secs => %(idle)s)) AS idle_past_limit,
       (SELECT min(expires_at) FROM websocket_connections WHERE is_active)            AS earliest_expiry,
       (SELECT min(last_activity_at) FROM websocket_connections WHERE is_active)      AS earliest_activity,
       (SELECT min(published_at) FROM websocket_events)                               AS oldest_event,
       (SELECT reltuples::bigint FROM pg_class WHERE oid = 'websocket_events'::regclass)  AS events_estimate,
       (SELECT reltuples::bigint FROM pg_class WHERE oid = 'websocket_streams'::regclass) AS streams_estimate,
       (SELECT count(*) FROM websocket_revoked_tokens WHERE expires_at > now())       AS revoked_tokens,
       now()                                                                           AS now
"""


@dataclass(frozen=True)
class Snapshot:
    """What the statement read."""

    schema_version: int
    active: int
    users: int
    past_lifetime: int
    idle_past_limit: int
    earliest_expiry: datetime | None
    earliest_activity: datetime | None
    oldest_event: datetime | None
    events_estimate: int
    streams_estimate: int
    revoked_tokens: int
    now: datetime


@dataclass(frozen=True)
class Limits:
    """The settings the snapshot is judged against (the runtime's, so the same numbers the cleanup uses)."""

    expected_schema: int
    idle_timeout_seconds: int
    stream_retention_seconds: int
    grace_seconds: int = DEFAULT_GRACE_SECONDS


def read_snapshot(db: Database, *, idle_timeout_seconds: int) -> Snapshot | int:
    """The snapshot, in one round trip; or the schema version alone when the schema is too old (or absent) for
    the snapshot's tables, which is then the one thing to fix."""
    import psycopg
    from psycopg.rows import class_row

    from .migrations import current_version

    try:
        found: Snapshot | None = db.execute(
            _SNAPSHOT_SQL, {"idle": float(idle_timeout_seconds)}, row_factory=class_row(Snapshot)
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        return db.run(current_version)
    assert found is not None  # a SELECT without FROM always answers one row
    return found


def _seconds(later: datetime, earlier: datetime | None) -> float:
    return 0.0 if earlier is None else max(0.0, (later - earlier).total_seconds())


def cleanup_behind_seconds(snapshot: Snapshot, limits: Limits) -> float:
    """How long the longest-overdue active connection should already have been ended (0: none is overdue)."""
    past_expiry = _seconds(snapshot.now, snapshot.earliest_expiry)
    past_idle = _seconds(snapshot.now, snapshot.earliest_activity) - limits.idle_timeout_seconds
    return round(max(0.0, past_expiry, past_idle), 1)


def purge_behind_seconds(snapshot: Snapshot, limits: Limits) -> float:
    """How long ago the oldest stored event should have been purged (0: within retention)."""
    return round(max(0.0, _seconds(snapshot.now, snapshot.oldest_event) - limits.stream_retention_seconds), 1)


def schema_problem(version: int, limits: Limits) -> str | None:
    if version < limits.expected_schema:
        return (
            f"the schema is at version {version}, this release needs {limits.expected_schema}: "
            "run `careconnect-ws migrate` (idempotent, safe while traffic flows)"
        )
    if version > limits.expected_schema:
        return (
            f"the schema is at version {version}, newer than this release knows ({limits.expected_schema}): "
            "a newer careconnect-ws migrated it; deploy that release here too"
        )
    return None


def problems(snapshot: Snapshot, limits: Limits) -> list[str]:
    """What is wrong, each with what to do."""
    found = [p for p in (schema_problem(snapshot.schema_version, limits),) if p]
    behind = cleanup_behind_seconds(snapshot, limits)
    if behind > limits.grace_seconds:
        found.append(
            f"the cleanup is {behind / 60:.0f} min behind ({snapshot.past_lifetime} connections past their lifetime, "
            f"{snapshot.idle_past_limit} idle past the limit, still active, so still counted against their user's "
            "connection limit): check the cleanup schedule and its alarms, or run `careconnect-ws cleanup`"
        )
    behind = purge_behind_seconds(snapshot, limits)
    if behind > limits.grace_seconds:
        found.append(
            f"events older than the retention ({limits.stream_retention_seconds} s) are still stored, the oldest "
            f"{behind / 60:.0f} min past it: the cleanup's purge is not keeping up; run `careconnect-ws cleanup`"
        )
    return found


def report(snapshot: Snapshot | int, limits: Limits) -> dict[str, Any]:
    """The status as one JSON-ready object: ``ok``, the figures, and ``problems``."""
    if isinstance(snapshot, int):
        problem = schema_problem(snapshot, limits) or "the schema's tables are missing: run `careconnect-ws migrate`"
        return {"ok": False, "schema": {"version": snapshot, "expected": limits.expected_schema}, "problems": [problem]}
    found = problems(snapshot, limits)
    return {
        "ok": not found,
        "schema": {"version": snapshot.schema_version, "expected": limits.expected_schema},
        "connections": {
            "active": snapshot.active,
            "users": snapshot.users,
            "pastLifetime": snapshot.past_lifetime,
            "idlePastLimit": snapshot.idle_past_limit,
        },
        "cleanupBehindSeconds": cleanup_behind_seconds(snapshot, limits),
        "events": {
            # -1: the table was never analyzed (a new database): no estimate yet.
            "estimated": snapshot.events_estimate if snapshot.events_estimate >= 0 else None,
            "oldestAgeSeconds": round(_seconds(snapshot.now, snapshot.oldest_event), 1) if snapshot.oldest_event else None,
            "retentionSeconds": limits.stream_retention_seconds,
            "purgeBehindSeconds": purge_behind_seconds(snapshot, limits),
        },
        "streamsEstimated": snapshot.streams_estimate if snapshot.streams_estimate >= 0 else None,
        "revokedTokens": snapshot.revoked_tokens,
        "problems": found,
    }


def status_of(*, grace_seconds: int = DEFAULT_GRACE_SECONDS) -> dict[str, Any]:
    """The report for the configured database (``careconnect-ws status`` and the ``status`` invoke command):
    read-only, so it may point at a read replica or connect as a read-only role."""
    from .db import Database
    from .migrations import available
    from .settings import get_settings

    settings = get_settings()
    limits = Limits(
        expected_schema=available()[-1].version,
        idle_timeout_seconds=settings.idle_timeout_seconds,
        stream_retention_seconds=settings.stream_retention_seconds,
        grace_seconds=grace_seconds,
    )
    database = Database.from_settings(settings, read_only=True)
    return report(read_snapshot(database, idle_timeout_seconds=settings.idle_timeout_seconds), limits)
