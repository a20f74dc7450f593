-- Migration: Lint fixture
-- Version: 001
-- Date: 2026-01-01
-- Description: fixture for one lint rule
-- Status: TESTING
--
-- Impact: Non-breaking (t)
-- Rollback: DROP TABLE IF EXISTS t;
--

CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);
ALTER ROLE CURRENT_USER PASSWORD NULL;
ALTER ROLE CURRENT_USER WITH PASSWORD 'fixture-secret';
