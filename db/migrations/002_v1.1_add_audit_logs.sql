-- Migration: Add audit logs
-- Version: 002
-- Date: 2026-02-08
-- Description: Append-only record of who did what to which entity, kept even after the actor's account is deleted
-- Status: LIVE
--
-- Changes:
-- 1. Create audit_logs with a bigserial id and a nullable actor reference to users
-- 2. Index actor, entity and time for the usual audit lookups
--
-- Impact: Non-breaking (audit_logs)
-- Rollback: DROP TABLE IF EXISTS audit_logs;
--

-- actor_id is cleared rather than cascaded so that deleting a user never erases history.
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

-- Schema v1.0 → v1.1: +1 table (audit_logs), 3 indexes
