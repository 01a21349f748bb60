-- Durable streams: every published event is stored, with a gapless per-stream sequence, before it is
-- pushed; a client that reconnects resumes with `since` and loses nothing within retention.

-- One row per stream (topic, subject): where its sequence stands. Never deleted: a stream's sequence
-- must not restart at 1 while clients still hold positions in it.
CREATE TABLE websocket_streams (
    topic             text        NOT NULL,
    subject           text        NOT NULL,
    last_seq          bigint      NOT NULL,
    -- Monotonic per stream (greatest of the clock and the previous event's time), so purging by
    -- time always removes a prefix of a stream, never an event in the middle of one.
    last_published_at timestamptz NOT NULL,
    PRIMARY KEY (topic, subject)
);

CREATE TABLE websocket_events (
    topic        text        NOT NULL,
    subject      text        NOT NULL,
    seq          bigint      NOT NULL,
    published_at timestamptz NOT NULL,
    -- The payload as compact JSON text (an object), exactly as it is pushed: replay sends it unchanged.
    payload      text        NOT NULL,
    PRIMARY KEY (topic, subject, seq)
);

-- Retention: "events published before T" in batches is one index range scan.
CREATE INDEX websocket_events_published_idx ON websocket_events (published_at);

-- Publishing: the stream's next sequence, the stored event and the stream's current subscribers, in one
-- call. PL/pgSQL keeps its statements' plans for the session (the same statements sent as SQL were
-- planned again on every publish: a third of its time), and every statement in it reads a snapshot
-- taken after the lock, which is what makes the hand-over between replay and live pushes lossless:
-- a publisher holds the stream's lock exclusively and a subscriber shared, so a subscriber either
-- committed before this publisher read the recipients (it is among them) or reads this event in its
-- replay. A hash collision between two streams only serialises them a little more.
CREATE FUNCTION careconnect_ws_publish(p_topic text, p_subject text, p_payload text)
RETURNS TABLE (event_seq bigint, recipient_id text, recipient_url text)
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
        SELECT new_seq, c.connection_id, c.callback_url
          FROM websocket_subscriptions sub
          JOIN websocket_connections c ON c.connection_id = sub.connection_id
         WHERE sub.topic = p_topic AND sub.subject = p_subject AND c.is_active AND c.expires_at > now()
         ORDER BY c.connection_id;
    IF NOT FOUND THEN
        RETURN QUERY SELECT new_seq, NULL::text, NULL::text;
    END IF;
END
$$;

-- Subscribing: the subscription (idempotent, capped per connection), where the stream stands, and with
-- p_since the events after it: at most p_max_events, and no more than p_max_bytes of messages (the first
-- always: publishing keeps one event within a message). The shared lock is the other half of the
-- hand-over described above.
CREATE FUNCTION careconnect_ws_subscribe(
    p_connection_id text, p_topic text, p_subject text, p_max_subscriptions integer,
    p_since bigint, p_max_events integer, p_max_bytes bigint, p_overhead integer)
RETURNS TABLE (is_active boolean, already boolean, inserted boolean, head bigint, oldest bigint, seqs bigint[], payloads text[])
LANGUAGE plpgsql AS $$
BEGIN
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
        -- At most p_max_events rows by primary key; payloads are only read for the rows that fit.
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
