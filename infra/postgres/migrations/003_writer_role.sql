-- The role the services write with (the wasm driver's capability hosts and
-- the Node twins): rows in and updated, nothing dropped, truncated or read
-- beyond these tables, and only the rows of the app its transaction names
-- (004_rows_per_app.sql). It is created without a login here; the cloud gives it
-- one, with its own password, after migrating (infra/cloud/agents/postgres.ts).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lean_writer') THEN
    CREATE ROLE lean_writer NOLOGIN;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO lean_writer', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO lean_writer;
-- SELECT only so that UPDATE ... WHERE and INSERT ... RETURNING can find rows.
GRANT SELECT, INSERT, UPDATE ON request_logs, outbox TO lean_writer;
-- A send that fails before SMTP accepted it removes its own 'sending' claim.
GRANT SELECT, INSERT, UPDATE, DELETE ON mail_sends TO lean_writer;
