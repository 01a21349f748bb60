-- Connections per user (the $connect cap) and "every connection of this user" (revocation)
-- are one index lookup.
CREATE INDEX websocket_connections_user_active_idx
    ON websocket_connections (user_id) WHERE is_active;

-- Per-connection message counters for the rate limit. UNLOGGED: a counter is not worth a WAL
-- flush per message, and losing the table in a crash or failover only resets the windows.
CREATE UNLOGGED TABLE websocket_message_rate (
    connection_id text        PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    messages      integer     NOT NULL
);

-- The message path in one round trip that is a plain read unless there is something to write:
-- last activity is written only when older than the touch interval (idle cleanup needs it, not
-- every message), and the rate counter only when the caller counts. A statement with a
-- data-modifying CTE would plan and lock as a write every time; PL/pgSQL runs the UPDATE
-- only when it is due.
CREATE FUNCTION careconnect_ws_check_message(p_connection_id text, p_touch_seconds double precision, p_count boolean)
RETURNS TABLE (connection_id text, user_id text, callback_url text, messages integer)
LANGUAGE plpgsql AS $$
DECLARE
    found_row record;
    counted integer;
BEGIN
    SELECT c.connection_id, c.user_id, c.callback_url, c.last_activity_at INTO found_row
      FROM websocket_connections c
     WHERE c.connection_id = p_connection_id AND c.is_active AND c.expires_at > now();
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF found_row.last_activity_at <= now() - make_interval(secs => p_touch_seconds) THEN
        UPDATE websocket_connections c SET last_activity_at = now() WHERE c.connection_id = p_connection_id;
    END IF;
    IF p_count THEN
        INSERT INTO websocket_message_rate AS r (connection_id, window_start, messages)
        VALUES (p_connection_id, date_trunc('second', clock_timestamp()), 1)
        ON CONFLICT ON CONSTRAINT websocket_message_rate_pkey DO UPDATE SET
            messages = CASE WHEN r.window_start = EXCLUDED.window_start THEN r.messages + 1 ELSE 1 END,
            window_start = EXCLUDED.window_start
        RETURNING r.messages INTO counted;
    END IF;
    RETURN QUERY SELECT found_row.connection_id, found_row.user_id, found_row.callback_url, counted;
END
$$;
