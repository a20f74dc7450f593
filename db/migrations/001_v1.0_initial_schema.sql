-- Migration: Initial athlete platform schema
-- Version: 001
-- Date: 2026-01-12
-- Description: Baseline tables for accounts, teams, team rosters, training sessions and measured performance
-- Status: LIVE
--
-- Changes:
-- 1. Create users (athletes, coaches, admins) with a unique email and a role check
-- 2. Create teams, optionally led by a head coach
-- 3. Create team_memberships linking users to teams with a roster role
-- 4. Create training_sessions logged per athlete, optionally under a team
-- 5. Create performance_metrics holding measurements per athlete and session
-- 6. Index every foreign key column used for lookups
--
-- Impact: Non-breaking (users, teams, team_memberships, training_sessions, performance_metrics)
-- Rollback: DROP TABLE IF EXISTS performance_metrics;
-- DROP TABLE IF EXISTS training_sessions;
-- DROP TABLE IF EXISTS team_memberships;
-- DROP TABLE IF EXISTS teams;
-- DROP TABLE IF EXISTS users;
--

-- Accounts. Ids are application-generated text ids, so every reference is VARCHAR(255).
CREATE TABLE IF NOT EXISTS users (
    id              VARCHAR(255) PRIMARY KEY,
    email           VARCHAR(255) NOT NULL UNIQUE,
    display_name    VARCHAR(255) NOT NULL,
    role            VARCHAR(20)  NOT NULL DEFAULT 'athlete'
                    CHECK (role IN ('athlete', 'coach', 'admin')),
    date_of_birth   DATE,
    is_active       BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMP    DEFAULT CURRENT_TIMESTAMP,
    updated_at      TIMESTAMP    DEFAULT CURRENT_TIMESTAMP
);

-- A team survives the departure of its head coach: the reference is cleared, not cascaded.
CREATE TABLE IF NOT EXISTS teams (
    id              VARCHAR(255) PRIMARY KEY,
    name            VARCHAR(255) NOT NULL,
    sport           VARCHAR(100) NOT NULL,
    description     TEXT,
    head_coach_id   VARCHAR(255) REFERENCES users (id) ON DELETE SET NULL,
    created_at      TIMESTAMP    DEFAULT CURRENT_TIMESTAMP,
    updated_at      TIMESTAMP    DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_teams_head_coach ON teams (head_coach_id);

-- Roster rows disappear with either side. The primary key leads with team_id,
-- so only the user_id side needs its own index.
CREATE TABLE IF NOT EXISTS team_memberships (
    team_id         VARCHAR(255) NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id         VARCHAR(255) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            VARCHAR(20)  NOT NULL DEFAULT 'athlete'
                    CHECK (role IN ('athlete', 'captain', 'coach', 'staff')),
    joined_at       TIMESTAMP    DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (team_id, user_id)
);

CREATE INDEX IF NOT EXISTS idx_team_memberships_user ON team_memberships (user_id);

-- Sessions belong to the athlete; a session logged under a team outlives the team.
CREATE TABLE IF NOT EXISTS training_sessions (
    id                VARCHAR(255) PRIMARY KEY,
    athlete_id        VARCHAR(255) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team_id           VARCHAR(255) REFERENCES teams (id) ON DELETE SET NULL,
    session_type      VARCHAR(50)  NOT NULL
                      CHECK (session_type IN ('strength', 'endurance', 'skills', 'recovery', 'competition')),
    started_at        TIMESTAMP    NOT NULL,
    duration_minutes  INTEGER      NOT NULL CHECK (duration_minutes > 0),
    intensity         SMALLINT     CHECK (intensity BETWEEN 1 AND 10),
    notes             TEXT,
    created_at        TIMESTAMP    DEFAULT CURRENT_TIMESTAMP,
    updated_at        TIMESTAMP    DEFAULT CURRENT_TIMESTAMP
);

-- An athlete's history is read newest first.
CREATE INDEX IF NOT EXISTS idx_training_sessions_athlete ON training_sessions (athlete_id, started_at DESC);
CREATE INDEX IF NOT EXISTS idx_training_sessions_team ON training_sessions (team_id);

-- One measurement (sprint time, max heart rate, ...) per row; a metric may be taken outside a session.
CREATE TABLE IF NOT EXISTS performance_metrics (
    id              VARCHAR(255)   PRIMARY KEY,
    athlete_id      VARCHAR(255)   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      VARCHAR(255)   REFERENCES training_sessions (id) ON DELETE SET NULL,
    metric_name     VARCHAR(100)   NOT NULL,
    value           NUMERIC(12, 3) NOT NULL,
    unit            VARCHAR(20),
    recorded_at     TIMESTAMP      NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_at      TIMESTAMP      DEFAULT CURRENT_TIMESTAMP
);

-- Serves "this athlete's <metric> over time" charts.
CREATE INDEX IF NOT EXISTS idx_performance_metrics_athlete ON performance_metrics (athlete_id, metric_name, recorded_at);
CREATE INDEX IF NOT EXISTS idx_performance_metrics_session ON performance_metrics (session_id);

-- Schema (empty) → v1.0: +5 tables (users, teams, team_memberships, training_sessions, performance_metrics), 6 indexes
