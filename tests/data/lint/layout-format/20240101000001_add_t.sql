-- migrate:up
CREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY);

-- migrate:up
ALTER TABLE t ADD COLUMN note text;

-- migrate:down
DROP TABLE t;
