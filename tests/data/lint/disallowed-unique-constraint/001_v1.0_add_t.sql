-- Migration: Lint fixture
-- Version: 001
-- Date: 2026-01-01
-- Description: fixture for one lint rule
-- Status: TESTING
--
-- Impact: Non-breaking (t)
-- Rollback: SELECT 1;
--

ALTER TABLE t ADD CONSTRAINT t_code UNIQUE (code);
