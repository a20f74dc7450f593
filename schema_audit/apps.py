"""Django app configuration."""

from django.apps import AppConfig


class SchemaAuditConfig(AppConfig):
    """The schema_audit app: runner, ledger and read-only audit admin."""

    name = "schema_audit"
    verbose_name = "Schema audit"
    default_auto_field = "django.db.models.BigAutoField"
