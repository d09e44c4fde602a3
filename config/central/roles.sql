-- nolink [central]: the three roles of the central record (README, "Several relays").
-- Run as the database owner AFTER `nolink central migrate` (and again after a migration that adds
-- tables): psql -v ON_ERROR_STOP=1 -d nolink -f roles.sql
-- Then give each login its role, e.g.
--   CREATE ROLE relay1 LOGIN PASSWORD '...' IN ROLE nolink_relay;       -- one per relay
--   CREATE ROLE somchai LOGIN PASSWORD '...' IN ROLE nolink_reviewer;   -- may release and delete
--   CREATE ROLE audit LOGIN PASSWORD '...' IN ROLE nolink_reader;       -- nolink report only
-- The owner (who runs `nolink central migrate` and owns the tables and partitions) is none of these.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nolink_relay') THEN CREATE ROLE nolink_relay NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nolink_reviewer') THEN CREATE ROLE nolink_reviewer NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nolink_reader') THEN CREATE ROLE nolink_reader NOLOGIN; END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO nolink_relay, nolink_reviewer, nolink_reader;
GRANT SELECT ON nolink_schema, summary_settings TO nolink_relay, nolink_reviewer, nolink_reader;

-- relay: ship its decisions and counts, keep its mark, publish its hold queue, answer its requests
-- (decision_days, the report's daily summary, is kept by a SECURITY DEFINER trigger on decisions:
-- no role writes it directly)
GRANT SELECT, INSERT ON decisions TO nolink_relay;
GRANT SELECT, INSERT ON events TO nolink_relay;
GRANT SELECT, INSERT, UPDATE ON out_of_scope TO nolink_relay;
GRANT SELECT, INSERT, UPDATE ON relays TO nolink_relay;
GRANT SELECT, INSERT, UPDATE, DELETE ON held TO nolink_relay;
GRANT SELECT, UPDATE (status, result, done_by, done_at) ON requests TO nolink_relay;

-- reviewer: read everything, ask for a release or a delete (the holding relay executes it)
GRANT SELECT ON decisions, decision_days, events, out_of_scope, relays, held, requests TO nolink_reviewer;
GRANT INSERT (relay_id, queue_id, ref, action, reason, requested_by, requested_at) ON requests TO nolink_reviewer;
GRANT USAGE ON SEQUENCE requests_id_seq TO nolink_reviewer;

-- reader: the report and lookups only (requests: the released/deleted counts)
GRANT SELECT ON decisions, decision_days, events, out_of_scope, relays, held, requests TO nolink_reader;

-- Optional, when each relay logs in under its relay_id as its user name: a relay sees and answers
-- only its own requests and replaces only its own hold-queue rows.
-- ALTER TABLE requests ENABLE ROW LEVEL SECURITY;
-- CREATE POLICY relay_own ON requests TO nolink_relay USING (relay_id = session_user);
-- CREATE POLICY others_all ON requests TO nolink_reviewer, nolink_reader USING (true) WITH CHECK (true);
-- ALTER TABLE held ENABLE ROW LEVEL SECURITY;
-- CREATE POLICY relay_own ON held TO nolink_relay USING (relay_id = session_user);
-- CREATE POLICY others_read ON held FOR SELECT TO nolink_reviewer, nolink_reader USING (true);
