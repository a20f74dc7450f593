-- Migration: Lint fixture
-- Version: 001
-- Date: 2026-01-01
-- Description: fixture for one lint rule
-- Status: TESTING
-- Retired:
--
-- Impact: Non-breaking (t)
-- Rollback: DROP TABLE IF EXISTS t;
--

CREATE TABLE t (id int PRIMARY KEY);
