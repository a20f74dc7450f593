-- Migration: Add user preferences
-- Version: 003
-- Date: 2026-03-15
-- Description: Let each user choose notification channels and a UI theme
-- Status: LIVE
--
-- Changes:
-- 1. Add users.notification_preferences (JSONB, email and push on by default)
-- 2. Add users.theme_preference (light, dark or auto; light by default)
-- 3. Index theme_preference
--
-- Impact: Non-breaking (users: two new columns with defaults)
-- Rollback: DROP INDEX IF EXISTS idx_users_theme;
-- ALTER TABLE users DROP COLUMN IF EXISTS notification_preferences, DROP COLUMN IF EXISTS theme_preference;
--

-- Both columns carry constant defaults, so adding them does not rewrite the table.
ALTER TABLE users
    ADD COLUMN IF NOT EXISTS notification_preferences JSONB DEFAULT '{"email": true, "push": true}';

ALTER TABLE users
    ADD COLUMN IF NOT EXISTS theme_preference VARCHAR(20) DEFAULT 'light'
        CHECK (theme_preference IN ('light', 'dark', 'auto'));

CREATE INDEX IF NOT EXISTS idx_users_theme ON users (theme_preference);

-- Schema v1.1 → v1.2: +2 columns on users, 1 index
