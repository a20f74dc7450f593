"""schema_audit: versioned raw-SQL migrations for PostgreSQL with an audit trail."""
