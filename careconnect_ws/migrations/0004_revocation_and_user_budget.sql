-- Revocation that holds: a token issued (iat) before a user's not_before is refused at $connect, and a
-- token id (jti) on the deny-list is refused until it would have expired anyway.
CREATE TABLE websocket_revocations (
    user_id    text        PRIMARY KEY,
    not_before timestamptz NOT NULL
);

CREATE TABLE websocket_revoked_tokens (
    jti        text        PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
-- Cleanup drops entries whose token has expired anyway.
CREATE INDEX websocket_revoked_tokens_expires_idx ON websocket_revoked_tokens (expires_at);

-- Per-user message counters: one user's connections together get a budget, so ten connections each
-- under the per-connection limit cannot take the stage's shared throttle. UNLOGGED, as the
-- per-connection counters: no WAL per message, and a crash only resets the windows.
CREATE UNLOGGED TABLE websocket_user_rate (
    user_id      text        PRIMARY KEY,
    window_start timestamptz NOT NULL,
    messages     integer     NOT NULL
);

-- The message path, now also counting the user's budget. A message already over its connection's limit
-- is refused by that limit and does not spend the user's budget (and writes nothing more).
DROP FUNCTION careconnect_ws_check_message(text, double precision, boolean);
CREATE FUNCTION careconnect_ws_check_message(
    p_connection_id text, p_touch_seconds double precision, p_count boolean, p_connection_limit integer)
RETURNS TABLE (connection_id text, user_id text, callback_url text, messages integer, user_messages integer)
LANGUAGE plpgsql AS $$
DECLARE
    found_row record;
    counted integer;
    user_counted integer;
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
        IF p_connection_limit = 0 OR counted <= p_connection_limit THEN
            INSERT INTO websocket_user_rate AS u (user_id, window_start, messages)
            VALUES (found_row.user_id, date_trunc('second', clock_timestamp()), 1)
            ON CONFLICT ON CONSTRAINT websocket_user_rate_pkey DO UPDATE SET
                messages = CASE WHEN u.window_start = EXCLUDED.window_start THEN u.messages + 1 ELSE 1 END,
                window_start = EXCLUDED.window_start
            RETURNING u.messages INTO user_counted;
        END IF;
    END IF;
    RETURN QUERY SELECT found_row.connection_id, found_row.user_id, found_row.callback_url, counted, user_counted;
END
$$;

-- The token a connection was opened with (its jti), so revoking one token also ends its connections.
ALTER TABLE websocket_connections ADD COLUMN token_id text;
CREATE INDEX websocket_connections_token_active_idx
    ON websocket_connections (token_id) WHERE is_active AND token_id IS NOT NULL;
