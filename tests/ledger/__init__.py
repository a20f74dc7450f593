"""Tests of schema_audit.ledger."""
