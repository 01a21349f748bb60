"""The connection registry in PostgreSQL: one round trip per operation, every value bound.

Operations are idempotent so a retry after a lost connection changes nothing twice:
``register`` is an upsert, ``deregister`` only ever moves active -> inactive, and
cleanup is a single set-based statement that returns what it deactivated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg.rows import class_row, dict_row

from .db import Database


@dataclass(frozen=True, kw_only=True)
class NewConnection:
    connection_id: str
    user_id: str
    callback_url: str
    ttl_seconds: int
    source_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class ActiveConnection:
    """What a message needs to know about its connection."""

    connection_id: str
    user_id: str
    callback_url: str


@dataclass(frozen=True)
class Recipient:
    connection_id: str
    callback_url: str


@dataclass(frozen=True)
class Deactivated:
    connection_id: str
    callback_url: str
    disconnect_reason: str


class Registry:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register(self, new: NewConnection) -> None:
        """Record a connection; registering the same id again refreshes it (idempotent)."""
        self.db.run(
            lambda c: c.execute(
                """
                INSERT INTO websocket_connections
                    (connection_id, user_id, callback_url, connected_at, last_activity_at, expires_at,
                     is_active, source_ip, user_agent)
                VALUES (%(id)s, %(user)s, %(url)s, now(), now(), now() + make_interval(secs => %(ttl)s::double precision),
                        true, %(ip)s, %(ua)s)
                ON CONFLICT (connection_id) DO UPDATE SET
                    user_id = EXCLUDED.user_id,
                    callback_url = EXCLUDED.callback_url,
                    last_activity_at = now(),
                    expires_at = EXCLUDED.expires_at,
                    is_active = true,
                    disconnected_at = NULL,
                    disconnect_status_code = NULL,
                    disconnect_reason = NULL,
                    source_ip = EXCLUDED.source_ip,
                    user_agent = EXCLUDED.user_agent
                """,
                {
                    "id": new.connection_id,
                    "user": new.user_id,
                    "url": new.callback_url,
                    "ttl": new.ttl_seconds,
                    "ip": new.source_ip,
                    "ua": new.user_agent,
                },
            )
        )

    def deregister(self, connection_id: str, *, status_code: int | None, reason: str | None) -> bool:
        """Soft-delete: mark inactive with the close code and reason. False if it was not active."""
        cur = self.db.run(
            lambda c: c.execute(
                """
                UPDATE websocket_connections
                   SET is_active = false, disconnected_at = now(),
                       disconnect_status_code = %s, disconnect_reason = %s
                 WHERE connection_id = %s AND is_active
                """,
                [status_code, reason, connection_id],
            )
        )
        return cur.rowcount == 1

    def deactivate_many(self, connection_ids: Sequence[str], *, reason: str, status_code: int | None = None) -> list[str]:
        """Deactivate a set of connections in one statement (e.g. every 410 Gone of a broadcast)."""
        if not connection_ids:
            return []
        rows = self.db.run(
            lambda c: c.execute(
                """
                UPDATE websocket_connections
                   SET is_active = false, disconnected_at = now(),
                       disconnect_status_code = %s, disconnect_reason = %s
                 WHERE connection_id = ANY(%s) AND is_active
             RETURNING connection_id
                """,
                [status_code, reason, list(connection_ids)],
            ).fetchall()
        )
        return [r[0] for r in rows]

    def touch(self, connection_id: str) -> ActiveConnection | None:
        """Record activity and return the connection, or None when it is not active (or expired)."""
        def op(c):
            with c.cursor(row_factory=class_row(ActiveConnection)) as cur:
                return cur.execute(
                    """
                    UPDATE websocket_connections SET last_activity_at = now()
                     WHERE connection_id = %s AND is_active AND expires_at > now()
                 RETURNING connection_id, user_id, callback_url
                    """,
                    [connection_id],
                ).fetchone()

        return self.db.run(op)

    def subscribe(self, connection_id: str, topic: str, subject: str) -> bool:
        """Subscribe an active connection; True if it is (now or already) subscribed."""
        row = self.db.run(
            lambda c: c.execute(
                """
                WITH active AS (
                    SELECT connection_id FROM websocket_connections
                     WHERE connection_id = %(id)s AND is_active
                ), inserted AS (
                    INSERT INTO websocket_subscriptions (connection_id, topic, subject)
                    SELECT connection_id, %(topic)s, %(subject)s FROM active
                    ON CONFLICT DO NOTHING
                    RETURNING 1
                )
                SELECT EXISTS (SELECT 1 FROM active)
                """,
                {"id": connection_id, "topic": topic, "subject": subject},
            ).fetchone()
        )
        return bool(row and row[0])

    def unsubscribe(self, connection_id: str, topic: str, subject: str) -> bool:
        cur = self.db.run(
            lambda c: c.execute(
                "DELETE FROM websocket_subscriptions WHERE connection_id = %s AND topic = %s AND subject = %s",
                [connection_id, topic, subject],
            )
        )
        return cur.rowcount == 1

    def recipients(self, topic: str, subject: str, *, user_id: str | None = None) -> list[Recipient]:
        """Active, unexpired connections subscribed to ``topic``/``subject`` (optionally of one user)."""
        def op(c):
            with c.cursor(row_factory=class_row(Recipient)) as cur:
                return cur.execute(
                    """
                    SELECT c.connection_id, c.callback_url
                      FROM websocket_subscriptions s
                      JOIN websocket_connections c USING (connection_id)
                     WHERE s.topic = %(topic)s AND s.subject = %(subject)s
                       AND c.is_active AND c.expires_at > now()
                       AND (%(user)s::text IS NULL OR c.user_id = %(user)s::text)
                     ORDER BY c.connection_id
                    """,
                    {"topic": topic, "subject": subject, "user": user_id},
                ).fetchall()

        return self.db.run(op)


    def expire(self, *, idle_seconds: int) -> list[Deactivated]:
        """Deactivate every active connection past its TTL or idle too long; one statement."""
        def op(c):
            with c.cursor(row_factory=class_row(Deactivated)) as cur:
                return cur.execute(
                    """
                    UPDATE websocket_connections
                       SET is_active = false, disconnected_at = now(), disconnect_status_code = 1001,
                           disconnect_reason = CASE WHEN expires_at <= now() THEN 'ttl-expired' ELSE 'idle-timeout' END
                     WHERE is_active
                       AND (expires_at <= now() OR last_activity_at <= now() - make_interval(secs => %s::double precision))
                 RETURNING connection_id, callback_url, disconnect_reason
                    """,
                    [idle_seconds],
                ).fetchall()

        return self.db.run(op)

    def purge(self, *, older_than_days: int) -> int:
        """Hard-delete rows inactive for longer than the retention period (subscriptions cascade)."""
        cur = self.db.run(
            lambda c: c.execute(
                """
                DELETE FROM websocket_connections
                 WHERE NOT is_active AND disconnected_at < now() - make_interval(days => %s::int)
                """,
                [older_than_days],
            )
        )
        return cur.rowcount

    def get(self, connection_id: str) -> dict | None:
        """The whole row, for operators and tests."""
        def op(c):
            with c.cursor(row_factory=dict_row) as cur:
                return cur.execute(
                    "SELECT * FROM websocket_connections WHERE connection_id = %s", [connection_id]
                ).fetchone()

        return self.db.run(op)
