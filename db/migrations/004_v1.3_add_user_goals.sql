-- Migration: Add user goals
-- Version: 004
-- Date: 2026-04-01
-- Description: Goals table so athletes can set training objectives and track progress toward them
-- Status: LIVE
--
-- Changes:
-- 1. Create goals, owned by an athlete (deleted with the athlete)
-- 2. Constrain goal_type, status and progress_percentage
-- 3. Index athlete, status and target date
--
-- Impact: Non-breaking (goals)
-- Rollback: DROP TABLE IF EXISTS goals CASCADE;
--

CREATE TABLE IF NOT EXISTS goals (
    id                   VARCHAR(255) PRIMARY KEY,
    athlete_id           VARCHAR(255) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title                VARCHAR(255) NOT NULL,
    description          TEXT,
    goal_type            VARCHAR(50)
                         CHECK (goal_type IN ('personal', 'team', 'competition')),
    target_date          DATE,
    status               VARCHAR(50)  DEFAULT 'active'
                         CHECK (status IN ('active', 'completed', 'abandoned')),
    progress_percentage  INTEGER      DEFAULT 0
                         CHECK (progress_percentage BETWEEN 0 AND 100),
    created_at           TIMESTAMP    DEFAULT CURRENT_TIMESTAMP,
    updated_at           TIMESTAMP    DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_goals_athlete ON goals (athlete_id);
CREATE INDEX IF NOT EXISTS idx_goals_status ON goals (status);
CREATE INDEX IF NOT EXISTS idx_goals_target_date ON goals (target_date);

-- Schema v1.2 → v1.3: +1 table (goals), 3 indexes
