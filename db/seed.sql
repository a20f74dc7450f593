-- =============================================================================
-- Unified Athlete Platform: sample data
-- =============================================================================
--
-- Development and demo data for the v1.3 schema (run after migrations 001–004).
-- Safe to run any number of times: every insert uses fixed ids and
-- ON CONFLICT DO NOTHING, so a second run adds nothing and changes nothing.
-- Rows already present are left as they are (edits made through the app survive).
--
-- Meant to run inside a single transaction, e.g.:
--   psql -v ON_ERROR_STOP=1 -1 -f db/seed.sql <database>
--
-- All timestamps are fixed literals so that the data set is reproducible.
-- =============================================================================


-- Users: one admin, two coaches, four athletes, with a mix of preferences.
INSERT INTO users (id, email, display_name, role, date_of_birth, is_active,
                   created_at, updated_at, notification_preferences, theme_preference)
VALUES
    ('usr_admin_01',   'ops@uap.example',           'Platform Ops',    'admin',   NULL,         TRUE,
     '2026-01-12 09:00:00', '2026-01-12 09:00:00', '{"email": true, "push": false}', 'dark'),
    ('usr_coach_01',   'maria.lopez@uap.example',   'Maria Lopez',     'coach',   '1984-06-02', TRUE,
     '2026-01-13 08:30:00', '2026-03-16 10:00:00', '{"email": true, "push": true}',  'light'),
    ('usr_coach_02',   'tom.becker@uap.example',    'Tom Becker',      'coach',   '1979-11-21', TRUE,
     '2026-01-13 08:45:00', '2026-01-13 08:45:00', '{"email": true, "push": true}',  'auto'),
    ('usr_athlete_01', 'amara.okafor@uap.example',  'Amara Okafor',    'athlete', '2003-03-14', TRUE,
     '2026-01-15 17:20:00', '2026-03-20 07:05:00', '{"email": false, "push": true}', 'dark'),
    ('usr_athlete_02', 'liam.chen@uap.example',     'Liam Chen',       'athlete', '2001-09-30', TRUE,
     '2026-01-15 17:40:00', '2026-01-15 17:40:00', '{"email": true, "push": true}',  'light'),
    ('usr_athlete_03', 'sofia.rossi@uap.example',   'Sofia Rossi',     'athlete', '2004-12-08', TRUE,
     '2026-01-16 12:10:00', '2026-03-18 19:45:00', '{"email": true, "push": false}', 'auto'),
    ('usr_athlete_04', 'jonas.berg@uap.example',    'Jonas Berg',      'athlete', '1999-07-19', FALSE,
     '2026-01-18 09:00:00', '2026-02-27 11:30:00', '{"email": false, "push": false}', 'light')
ON CONFLICT DO NOTHING;


-- Teams: one per coach.
INSERT INTO teams (id, name, sport, description, head_coach_id, created_at, updated_at)
VALUES
    ('team_sprint', 'Riverside Sprint Squad', 'athletics',
     '100 m to 400 m sprinters, track sessions Tue/Thu/Sat.', 'usr_coach_01',
     '2026-01-14 10:00:00', '2026-01-14 10:00:00'),
    ('team_rowing', 'Harbour Rowing Club', 'rowing',
     'Senior eights and coxless fours.', 'usr_coach_02',
     '2026-01-14 11:00:00', '2026-01-14 11:00:00')
ON CONFLICT DO NOTHING;


-- Rosters: coaches are members of their own team; Sofia trains with both.
INSERT INTO team_memberships (team_id, user_id, role, joined_at)
VALUES
    ('team_sprint', 'usr_coach_01',   'coach',   '2026-01-14 10:00:00'),
    ('team_sprint', 'usr_athlete_01', 'captain', '2026-01-16 18:00:00'),
    ('team_sprint', 'usr_athlete_03', 'athlete', '2026-01-17 09:30:00'),
    ('team_rowing', 'usr_coach_02',   'coach',   '2026-01-14 11:00:00'),
    ('team_rowing', 'usr_athlete_02', 'athlete', '2026-01-16 07:15:00'),
    ('team_rowing', 'usr_athlete_03', 'athlete', '2026-02-01 07:15:00'),
    ('team_rowing', 'usr_athlete_04', 'athlete', '2026-01-19 08:00:00')
ON CONFLICT DO NOTHING;


-- Training sessions: team sessions and solo sessions (team_id NULL).
INSERT INTO training_sessions (id, athlete_id, team_id, session_type, started_at,
                               duration_minutes, intensity, notes, created_at, updated_at)
VALUES
    ('ses_0001', 'usr_athlete_01', 'team_sprint', 'skills',      '2026-03-03 17:00:00', 75, 7,
     'Block starts, 6 x 30 m from blocks.', '2026-03-03 18:20:00', '2026-03-03 18:20:00'),
    ('ses_0002', 'usr_athlete_01', NULL,          'strength',    '2026-03-04 07:00:00', 60, 8,
     'Back squat 5 x 5, power cleans.',     '2026-03-04 08:05:00', '2026-03-04 08:05:00'),
    ('ses_0003', 'usr_athlete_01', 'team_sprint', 'competition', '2026-03-14 13:00:00', 45, 10,
     'Indoor 200 m final.',                 '2026-03-14 14:00:00', '2026-03-14 14:00:00'),
    ('ses_0004', 'usr_athlete_02', 'team_rowing', 'endurance',   '2026-03-05 06:00:00', 90, 6,
     '3 x 20 min steady state on the water.', '2026-03-05 07:40:00', '2026-03-05 07:40:00'),
    ('ses_0005', 'usr_athlete_02', NULL,          'recovery',    '2026-03-06 18:00:00', 30, 2,
     'Mobility and foam rolling.',          '2026-03-06 18:35:00', '2026-03-06 18:35:00'),
    ('ses_0006', 'usr_athlete_03', 'team_sprint', 'skills',      '2026-03-03 17:00:00', 75, 6,
     NULL,                                  '2026-03-03 18:25:00', '2026-03-03 18:25:00'),
    ('ses_0007', 'usr_athlete_03', 'team_rowing', 'endurance',   '2026-03-07 06:30:00', 60, 5,
     'Erg 2 x 5000 m.',                     '2026-03-07 07:35:00', '2026-03-07 07:35:00')
ON CONFLICT DO NOTHING;


-- Performance metrics: some tied to a session, one standalone test.
INSERT INTO performance_metrics (id, athlete_id, session_id, metric_name, value, unit,
                                 recorded_at, created_at)
VALUES
    ('met_0001', 'usr_athlete_01', 'ses_0001', 'sprint_30m',     4.120,   's',   '2026-03-03 17:40:00', '2026-03-03 18:20:00'),
    ('met_0002', 'usr_athlete_01', 'ses_0002', 'back_squat_5rm', 105.000, 'kg',  '2026-03-04 07:30:00', '2026-03-04 08:05:00'),
    ('met_0003', 'usr_athlete_01', 'ses_0003', 'sprint_200m',    23.870,  's',   '2026-03-14 13:25:00', '2026-03-14 14:00:00'),
    ('met_0004', 'usr_athlete_02', 'ses_0004', 'avg_heart_rate', 148.000, 'bpm', '2026-03-05 07:30:00', '2026-03-05 07:40:00'),
    ('met_0005', 'usr_athlete_03', 'ses_0007', 'erg_5000m',      1185.400, 's',  '2026-03-07 07:20:00', '2026-03-07 07:35:00'),
    ('met_0006', 'usr_athlete_03', NULL,       'vertical_jump',  52.500,  'cm',  '2026-03-10 10:00:00', '2026-03-10 10:00:00')
ON CONFLICT DO NOTHING;


-- Goals: every goal_type and every status is represented.
INSERT INTO goals (id, athlete_id, title, description, goal_type, target_date, status,
                   progress_percentage, created_at, updated_at)
VALUES
    ('goal_0001', 'usr_athlete_01', 'Break 23.5 s in the 200 m', 'Outdoor season opener.',
     'competition', '2026-06-20', 'active',    60, '2026-04-01 12:00:00', '2026-04-01 12:00:00'),
    ('goal_0002', 'usr_athlete_01', 'Back squat 120 kg for 5',   NULL,
     'personal',    '2026-05-31', 'active',    35, '2026-04-01 12:05:00', '2026-04-01 12:05:00'),
    ('goal_0003', 'usr_athlete_02', 'Make the first eight',      'Selection trials in May.',
     'team',        '2026-05-15', 'active',    50, '2026-04-02 06:00:00', '2026-04-02 06:00:00'),
    ('goal_0004', 'usr_athlete_03', 'Sub-20 minute erg 5k',      NULL,
     'personal',    '2026-03-31', 'completed', 100, '2026-04-02 19:00:00', '2026-04-02 19:00:00'),
    ('goal_0005', 'usr_athlete_04', 'Return from injury by March', 'Shelved after a second scan.',
     'personal',    '2026-03-01', 'abandoned', 20, '2026-04-03 09:00:00', '2026-04-03 09:00:00')
ON CONFLICT DO NOTHING;


-- Audit log: explicit ids keep re-runs from inserting duplicates.
INSERT INTO audit_logs (id, actor_id, action, entity_type, entity_id, details, ip_address, created_at)
VALUES
    (1, 'usr_admin_01',   'user.create',       'user',             'usr_coach_01',
     '{"role": "coach"}',                                         '10.0.0.5',    '2026-01-13 08:30:00'),
    (2, 'usr_coach_01',   'team.create',       'team',             'team_sprint',
     '{"name": "Riverside Sprint Squad"}',                        '192.0.2.17',  '2026-01-14 10:00:00'),
    (3, 'usr_coach_01',   'membership.add',    'team_membership',  'team_sprint:usr_athlete_01',
     '{"role": "captain"}',                                       '192.0.2.17',  '2026-01-16 18:00:00'),
    (4, 'usr_athlete_01', 'session.log',       'training_session', 'ses_0003',
     '{"session_type": "competition", "duration_minutes": 45}',   '198.51.100.4', '2026-03-14 14:00:00'),
    (5, 'usr_admin_01',   'user.deactivate',   'user',             'usr_athlete_04',
     '{"reason": "requested by athlete"}',                        '10.0.0.5',    '2026-02-27 11:30:00'),
    (6, NULL,             'auth.login_failed', 'user',             NULL,
     '{"email": "unknown@uap.example"}',                          '203.0.113.9', '2026-03-01 02:14:00'),
    (7, 'usr_athlete_03', 'goal.complete',     'goal',             'goal_0004',
     '{"progress_percentage": 100}',                              '198.51.100.8', '2026-04-02 19:00:00')
ON CONFLICT (id) DO NOTHING;

-- Move the id sequence past the explicit ids so the application's next insert does not collide.
SELECT setval(pg_get_serial_sequence('audit_logs', 'id'), COALESCE(MAX(id), 0) + 1, false)
FROM audit_logs;
