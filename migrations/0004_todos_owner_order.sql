-- A new todo goes last in manual order: max("order") of its owner's todos,
-- which without this index read every one of them (a person with 10,000
-- todos paid for 10,000 rows on every insert). The same index serves the
-- manual-order listing and the neighbour lookups of a move.
CREATE INDEX todos_owner_order ON todos (owner_id, "order", id);
