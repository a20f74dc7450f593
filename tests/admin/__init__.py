"""Tests of schema_audit.admin."""
