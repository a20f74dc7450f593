"""ApplySQL: a Django migration operation that applies the SQL files up to a version.

`manage.py migrate` reaches it at its place in Django's plan and applies every pending file up
to and including that version through `schema_audit.api.run_pending`, exactly as
`uap_migrate --target` would: the runners' lock, one transaction per file (statement by
statement for `-- Transaction: none`), approvals, the ledger and its events. Each event's
`reason` names the Django migration, e.g. `Django migration shop.0002_reports`.

The runner works on connections of its own, which cannot see what Django's connection has not
committed, and commits each file itself: a migration holding ApplySQL declares
`atomic = False` (the operation refuses an atomic one). Reversing is refused by Django
(IrreversibleError) unless the operation says `reversible=True`; then it rolls back, newest
first and through the same path as `uap_migrate --rollback`, the versions this migration
applied (docs/how-to/django-migrations.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.db import router
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation

from schema_audit import api
from schema_audit.exceptions import (
    InvalidConfiguration,
    MigrationFailed,
    RefusedRequest,
    raise_all,
)
from schema_audit.files import discovery, django_names
from schema_audit.ledger import provenance

__all__ = ["ApplySQL"]


class ApplySQL(Operation):
    """Apply the pending SQL files up to and including `version` during `migrate`.

    `reversible`: unapplying the migration rolls back the versions it applied (else Django
    raises IrreversibleError); `directory`: the SQL files' folder (else UAP_MIGRATIONS_DIR);
    `hints`: passed to the database routers' `allow_migrate`, as RunSQL's are.
    """

    reduces_to_sql = True
    atomic = False

    def __init__(
        self,
        version: str,
        *,
        reversible: bool = False,
        directory: str | Path | None = None,
        hints: dict | None = None,
    ):
        self.version = str(version)
        self.reversible = reversible
        self.directory = directory
        self.hints = hints or {}

    def state_forwards(self, app_label, state) -> None:
        """SQL files change no Django model state."""

    def describe(self) -> str:
        """One line for `migrate --plan` and `showmigrations`-like output."""
        return f"Apply the SQL files up to {self.version} (schema_audit)"

    @property
    def migration_name_fragment(self) -> str:
        return f"apply_sql_{self.version}"

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        """Apply the pending files up to `version` (their SQL, for `sqlmigrate`)."""
        alias = schema_editor.connection.alias
        if not router.allow_migrate(alias, app_label, **self.hints):
            return
        migration = self._migration_label(app_label)
        self._refuse_unusable(schema_editor, migration)
        files = self._files(migration)
        if schema_editor.collect_sql:
            pending = self._pending(files, alias)
            schema_editor.collected_sql.extend(forwards_sql(self.version, pending))
            return
        if any(m.depends for m in files):
            pending = self._pending(files, alias)
            self._refuse_unmet_depends(schema_editor.connection, pending, migration)
        with provenance.run_reason(reason_of(migration)):
            result = api.run_pending(self.directory, alias, target=self.version)
        if result["failed"]:
            messages = "; ".join(error.get("message", "") for error in result["errors"])
            raise MigrationFailed(
                f"{migration}: ApplySQL({self.version!r}) stopped at a failing SQL file "
                f"(rolled back and recorded as failed): {messages}"
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        """Roll back, newest first, the versions this migration applied (`reversible=True`)."""
        alias = schema_editor.connection.alias
        if not router.allow_migrate(alias, app_label, **self.hints):
            return
        migration = self._migration_label(app_label)
        self._refuse_unusable(schema_editor, migration)
        files = {m.version: m for m in self._files(migration)}
        versions = applied_by(schema_editor.connection, reason_of(migration), files)
        texts = {
            version: rollback_text(alias, files.get(version), version) for version in versions
        }
        if schema_editor.collect_sql:
            schema_editor.collected_sql.extend(backwards_sql(self.version, texts))
            return
        missing = [version for version, text in texts.items() if not text]
        if missing:
            raise RefusedRequest(
                f"{migration}: cannot reverse ApplySQL({self.version!r}): version(s) "
                f"{', '.join(missing)} have no Rollback SQL in their header; nothing was "
                "rolled back"
            )
        with provenance.run_reason(reason_of(migration)):
            for version in versions:
                api.rollback(version, self.directory, alias, reason=reason_of(migration))

    def _migration_label(self, app_label: str) -> str:
        """`app_label.migration_name` of the migration holding this operation."""
        name = owning_migration(self, app_label)
        return f"{app_label}.{name}" if name else app_label

    def _refuse_unusable(self, schema_editor, migration: str) -> None:
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            raise InvalidConfiguration(
                f"{migration}: ApplySQL({self.version!r}) needs PostgreSQL; database "
                f"{connection.alias!r} is {connection.vendor}"
            )
        # The runner commits each file on its own connection: inside Django's transaction it
        # could not see this migration's tables, and Django's rollback could not undo it.
        if schema_editor.atomic_migration or connection.in_atomic_block:
            raise RefusedRequest(
                f"{migration}: ApplySQL({self.version!r}) runs each SQL file in a transaction "
                "of its own on the runner's own connection, so it cannot run inside Django's "
                "transaction; set `atomic = False` on this Migration class (and run `migrate` "
                "outside transaction.atomic())"
            )

    def _files(self, migration: str) -> list[discovery.MigrationFile]:
        files = discovery.discover(api.migrations_dir(self.directory))
        if not any(m.version == self.version for m in files):
            raise RefusedRequest(
                f"{migration}: ApplySQL({self.version!r}): no SQL file with version "
                f"{self.version} in {api.migrations_dir(self.directory)}"
            )
        return files

    def _pending(self, files, alias: str) -> list[discovery.MigrationFile]:
        status = api.migration_status(self.directory, alias, target=self.version)
        wanted = {entry["version"] for entry in status["pending"]}
        return [m for m in files if m.version in wanted]

    def _refuse_unmet_depends(self, connection, pending, migration: str) -> None:
        """A file naming a Django migration this plan has not applied yet would wait forever."""
        named = [(m.path, m.header.lines.get("depends"), m.depends) for m in pending]
        loader = MigrationLoader(connection, ignore_no_migrations=True)
        raise_all(django_names.unknown_problems(named, loader))
        late = [
            f"{m.path.name} depends on {app}.{name}"
            for m in pending
            for app, name in m.depends
            if (app, name) not in loader.applied_migrations
        ]
        if late:
            raise RefusedRequest(
                f"{migration}: ApplySQL({self.version!r}) would apply files that depend on "
                f"Django migrations not applied before it: {'; '.join(late)}. Make {migration} "
                "depend on them, or apply those files from a later migration"
            )


def reason_of(migration: str) -> str:
    """The `reason` on the events of files a Django migration applies."""
    return f"Django migration {migration}"


def owning_migration(operation: Operation, app_label: str) -> str | None:
    """The name of `app_label`'s migration whose operations hold `operation` itself.

    Django hands an operation only the app label; the migration modules Django loaded share
    their operation objects with the Migration instances it runs.
    """
    module_name, _ = MigrationLoader.migrations_module(app_label)
    if not module_name:
        return None
    prefix = f"{module_name}."
    for name, module in list(sys.modules.items()):
        if not name.startswith(prefix) or module is None:
            continue
        operations = getattr(getattr(module, "Migration", None), "operations", ())
        if any(candidate is operation for candidate in operations):
            return name[len(prefix) :]
    return None


def applied_by(connection, reason: str, files: dict) -> list[str]:
    """Versions still completed whose apply event carries `reason`, newest first."""
    from schema_audit.models import MigrationEvent, SchemaMigration  # models need ready apps

    alias = connection.alias
    # The models' db_table is schema-qualified (UAP_LEDGER_SCHEMA): ask PostgreSQL, which
    # reads it as written, rather than the introspection's bare names.
    tables = (SchemaMigration._meta.db_table, MigrationEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_catalog.to_regclass(%s) IS NOT NULL "
            "AND pg_catalog.to_regclass(%s) IS NOT NULL",
            tables,
        )
        if not cursor.fetchone()[0]:
            return []  # no ledger: nothing was applied here
    applied = set(
        MigrationEvent.objects.using(alias)
        .filter(action="apply", status="completed", reason=reason)
        .values_list("version", flat=True)
    )
    completed = set(
        SchemaMigration.objects.using(alias)
        .filter(version__in=applied, status="completed")
        .values_list("version", flat=True)
    )
    order = {version: index for index, version in enumerate(files)}
    return sorted(completed, key=lambda v: order.get(v, -1), reverse=True)


def rollback_text(alias: str, migration: discovery.MigrationFile | None, version: str) -> str:
    """The Rollback SQL a version would run: the ledger's copy, else its file's header."""
    from schema_audit.models import SchemaMigration  # models need ready apps

    stored = (
        SchemaMigration.objects.using(alias)
        .filter(version=version)
        .values_list("rollback_sql", flat=True)
        .first()
    )
    text = (stored or (migration.header.rollback if migration else "") or "").strip()
    return text if text and discovery.has_statements(text) else ""


def forwards_sql(version: str, pending: list[discovery.MigrationFile]) -> list[str]:
    """What `sqlmigrate` shows: each pending file, as its own transaction or statement by
    statement."""
    if not pending:
        return [f"-- ApplySQL({version!r}): every SQL file up to {version} is applied"]
    shown = []
    for migration in pending:
        if migration.transactional:
            mode = "in a transaction of its own"
            body = ["BEGIN;", migration.sql.rstrip(), "COMMIT;"]
        else:
            mode = "statement by statement, outside a transaction (-- Transaction: none)"
            body = [migration.sql.rstrip()]
        shown += [f"-- ApplySQL({version!r}): {migration.path.name}, {mode}", *body]
    return shown


def backwards_sql(version: str, texts: dict[str, str]) -> list[str]:
    """What `sqlmigrate --backwards` shows: each version's Rollback SQL, newest first."""
    if not texts:
        return [f"-- ApplySQL({version!r}): no version applied by this migration to roll back"]
    shown = []
    for applied, text in texts.items():
        shown += [
            f"-- ApplySQL({version!r}): Rollback of {applied}",
            text or "-- (no Rollback SQL: reversing is refused)",
        ]
    return shown
