-- Migration: Lint fixture
-- Version: 001
-- Date: 2026-01-01
-- Description: fixture for one lint rule
-- Status: TESTING
--
-- Lint-ignore: column-without-index
-- Impact: Non-breaking (t)
-- Rollback: SELECT 1;
--

ALTER TABLE t ADD COLUMN IF NOT EXISTS token uuid DEFAULT gen_random_uuid();
