"""Tests of schema_audit.cli."""
