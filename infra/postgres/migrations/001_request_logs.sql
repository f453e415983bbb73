-- One row per request the PDF service handles, successful or not (whose app,
-- and unique per app, since 004_rows_per_app.sql).
CREATE TABLE request_logs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id     text        NOT NULL,
    client_ip      inet,
    request_text   text        NOT NULL,
    pdf_object_key text,
    status         text        NOT NULL CHECK (status IN ('stored', 'emailed', 'email_pending', 'failed')),
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX request_logs_request_id ON request_logs (request_id);
CREATE INDEX request_logs_created_at ON request_logs (created_at DESC);
