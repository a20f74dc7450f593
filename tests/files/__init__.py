"""Tests of schema_audit.files."""
