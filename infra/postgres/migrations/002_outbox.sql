-- Calls to a granted service that must not be lost (the PDF service asking the
-- email worker to send a PDF): one row per call, written before its first
-- attempt and delivered by whichever capability server is alive and granted
-- the service (task-driver/capabilities/outbox.ts) for a task of the same app
-- (004_rows_per_app.sql). A row is claimed with
-- SELECT ... FOR UPDATE SKIP LOCKED plus a lease (claimed_by, claimed_until):
-- a claimer that dies gives its rows back when the lease runs out.
CREATE TABLE outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service          text        NOT NULL,
    method           text        NOT NULL,
    path             text        NOT NULL,
    headers          jsonb       NOT NULL DEFAULT '{}',
    body             bytea       NOT NULL,
    -- The request_logs row to settle, and its status once delivered (e.g. emailed).
    request_id       text,
    delivered_status text,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL CHECK (max_attempts > 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_by       text,
    claimed_until    timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    failed_at        timestamptz
);

-- What the delivery loops poll: pending rows by due time.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
-- One call per request and service: a request's PDF is queued for mailing once.
CREATE UNIQUE INDEX outbox_request ON outbox (service, request_id) WHERE request_id IS NOT NULL;

-- Messages sent with an idempotency key through the mail capability, so a
-- repeated delivery of the same outbox call never mails twice. A key is
-- reserved (`sending`) before SMTP and confirmed (`sent`) after; a send that
-- fails releases it.
CREATE TABLE mail_sends (
    idempotency_key text        NOT NULL,
    recipient       text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('sending', 'sent')),
    message_id      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    PRIMARY KEY (idempotency_key, recipient)
);
