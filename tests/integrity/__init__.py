"""Tests of schema_audit.integrity."""
