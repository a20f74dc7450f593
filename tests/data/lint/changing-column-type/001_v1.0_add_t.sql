-- Migration: Lint fixture
-- Version: 001
-- Date: 2026-01-01
-- Description: fixture for one lint rule
-- Status: TESTING
--
-- Impact: Breaking (t.amount widens)
-- Rollback: SELECT 1;
--

ALTER TABLE t ALTER COLUMN amount TYPE bigint;
