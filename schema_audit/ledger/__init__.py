"""The ledger: the tracking tables, the only SQL on them, the hash chain and provenance."""
