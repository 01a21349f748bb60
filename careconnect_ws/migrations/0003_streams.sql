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
