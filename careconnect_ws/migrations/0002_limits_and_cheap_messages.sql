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
