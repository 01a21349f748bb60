-- The connection registry and topic subscriptions.
CREATE TABLE websocket_connections (
    connection_id          text        PRIMARY KEY,
    user_id                text        NOT NULL,
    callback_url           text        NOT NULL,
    connected_at           timestamptz NOT NULL DEFAULT now(),
    last_activity_at       timestamptz NOT NULL DEFAULT now(),
    expires_at             timestamptz NOT NULL,
    disconnected_at        timestamptz,
    disconnect_status_code integer,
    disconnect_reason      text,
    is_active              boolean     NOT NULL DEFAULT true,
    source_ip              text,
    user_agent             text,
    CONSTRAINT websocket_connections_inactive_has_time CHECK (is_active OR disconnected_at IS NOT NULL)
);

-- Cleanup: expired or idle active connections.
CREATE INDEX websocket_connections_expires_active_idx
    ON websocket_connections (expires_at) WHERE is_active;
CREATE INDEX websocket_connections_activity_active_idx
    ON websocket_connections (last_activity_at) WHERE is_active;
-- Purge: long-inactive rows.
CREATE INDEX websocket_connections_disconnected_idx
    ON websocket_connections (disconnected_at) WHERE NOT is_active;

CREATE TABLE websocket_subscriptions (
    connection_id text        NOT NULL REFERENCES websocket_connections (connection_id) ON DELETE CASCADE,
    topic         text        NOT NULL,
    subject       text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, topic, subject)
);

-- "All connections subscribed to topic T for subject S" is one index lookup.
CREATE INDEX websocket_subscriptions_topic_subject_idx
    ON websocket_subscriptions (topic, subject) INCLUDE (connection_id);
