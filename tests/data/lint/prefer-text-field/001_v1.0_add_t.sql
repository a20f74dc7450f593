-- Migration: Lint fixture
-- Version: 001
-- Date: 2026-01-01
-- Description: fixture for one lint rule
-- Status: TESTING
--
-- Impact: Non-breaking (new table)
-- Rollback: SELECT 1;
--

CREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY, code varchar(20));
