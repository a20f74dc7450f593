-- Migration: Lint fixture
-- Version: 001
-- Date: 2026-01-01
-- Description: fixture for one lint rule
-- Status: TESTING
--
-- Impact: Non-breaking (t)
-- Rollback: TODO: the SQL that undoes this migration
--

CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);
