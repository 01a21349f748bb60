-- Access that ends when it is withdrawn, and a subscription cap that holds under concurrency.

-- When a topic's code rule last said yes to this subscription: a publish asks the rule again for
-- subscriptions checked longer ago than WS_RULE_RECHECK_SECONDS, so an answer is trusted for a bounded
-- time. Existing rows count as checked now (a fast default: no table rewrite).
ALTER TABLE websocket_subscriptions ADD COLUMN checked_at timestamptz NOT NULL DEFAULT now();

-- Withdrawing a user's access to a topic's streams starts from the user's connections (the active-user
-- index) and walks each connection's subscriptions by the primary key's prefix (connection_id, topic).

-- Publishing, as migration 0003's, and also who each recipient is and whether the topic's rule is due to be
-- asked again for it (p_recheck_seconds NULL: the rule never changes its answer, never due). The 0003
-- version stays for a release that still calls it during a rolling deploy.
CREATE FUNCTION careconnect_ws_publish(p_topic text, p_subject text, p_payload text, p_recheck_seconds double precision)
RETURNS TABLE (event_seq bigint, recipient_id text, recipient_url text, recipient_user text, recheck_due boolean)
LANGUAGE plpgsql AS $$
DECLARE
    new_seq bigint;
    new_at timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_topic || chr(31) || p_subject, 0));
    INSERT INTO websocket_streams AS s (topic, subject, last_seq, last_published_at)
    VALUES (p_topic, p_subject, 1, clock_timestamp())
    ON CONFLICT ON CONSTRAINT websocket_streams_pkey DO UPDATE
       SET last_seq = s.last_seq + 1,
           last_published_at = greatest(s.last_published_at + interval '1 microsecond', clock_timestamp())
    RETURNING s.last_seq, s.last_published_at INTO new_seq, new_at;
    INSERT INTO websocket_events (topic, subject, seq, published_at, payload)
    VALUES (p_topic, p_subject, new_seq, new_at, p_payload);
    RETURN QUERY
        SELECT new_seq, c.connection_id, c.callback_url, c.user_id,
               p_recheck_seconds IS NOT NULL AND sub.checked_at <= now() - make_interval(secs => p_recheck_seconds)
          FROM websocket_subscriptions sub
          JOIN websocket_connections c ON c.connection_id = sub.connection_id
         WHERE sub.topic = p_topic AND sub.subject = p_subject AND c.is_active AND c.expires_at > now()
         ORDER BY c.connection_id;
    IF NOT FOUND THEN
        RETURN QUERY SELECT new_seq, NULL::text, NULL::text, NULL::text, false;
    END IF;
END
$$;

-- Subscribing, as migration 0003's, with the connection's subscriptions counted under a lock on the
-- connection ('ccwc' as the lock space): two subscribes of one connection at once can no longer both see
-- room for one more. Only taken when there is a cap to keep.
CREATE OR REPLACE FUNCTION careconnect_ws_subscribe(
    p_connection_id text, p_topic text, p_subject text, p_max_subscriptions integer,
    p_since bigint, p_max_events integer, p_max_bytes bigint, p_overhead integer)
RETURNS TABLE (is_active boolean, already boolean, inserted boolean, head bigint, oldest bigint, seqs bigint[], payloads text[])
LANGUAGE plpgsql AS $$
BEGIN
    IF p_max_subscriptions > 0 THEN
        PERFORM pg_advisory_xact_lock(1667463011, hashtext(p_connection_id));
    END IF;
    PERFORM pg_advisory_xact_lock_shared(hashtextextended(p_topic || chr(31) || p_subject, 0));
    RETURN QUERY
    WITH active AS (
        SELECT c.connection_id FROM websocket_connections c
         WHERE c.connection_id = p_connection_id AND c.is_active
    ), existing AS (
        SELECT count(*) AS n, coalesce(bool_or(s.topic = p_topic AND s.subject = p_subject), false) AS has
          FROM websocket_subscriptions s WHERE s.connection_id = p_connection_id
    ), added AS (
        INSERT INTO websocket_subscriptions AS s (connection_id, topic, subject)
        SELECT a.connection_id, p_topic, p_subject FROM active a, existing e
         WHERE NOT e.has AND (p_max_subscriptions = 0 OR e.n < p_max_subscriptions)
        ON CONFLICT DO NOTHING
        RETURNING 1
    ), page AS (
        SELECT e.seq, e.payload FROM websocket_events e
         WHERE p_since IS NOT NULL AND EXISTS (SELECT 1 FROM active)
           AND e.topic = p_topic AND e.subject = p_subject AND e.seq > p_since
         ORDER BY e.seq
         LIMIT p_max_events
    ), replay AS (
        SELECT p.seq, p.payload, sum(octet_length(p.payload) + p_overhead) OVER (ORDER BY p.seq) AS running FROM page p
    ), fits AS (
        SELECT r.seq, r.payload FROM replay r WHERE r.running <= p_max_bytes OR r.seq = (SELECT min(p.seq) FROM page p)
    )
    SELECT EXISTS (SELECT 1 FROM active),
           (SELECT e.has FROM existing e),
           EXISTS (SELECT 1 FROM added),
           coalesce((SELECT st.last_seq FROM websocket_streams st WHERE st.topic = p_topic AND st.subject = p_subject), 0::bigint),
           (SELECT min(ev.seq) FROM websocket_events ev WHERE ev.topic = p_topic AND ev.subject = p_subject),
           (SELECT array_agg(f.seq ORDER BY f.seq) FROM fits f),
           (SELECT array_agg(f.payload ORDER BY f.seq) FROM fits f);
END
$$;
