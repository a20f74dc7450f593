-- Migration: Lint fixture
-- Version: 001
-- Date: 2026-01-01
-- Description: fixture for one lint rule
-- Status: TESTING
--
-- Impact: Breaking (p loses p_2020)
-- Rollback: SELECT 1;
--

ALTER TABLE p DETACH PARTITION p_2020;
