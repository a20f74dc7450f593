"""The writing guide shipped with the package: `manage.py uap_makemigration --help` ends with
it, so a host project has it without this repository's docs (docs/how-to/writing-migrations.md
is the long form)."""

from __future__ import annotations

GUIDE = """\
Writing a migration file
  Name: NNN_vX.Y_description.sql (digits 0-9; lower-case words joined by _), e.g.
  005_v1.4_add_report_index.sql. The header is the leading block of `-- Key: value` lines:

  -- Migration:    a title
  -- Version:      NNN, the same number as the file name
  -- Date:         when it was written
  -- Author:       who wrote it (a Django username or e-mail); may not approve it
  -- Description:  what it does and why
  -- Status / Changes / Impact:  free text (Impact: breaking ... makes lint stricter)
  -- Rollback:     the SQL that undoes the file (continuation lines extend it); run by
                   --rollback and --rollback-to; lint refuses TODO/FIXME placeholders
  -- Transaction:  none, for statements PostgreSQL refuses in a transaction block
                   (CREATE INDEX CONCURRENTLY, VACUUM); each statement then commits alone
  -- Depends:      app_label.migration_name[, ...]: Django migrations applied first
  -- Lock-Retries: N, at most N more attempts after a lock timeout (0: run once)
  -- Lint-Ignore:  rule names lint skips for this file
  -- Ticket:       the change ticket (--ticket and UAP_CHANGE_TICKET win)
  -- Retired:      why the file never runs (rolled back in production): where it is
                   pending it is recorded rolled_back unrun; not part of the checksum

Rules the runner holds
  - One transaction per file (unless Transaction: none); no BEGIN/COMMIT in the file.
  - Never edit an applied file: the checksum catches it (drift); write a new file instead.
  - Prefer IF NOT EXISTS, named constraints, an index for each new foreign key column, and
    NOT VALID then VALIDATE for constraints on big tables: `uap_migrate --lint` checks these.
  - No psql meta-commands (\\set, \\i): the file is SQL only.
  - A file with a header and no statements applies as a recorded no-op (a placeholder).

Check before a deploy: uap_migrate --lint (no database), --plan, --dry-run, --trace, --show NNN.
"""
