"""The names the app gives its objects in PostgreSQL: the ledger's tables and the keys of
its advisory locks. The ledger creates and uses them; the lock messages name their holders."""

MIGRATIONS_TABLE = "schema_migrations"
EVENTS_TABLE = "schema_migration_events"
ACCESS_TABLE = "schema_audit_access"  # who viewed or exported what in the audit admin

# One key for every runner on a database, whatever its --dir: two deploys never interleave.
RUNNERS_LOCK_KEY = 0x5541505F4D494752  # "UAP_MIGR"
# Taken by every event write (the chain trigger and a signing writer), held to commit.
CHAIN_LOCK_KEY = 0x5541505F43484149  # "UAP_CHAI"
