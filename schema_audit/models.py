"""Read-only Django views of the tracking tables.

Both models are unmanaged: `uap_migrate` owns the tables (it creates and upgrades them before
Django's own migrations could run), and the event log's trigger forbids the UPDATE and DELETE
that a managed model's admin would issue.
"""

from django.db import models

from schema_audit.db import names
from schema_audit.exceptions import InvalidConfiguration


class NotDumped(models.Manager):
    """The default manager of the audit models: no rows, so `dumpdata` leaves them out.

    `dumpdata` reads each model's default manager (`--all`: the base manager) and has no
    other per-model opt-out short of a router in the host's settings. A generic dump of a
    host project (its fixtures) must not carry the ledger, events and access records: they
    hold usernames and addresses, and `loaddata` cannot write them back (the tables are
    uap_migrate's, append-only, hash-chained). The export for auditors is the evidence
    bundle. Everything else reads `objects`.
    """

    def get_queryset(self):
        return super().get_queryset().none()


class SchemaMigration(models.Model):
    """One row per version in `schema_migrations`: its latest status."""

    version = models.TextField(primary_key=True)
    name = models.TextField(null=True)
    checksum = models.CharField(max_length=64, null=True)
    status = models.TextField(null=True)
    applied_at = models.DateTimeField(null=True)
    duration_ms = models.IntegerField(null=True)
    error_message = models.TextField(null=True)
    applied_by = models.TextField(null=True)
    description = models.TextField(null=True)
    impact = models.TextField(null=True)
    rollback_sql = models.TextField(null=True)

    objects = models.Manager()
    not_dumped = NotDumped()

    class Meta:
        managed = False
        db_table = "schema_migrations"
        default_manager_name = "not_dumped"
        ordering = ["-version"]
        verbose_name = "schema migration"

    def __str__(self) -> str:
        return f"{self.version} {self.name or ''}".strip()


class MigrationEvent(models.Model):
    """One attempt in the append-only `schema_migration_events` log."""

    id = models.BigAutoField(primary_key=True)
    version = models.TextField(null=True)
    action = models.TextField()
    status = models.TextField()
    started_at = models.DateTimeField()
    duration_ms = models.IntegerField(null=True)
    error_message = models.TextField(null=True)
    sqlstate = models.TextField("SQLSTATE", null=True)
    applied_by = models.TextField(null=True)
    os_user = models.TextField("OS user", null=True)
    host = models.TextField(null=True)
    app_version = models.TextField(null=True)
    checksum = models.CharField(max_length=64, null=True)
    sql_text = models.TextField(null=True)
    reason = models.TextField(null=True)
    ticket = models.TextField(null=True)
    application = models.TextField(null=True)
    ddl_objects = models.TextField("DDL objects", null=True)
    fingerprint = models.CharField(max_length=64, null=True)
    schema_description = models.TextField(null=True)
    prev_hash = models.CharField(max_length=64, null=True)
    hash = models.CharField(max_length=64, null=True)
    trace = models.JSONField("dry-run trace", null=True)
    rollout = models.TextField(null=True)
    # Who deployed (--actor, UAP_ACTOR, the CI's user, the OS user); on approve and revoke
    # events, the Django user who approved.
    actor = models.TextField("actor", null=True)
    # Set by the database from its clock when the row was written; started_at is the writer's.
    recorded_at = models.DateTimeField(null=True)
    # `<key id>:<base64 Ed25519 signature>` of an event the app wrote (ledger/signing.py).
    signature = models.TextField(null=True)

    objects = models.Manager()
    not_dumped = NotDumped()

    class Meta:
        managed = False
        db_table = "schema_migration_events"
        default_manager_name = "not_dumped"
        ordering = ["-id"]
        verbose_name = "migration event"

    def __str__(self) -> str:
        return f"{self.action} {self.version or ''} {self.status}"


class AccessRecord(models.Model):
    """One request to the audit admin, or one failed login, in `schema_audit_access`.

    Unmanaged like the ledger: `uap_migrate` creates the table with a trigger that refuses
    UPDATE, DELETE and TRUNCATE.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField()
    username = models.TextField(null=True)
    action = models.TextField()
    method = models.TextField(null=True)
    path = models.TextField(null=True)
    query_string = models.TextField(null=True)
    status_code = models.IntegerField(null=True)
    rows_exported = models.IntegerField(null=True)
    address = models.TextField(null=True)

    objects = models.Manager()
    not_dumped = NotDumped()

    class Meta:
        managed = False
        db_table = "schema_audit_access"
        default_manager_name = "not_dumped"
        ordering = ["-id"]
        verbose_name = "access record"

    def __str__(self) -> str:
        return f"{self.action} {self.path or ''} by {self.username or 'anonymous'}"


LEDGER_MODELS = (SchemaMigration, MigrationEvent, AccessRecord)


def follow_ledger_schema(setting: str | None = None, **kwargs) -> None:
    """Point the models at their tables in UAP_LEDGER_SCHEMA (`"schema"."table"`); also a
    receiver of Django's setting_changed.

    Only `_meta.db_table` changes: the migration state keeps the bare names the app's
    migrations were written with, so no schema asks for a migration of its own.
    """
    if setting not in (None, "UAP_LEDGER_SCHEMA"):
        return
    try:
        schema = names.ledger_schema()
    except InvalidConfiguration:
        return  # reported by the system checks (schema_audit.E002)
    for model in LEDGER_MODELS:
        model._meta.db_table = names.qualified(model._meta.original_attrs["db_table"], schema)
        for field in model._meta.get_fields():
            field.__dict__.pop("cached_col", None)  # a column names its table, as it was
