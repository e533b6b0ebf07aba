-- Idempotent writes: a change and the response it produced commit together,
-- so a write repeated with the same key (a client's retry, or the server's own
-- after a lost COMMIT acknowledgement during a failover) returns the first
-- response and changes nothing twice. Keys are per user; rows expire after a day.
CREATE TABLE idempotency_keys (
  owner_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key text NOT NULL,
  -- A hash of method, path and body: the same key with another request is refused.
  fingerprint text NOT NULL,
  status_code integer,
  headers text,
  body text,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (owner_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
