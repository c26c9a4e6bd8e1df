-- The dashboard's sign-in sessions (contract §9), kept here so that every
-- replica knows them, a cold start keeps them and signing out ends them.
-- The browser's cookie holds a random token; a row holds its SHA-256, never
-- the token, and the SHA-256 of the read key the session was made with,
-- never the key, so that each request is authorized again by the key.
-- In eventfn_meta with the other tables that hold no events.
CREATE SCHEMA IF NOT EXISTS eventfn_meta;
CREATE TABLE IF NOT EXISTS eventfn_meta.dashboard_sessions (
    token_hash bytea       PRIMARY KEY,
    project    text        NOT NULL,
    key_hash   bytea       NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS dashboard_sessions_expires ON eventfn_meta.dashboard_sessions (expires_at);

-- One secret shared by every replica, made by the first to start: it signs
-- the CSRF tokens of the dashboard's forms.
CREATE TABLE IF NOT EXISTS eventfn_meta.dashboard_secret (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    secret bytea   NOT NULL
);
