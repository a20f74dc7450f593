"""Tests of schema_audit.engine."""
