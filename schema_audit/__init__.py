"""schema_audit: versioned raw-SQL migrations for PostgreSQL with an audit trail."""

__version__ = "1.0.0"
