"""The connection registry in PostgreSQL: one round trip per operation, every value bound.

Operations are idempotent so a retry after a lost connection changes nothing twice:
``register`` is an upsert, ``deregister`` only ever moves active -> inactive, and
cleanup is a single set-based statement that returns what it deactivated.

A message costs a read, not a durable write: ``check_message`` refreshes last activity
only when it is older than the touch interval, and counts the message for the rate limit
in an UNLOGGED table (no WAL, so no flush at commit). It is a PL/pgSQL function so the
UPDATE is planned and run only when due: the same logic as one statement with
data-modifying CTEs ran at a third of the speed, planned and locked as a write every time.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from .contract import CloseCode
from .db import Database


class Registered(enum.Enum):
    YES = "registered"
    TOO_MANY = "too_many_connections"
    REVOKED = "revoked"


@dataclass(frozen=True, kw_only=True)
class NewConnection:
    connection_id: str
    user_id: str
    callback_url: str
    ttl_seconds: int
    max_per_user: int = 0
    """Refuse the connection when the user already has this many active ones; 0: no cap."""
    source_ip: str | None = None
    user_agent: str | None = None
    token_issued_at: int | None = None
    """The token's ``iat``: refused when the user was revoked after it (or, without one, at all)."""
    token_id: str | None = None
    """The token's ``jti``: refused while it is on the deny-list; stored so revoking it ends the connection."""
    revoked_for_seconds: int | None = None
    """For a connect that carries no ``iat`` (an IAM-signed handshake): refused only while the user's revocation
    is younger than this. None: a connect without an ``iat`` is refused as long as a revocation stands."""
    grants: Mapping[str, tuple[str, ...]] | None = None
    """The subjects the token's claims grant, by claim (for topics ruled by a claim); None: none."""


@dataclass(frozen=True)
class ActiveConnection:
    """What a message needs to know about its connection."""

    connection_id: str
    user_id: str
    callback_url: str
    grants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The subjects its token's claims granted, by claim name (topics ruled by ``claim:<name>``)."""


@dataclass(frozen=True)
class MessageCheck:
    """What ``check_message`` found: the connection (None when not active) and its count this second."""

    connection: ActiveConnection | None
    messages_this_second: int | None
    user_messages_this_second: int | None = None
    """The user's messages this second over all their connections (None when not counted)."""


@dataclass(frozen=True)
class Recipient:
    connection_id: str
    callback_url: str
    user_id: str | None = None
    """Whose connection it is (when the query that found it says)."""
    recheck_due: bool = False
    """The topic's rule allowed this subscription longer ago than ``WS_RULE_RECHECK_SECONDS``: ask it again."""


@dataclass(frozen=True)
class Ended:
    """A ``$disconnect``: which connection, with what close code and reason."""

    connection_id: str
    status_code: int | None
    reason: str


@dataclass(frozen=True)
class Deactivated:
    connection_id: str
    callback_url: str
    disconnect_reason: str


_LOCK_USER = "SELECT pg_advisory_xact_lock(%(lock_space)s, hashtext(%(user)s));\n"

# Revocation is checked in the same statement (and under the same per-user lock) that registers: a
# revocation either committed before this read (the token is refused) or after the connection was
# stored (the revocation ends it). A token without an iat cannot be shown to postdate a revocation; an
# IAM-signed handshake (no iat either) is refused only while the revocation is younger than its window, so a
# principal is never locked out for good.
_REGISTER = """
WITH revoked AS (
    SELECT EXISTS (SELECT 1 FROM websocket_revocations r
                    WHERE r.user_id = %(user)s
                      AND CASE WHEN %(iat)s::bigint IS NOT NULL THEN r.not_before > to_timestamp(%(iat)s::bigint)
                               -- an IAM-signed handshake (no iat): refused while the revocation is recent
                               WHEN %(window)s::int IS NOT NULL
                               THEN r.not_before > now() - make_interval(secs => %(window)s::int)
                               ELSE true END)
        OR EXISTS (SELECT 1 FROM websocket_revoked_tokens t WHERE t.jti = %(jti)s::text AND t.expires_at > now()) AS yes
), previous AS (
    SELECT user_id FROM websocket_connections WHERE connection_id = %(id)s
), dropped AS (
    -- A connection id registered again for another user starts with no subscriptions.
    DELETE FROM websocket_subscriptions s
     USING previous p
     WHERE s.connection_id = %(id)s AND p.user_id <> %(user)s AND NOT (SELECT yes FROM revoked)
), open_now AS (
    SELECT count(*) AS n FROM websocket_connections
     WHERE user_id = %(user)s AND is_active AND expires_at > now() AND connection_id <> %(id)s
), stored AS (
INSERT INTO websocket_connections
    (connection_id, user_id, callback_url, connected_at, last_activity_at, expires_at,
     is_active, source_ip, user_agent, token_id, grants)
SELECT %(id)s, %(user)s, %(url)s, now(), now(), now() + make_interval(secs => %(ttl)s::double precision),
       true, %(ip)s, %(ua)s, %(jti)s::text, %(grants)s::jsonb
 WHERE NOT (SELECT yes FROM revoked) AND (%(max)s::int = 0 OR (SELECT n FROM open_now) < %(max)s::int)
ON CONFLICT (connection_id) DO UPDATE SET
    user_id = EXCLUDED.user_id,
    callback_url = EXCLUDED.callback_url,
    connected_at = EXCLUDED.connected_at,
    last_activity_at = now(),
    expires_at = EXCLUDED.expires_at,
    is_active = true,
    disconnected_at = NULL,
    disconnect_status_code = NULL,
    disconnect_reason = NULL,
    source_ip = EXCLUDED.source_ip,
    user_agent = EXCLUDED.user_agent,
    token_id = EXCLUDED.token_id,
    grants = EXCLUDED.grants
RETURNING 1
)
SELECT (SELECT yes FROM revoked), EXISTS (SELECT 1 FROM stored)
"""

# Serialises the connects of one user (not of everyone) so the per-user cap holds under
# concurrent connects. 'ccwu' as an integer: the lock space shared by every container.
USER_LOCK_SPACE = 0x63637775

# The message path: a plain read unless last activity is due or the rate is counted (see migration 0002).
CHECK_MESSAGE = (
    "SELECT * FROM careconnect_ws_check_message(%(id)s, %(touch)s, %(count)s, %(limit)s::int, %(claim)s::text, %(subject)s::text)"
)


# Every statement that ends connections also drops their rate counters, by primary key:
# the counter table never needs a scan to be cleaned.
_DROP_COUNTERS = """, counters AS (
                DELETE FROM websocket_message_rate r USING ended e WHERE r.connection_id = e.connection_id
            )"""


class Registry:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register(self, new: NewConnection) -> Registered:
        """Record a connection; registering the same id again refreshes it (idempotent).

        ``TOO_MANY`` when the user already has ``max_per_user`` active connections, ``REVOKED`` when the
        token was revoked: nothing is stored either way.
        """
        row = self.db.execute(
            _REGISTER,
            preamble=_LOCK_USER,
            params={
                "lock_space": USER_LOCK_SPACE,
                "id": new.connection_id,
                "user": new.user_id,
                "url": new.callback_url,
                "ttl": new.ttl_seconds,
                "ip": new.source_ip,
                "ua": new.user_agent,
                "max": new.max_per_user,
                "iat": new.token_issued_at,
                "jti": new.token_id,
                "window": new.revoked_for_seconds,
                "grants": Jsonb({k: list(v) for k, v in new.grants.items()}) if new.grants else None,
            },
        ).fetchone()
        assert row is not None  # the statement always answers one row
        revoked, stored = row
        if revoked:
            return Registered.REVOKED
        return Registered.YES if stored else Registered.TOO_MANY

    def deregister(self, connection_id: str, *, status_code: int | None, reason: str | None) -> bool:
        """Soft-delete: mark inactive with the close code and reason. False if it was not active."""
        cur = self.db.execute(
            """
            WITH ended AS (
                UPDATE websocket_connections
                   SET is_active = false, disconnected_at = now(),
                       disconnect_status_code = %(code)s, disconnect_reason = %(reason)s
                 WHERE connection_id = %(id)s AND is_active
             RETURNING connection_id
            ), counter AS (
                DELETE FROM websocket_message_rate WHERE connection_id = %(id)s
            )
            SELECT connection_id FROM ended
            """,
            {"code": status_code, "reason": reason, "id": connection_id},
        )
        return cur.fetchone() is not None

    def deregister_many(self, ended: Sequence[Ended]) -> int:
        """Record several ``$disconnect`` events in one statement (late: the database was down); returns how
        many connections were still active."""
        if not ended:
            return 0
        row = self.db.execute(
            f"""
            WITH given AS (
                SELECT * FROM unnest(%s::text[], %s::int[], %s::text[]) AS g(connection_id, code, reason)
            ), ended AS (
                UPDATE websocket_connections c
                   SET is_active = false, disconnected_at = now(),
                       disconnect_status_code = g.code, disconnect_reason = g.reason
                  FROM given g
                 WHERE c.connection_id = g.connection_id AND c.is_active
             RETURNING c.connection_id
            ){_DROP_COUNTERS}
            SELECT count(*) FROM ended
            """,
            [[e.connection_id for e in ended], [e.status_code for e in ended], [e.reason for e in ended]],
        ).fetchone()
        return int(row[0]) if row is not None else 0

    def deactivate_many(self, connection_ids: Sequence[str], *, reason: str, status_code: int | None = None) -> list[str]:
        """Deactivate a set of connections in one statement (e.g. every 410 Gone of a broadcast)."""
        if not connection_ids:
            return []
        rows = self.db.execute(
            f"""
            WITH ended AS (
                UPDATE websocket_connections
                   SET is_active = false, disconnected_at = now(),
                       disconnect_status_code = %s, disconnect_reason = %s
                 WHERE connection_id = ANY(%s) AND is_active
             RETURNING connection_id
            ){_DROP_COUNTERS}
            SELECT connection_id FROM ended
            """,
            [status_code, reason, list(connection_ids)],
        ).fetchall()
        return [r[0] for r in rows]

    def deactivate_user(self, user_id: str, *, reason: str, revoke: bool = False) -> list[Recipient]:
        """Deactivate every active connection of a user; returns them so they can be closed.

        With ``revoke``, also record that every token the user holds now is refused from now on (tokens
        whose ``iat`` is before this moment), under the lock ``$connect`` takes for the user.
        """
        return self.db.execute(
            f"""
            WITH noted AS (
                INSERT INTO websocket_revocations AS r (user_id, not_before)
                SELECT %(user)s, clock_timestamp() WHERE %(revoke)s
                ON CONFLICT (user_id) DO UPDATE SET not_before = greatest(r.not_before, EXCLUDED.not_before)
            ), ended AS (
                UPDATE websocket_connections
                   SET is_active = false, disconnected_at = now(), disconnect_status_code = %(code)s, disconnect_reason = %(reason)s
                 WHERE user_id = %(user)s AND is_active
             RETURNING connection_id, callback_url
            ){_DROP_COUNTERS}
            SELECT connection_id, callback_url FROM ended
            """,
            {
                "user": user_id,
                "reason": reason,
                "revoke": revoke,
                "lock_space": USER_LOCK_SPACE,
                "code": int(CloseCode.POLICY_VIOLATION),
            },
            preamble=_LOCK_USER,
            row_factory=class_row(Recipient),
        ).fetchall()

    def restore_user(self, user_id: str) -> bool:
        """Lift the user's revocation (``disconnect-user``'s not-before): tokens issued before it, and IAM-signed
        connects, are accepted again. False when there was none. Tokens revoked one by one stay revoked."""
        return (
            self.db.execute(
                "DELETE FROM websocket_revocations WHERE user_id = %(user)s RETURNING 1",
                {"user": user_id, "lock_space": USER_LOCK_SPACE},
                preamble=_LOCK_USER,
            ).fetchone()
            is not None
        )

    def revoke_token(self, token_id: str, *, expires_at: int, reason: str = "token-revoked") -> list[Recipient]:
        """Refuse the token ``token_id`` (its ``jti``) until ``expires_at`` (epoch seconds: its ``exp`` and the
        leeway verification allows past it), and deactivate the connections opened with it; returns them so
        they can be closed."""
        return self.db.execute(
            f"""
            WITH noted AS (
                INSERT INTO websocket_revoked_tokens AS t (jti, expires_at) VALUES (%(jti)s, to_timestamp(%(exp)s::bigint))
                ON CONFLICT (jti) DO UPDATE SET expires_at = greatest(t.expires_at, EXCLUDED.expires_at)
            ), ended AS (
                UPDATE websocket_connections
                   SET is_active = false, disconnected_at = now(), disconnect_status_code = %(code)s, disconnect_reason = %(reason)s
                 WHERE token_id = %(jti)s AND is_active AND token_id IS NOT NULL
             RETURNING connection_id, callback_url
            ){_DROP_COUNTERS}
            SELECT connection_id, callback_url FROM ended
            """,
            {"jti": token_id, "exp": expires_at, "reason": reason, "code": int(CloseCode.POLICY_VIOLATION)},
            row_factory=class_row(Recipient),
        ).fetchall()

    def sweep(self) -> int:
        """Delete what only ever accumulates: revoked token ids past their expiry (by index), and rate
        counters whose window is long over (a message counted while its connection's ``$disconnect``
        ran can leave one behind). The counters are UNLOGGED and hold at most one row per recently
        active connection or user, so this scans them, every cleanup run, on purpose."""
        row = self.db.execute(
            """
            WITH tokens AS (
                DELETE FROM websocket_revoked_tokens WHERE expires_at < now() RETURNING 1
            ), connections AS (
                DELETE FROM websocket_message_rate WHERE window_start < now() - interval '1 minute' RETURNING 1
            ), users AS (
                DELETE FROM websocket_user_rate WHERE window_start < now() - interval '1 minute' RETURNING 1
            )
            SELECT (SELECT count(*) FROM tokens) + (SELECT count(*) FROM connections) + (SELECT count(*) FROM users)
            """
        ).fetchone()
        return int(row[0]) if row is not None else 0

    def check_message(
        self,
        connection_id: str,
        *,
        touch_interval_seconds: int,
        count: bool,
        connection_limit: int = 0,
        claim: tuple[str, str | None] | None = None,
    ) -> MessageCheck:
        """The connection a message came from (None when not active or expired), in one round trip.

        Refreshes last activity only when it is at least ``touch_interval_seconds`` old, and with
        ``count`` returns how many messages this connection, and (unless it is over ``connection_limit``)
        its user, sent in the current second. With ``claim`` (a claim name and a subject, None for the user's own),
        whether the connection's token granted that subject under that claim: the connection's ``grants`` then
        hold it (the one membership a subscribe to a claim-ruled topic needs).
        """
        row = self.db.execute(
            CHECK_MESSAGE,
            {
                "id": connection_id,
                "touch": touch_interval_seconds,
                "count": count,
                "limit": connection_limit,
                "claim": claim[0] if claim else None,
                "subject": claim[1] if claim else None,
            },
        ).fetchone()
        if row is None:
            return MessageCheck(None, None)
        granted = {claim[0]: (claim[1] if claim[1] is not None else row[1],)} if claim and row[5] else {}
        return MessageCheck(ActiveConnection(row[0], row[1], row[2], granted), row[3], row[4])

    def expire(self, *, idle_seconds: int) -> list[Deactivated]:
        """Deactivate every active connection past its TTL or idle too long; one statement."""
        return self.db.execute(
            f"""
            WITH ended AS (
                UPDATE websocket_connections
                   SET is_active = false, disconnected_at = now(), disconnect_status_code = %s,
                       disconnect_reason = CASE WHEN expires_at <= now() THEN 'ttl-expired' ELSE 'idle-timeout' END
                 WHERE is_active
                   AND (expires_at <= now() OR last_activity_at <= now() - make_interval(secs => %s::double precision))
             RETURNING connection_id, callback_url, disconnect_reason
            ){_DROP_COUNTERS}
            SELECT connection_id, callback_url, disconnect_reason FROM ended
            """,
            [int(CloseCode.GOING_AWAY), idle_seconds],
            row_factory=class_row(Deactivated),
        ).fetchall()

    def purge(self, *, older_than_days: int, batch: int = 5000) -> int:
        """Hard-delete rows inactive for longer than the retention period (subscriptions cascade).

        In batches, each its own statement: a backlog of hundreds of thousands of rows (a cleanup
        that did not run for a while) would otherwise outlast the statement timeout and hold its
        locks the whole time.
        """
        purged = 0
        while True:
            deleted = self.db.execute(
                """
                DELETE FROM websocket_connections
                 WHERE connection_id IN (
                    SELECT connection_id FROM websocket_connections
                     WHERE NOT is_active AND disconnected_at < now() - make_interval(days => %s::int)
                     LIMIT %s)
                """,
                [older_than_days, batch],
            ).rowcount
            purged += deleted
            if deleted < batch:
                return purged
