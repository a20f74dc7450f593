-- Migration: Lint fixture
-- Version: 001
-- Date: 2026-01-01
-- Description: fixture for one lint rule
-- Status: TESTING
-- Depends: auth.0001_initial, shop
--
-- Impact: Non-breaking (t)
-- Rollback: DROP TABLE IF EXISTS t;
--

CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY);
