-- Throttling counters for log-in, current-password checks and sign-up, in
-- fixed windows, shared by every replica. A route adds its attempt and reads
-- the count back in one statement before it hashes anything, so the limit
-- holds under a burst and across replicas. Keys name what is counted
-- (e.g. 'login:pair:<account>|<address>', 'signup:addr:<address>').
-- login_failures (0002) is no longer written; it stays for the pods of the
-- previous release during a rolling update.
CREATE TABLE rate_limits (
  key text PRIMARY KEY,
  hits integer NOT NULL,
  window_ends_at timestamptz(3) NOT NULL
);
CREATE INDEX rate_limits_window_end ON rate_limits (window_ends_at);

-- One-time setup codes: while no admin exists, each starting server makes one,
-- prints it on its own terminal, and keeps only its keyed hash here, so a
-- sign-up through any replica can redeem it. Redeeming one, or any admin
-- being created, deletes them all.
CREATE TABLE setup_codes (
  code_hash text PRIMARY KEY,
  created_at timestamptz(3) NOT NULL DEFAULT now()
);
