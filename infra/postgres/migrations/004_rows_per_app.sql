-- Rows per app: every request_logs, outbox and mail_sends row names the app
-- that wrote it, each app's keys are its own (two apps may use the same
-- request id or idempotency key), and lean_writer reaches only the rows of the
-- app its transaction names. The services begin every statement's transaction
-- with SELECT set_config('lean.app', <the task's app>, true)
-- (task-driver/capabilities/as-app.ts).
--
-- Rows from before this migration get app '': no app is named that (app names
-- start with a letter, jobs/spec-fields.ts), so no app reaches them; the
-- owner still does.
ALTER TABLE request_logs ADD COLUMN app text NOT NULL DEFAULT '';
ALTER TABLE request_logs ALTER COLUMN app DROP DEFAULT;
DROP INDEX request_logs_request_id;
CREATE UNIQUE INDEX request_logs_app_request_id ON request_logs (app, request_id);

ALTER TABLE outbox ADD COLUMN app text NOT NULL DEFAULT '';
ALTER TABLE outbox ALTER COLUMN app DROP DEFAULT;
-- One call per request and service, within the app.
DROP INDEX outbox_request;
CREATE UNIQUE INDEX outbox_request ON outbox (app, service, request_id) WHERE request_id IS NOT NULL;

ALTER TABLE mail_sends ADD COLUMN app text NOT NULL DEFAULT '';
ALTER TABLE mail_sends ALTER COLUMN app DROP DEFAULT;
-- One message per key and recipient, within the app: another app's key never
-- holds this one's mail back.
ALTER TABLE mail_sends DROP CONSTRAINT mail_sends_pkey;
ALTER TABLE mail_sends ADD PRIMARY KEY (app, idempotency_key, recipient);

-- Row-level security binds whoever is not the owner (nor a superuser, nor
-- BYPASSRLS): lean_writer must be none of those, or the policies below would
-- not apply to it. Checked here rather than forced (FORCE would bind the
-- owner, whom no policy names, to no rows at all).
DO $$
BEGIN
  IF EXISTS (
    SELECT FROM pg_class c
    WHERE c.oid IN ('request_logs'::regclass, 'outbox'::regclass, 'mail_sends'::regclass)
      AND pg_has_role('lean_writer', c.relowner, 'USAGE')
  ) THEN
    RAISE EXCEPTION 'lean_writer owns (or acts as the owner of) request_logs, outbox or mail_sends, so row-level security would not bind it';
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'lean_writer' AND (rolsuper OR rolbypassrls)) THEN
    RAISE EXCEPTION 'lean_writer is a superuser or has BYPASSRLS, so row-level security would not bind it';
  END IF;
END
$$;

-- lean.app unset reads NULL; after a transaction that set it ended, the same
-- connection reads ''. NULLIF makes both match no row, the '' rows above included.
ALTER TABLE request_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY request_logs_own_app ON request_logs TO lean_writer
  USING (app = NULLIF(current_setting('lean.app', true), ''))
  WITH CHECK (app = NULLIF(current_setting('lean.app', true), ''));

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY outbox_own_app ON outbox TO lean_writer
  USING (app = NULLIF(current_setting('lean.app', true), ''))
  WITH CHECK (app = NULLIF(current_setting('lean.app', true), ''));

ALTER TABLE mail_sends ENABLE ROW LEVEL SECURITY;
CREATE POLICY mail_sends_own_app ON mail_sends TO lean_writer
  USING (app = NULLIF(current_setting('lean.app', true), ''))
  WITH CHECK (app = NULLIF(current_setting('lean.app', true), ''));
