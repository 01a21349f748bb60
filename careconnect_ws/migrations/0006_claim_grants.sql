-- Topics ruled by a token claim (WS_TOPICS "claim:<name>"): the subjects the connection's token granted, stored
-- with the connection when it registers, so every later subscribe and replay reads them in the statement that
-- already finds the connection (no extra round trip) whichever way $connect was authorized.
ALTER TABLE websocket_connections ADD COLUMN grants jsonb;

-- The message check, as migration 0004's, also answering whether the connection's token granted p_subject (the
-- user's own id when NULL) under the claim p_claim: the one membership a subscribe to a claim-ruled topic asks,
-- never the whole list (NULL when no claim is asked). The 0004 version stays for a release that still calls it
-- during a rolling deploy.
CREATE FUNCTION careconnect_ws_check_message(
    p_connection_id text, p_touch_seconds double precision, p_count boolean, p_connection_limit integer,
    p_claim text, p_subject text)
RETURNS TABLE (connection_id text, user_id text, callback_url text, messages integer, user_messages integer,
               granted boolean)
LANGUAGE plpgsql AS $$
DECLARE
    found_row record;
    counted integer;
    user_counted integer;
BEGIN
    SELECT c.connection_id, c.user_id, c.callback_url, c.last_activity_at, c.grants INTO found_row
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
    RETURN QUERY SELECT found_row.connection_id, found_row.user_id, found_row.callback_url, counted, user_counted,
                        CASE WHEN p_claim IS NULL THEN NULL
                             ELSE coalesce((found_row.grants -> p_claim) ? coalesce(p_subject, found_row.user_id), false)
                        END;
END
$$;
