-- Migration: bump the counter
-- Version: 001
-- Date: 2026-01-01
-- Description: a statement a dry run cannot take back
-- Status: LIVE
--
-- Impact: Non-breaking
-- Rollback: SELECT 1;
--

SELECT setval('counter', 42);
