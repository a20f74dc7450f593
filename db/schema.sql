-- =============================================================================
-- Unified Athlete Platform: schema reference (v1.3)
-- =============================================================================
--
-- The schema produced by applying db/migrations/001 … 004 in order, written
-- out as one script so it can be read top to bottom. The migrations remain the
-- source of truth; this file must be updated in the same change as any new
-- migration, and is checked against them (the two must dump identically).
--
-- Not included: schema_migrations and schema_migration_events, which belong to
-- the migration runner (uap_migrate) and are created by it.
--
-- Conventions:
--   * Primary keys are application-generated text ids (VARCHAR(255)), except
--     audit_logs, which is an append-only log with a BIGSERIAL id.
--   * Every foreign key states ON DELETE: CASCADE when the row is meaningless
--     without its parent, SET NULL when it should outlive it.
--   * Every foreign key column used in lookups is covered by an index.
--   * Timestamps are TIMESTAMP (without time zone) holding UTC.
--
-- Running it: psql -v ON_ERROR_STOP=1 -1 -f db/schema.sql <database>
-- Every statement is guarded with IF NOT EXISTS, so a second run is a no-op.
-- =============================================================================


-- -----------------------------------------------------------------------------
-- users (001; notification_preferences and theme_preference added by 003)
-- Every person on the platform. role decides what they can do: athletes log
-- training and goals, coaches lead teams, admins manage the platform.
-- email is the login name and is unique.
-- The two preference columns come last because 003 appended them.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS users (
    id                        VARCHAR(255) PRIMARY KEY,
    email                     VARCHAR(255) NOT NULL UNIQUE,
    display_name              VARCHAR(255) NOT NULL,
    role                      VARCHAR(20)  NOT NULL DEFAULT 'athlete'
                              CHECK (role IN ('athlete', 'coach', 'admin')),
    date_of_birth             DATE,
    is_active                 BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at                TIMESTAMP    DEFAULT CURRENT_TIMESTAMP,
    updated_at                TIMESTAMP    DEFAULT CURRENT_TIMESTAMP,
    -- 003: which channels may notify the user
    notification_preferences  JSONB        DEFAULT '{"email": true, "push": true}',
    -- 003: UI theme
    theme_preference          VARCHAR(20)  DEFAULT 'light'
                              CHECK (theme_preference IN ('light', 'dark', 'auto'))
);

CREATE INDEX IF NOT EXISTS idx_users_theme ON users (theme_preference);             -- 003


-- -----------------------------------------------------------------------------
-- teams (001)
-- A squad in one sport. head_coach_id is optional and is cleared (SET NULL)
-- when the coach's account is deleted, so the team survives.
-- -----------------------------------------------------------------------------
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


-- -----------------------------------------------------------------------------
-- team_memberships (001)
-- Roster: which user belongs to which team, and in what capacity. One row per
-- (team, user); removed with either the team or the user. The primary key
-- already serves lookups by team_id, so only user_id has its own index.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS team_memberships (
    team_id         VARCHAR(255) NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id         VARCHAR(255) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            VARCHAR(20)  NOT NULL DEFAULT 'athlete'
                    CHECK (role IN ('athlete', 'captain', 'coach', 'staff')),
    joined_at       TIMESTAMP    DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (team_id, user_id)
);

CREATE INDEX IF NOT EXISTS idx_team_memberships_user ON team_memberships (user_id);


-- -----------------------------------------------------------------------------
-- training_sessions (001)
-- One workout logged by an athlete. Deleted with the athlete; if it was a
-- team session and the team is deleted, the session stays with team_id NULL.
-- intensity is a 1–10 perceived-effort score.
-- -----------------------------------------------------------------------------
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

-- (athlete_id, started_at DESC) serves "my recent sessions" as well as plain athlete lookups.
CREATE INDEX IF NOT EXISTS idx_training_sessions_athlete ON training_sessions (athlete_id, started_at DESC);
CREATE INDEX IF NOT EXISTS idx_training_sessions_team ON training_sessions (team_id);


-- -----------------------------------------------------------------------------
-- performance_metrics (001)
-- A single measurement (e.g. 40 m sprint in s, squat 1RM in kg). Deleted with
-- the athlete; kept with session_id NULL if its session is deleted.
-- -----------------------------------------------------------------------------
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

-- Serves per-athlete, per-metric time series.
CREATE INDEX IF NOT EXISTS idx_performance_metrics_athlete ON performance_metrics (athlete_id, metric_name, recorded_at);
CREATE INDEX IF NOT EXISTS idx_performance_metrics_session ON performance_metrics (session_id);


-- -----------------------------------------------------------------------------
-- audit_logs (002)
-- Application-level audit trail: who (actor_id) did what (action) to which
-- entity (entity_type, entity_id), with free-form details. actor_id is set to
-- NULL, not cascaded, when the actor's account is deleted, so history stays.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS audit_logs (
    id              BIGSERIAL    PRIMARY KEY,
    actor_id        VARCHAR(255) REFERENCES users (id) ON DELETE SET NULL,
    action          VARCHAR(100) NOT NULL,
    entity_type     VARCHAR(100) NOT NULL,
    entity_id       VARCHAR(255),
    details         JSONB        NOT NULL DEFAULT '{}'::jsonb,
    ip_address      INET,
    created_at      TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_audit_logs_actor ON audit_logs (actor_id);
CREATE INDEX IF NOT EXISTS idx_audit_logs_entity ON audit_logs (entity_type, entity_id);
CREATE INDEX IF NOT EXISTS idx_audit_logs_created_at ON audit_logs (created_at);


-- -----------------------------------------------------------------------------
-- goals (004)
-- Training objectives an athlete sets: personal, team or competition goals,
-- with a target date, a lifecycle status and progress from 0 to 100 %.
-- Deleted with the athlete.
-- -----------------------------------------------------------------------------
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
