"""Django app configuration."""

from django.apps import AppConfig
from django.contrib.auth.signals import user_login_failed
from django.core.signals import setting_changed
from django.db.models.signals import post_migrate, pre_migrate


class SchemaAuditConfig(AppConfig):
    """The schema_audit app: runner, ledger and read-only audit admin."""

    name = "schema_audit"
    verbose_name = "Schema audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks, follow Django's own migrate, fill test databases,
        record failed logins (whether or not the admin is installed), and read the ledger
        in UAP_LEDGER_SCHEMA."""
        from schema_audit import checks, models, signals, test_databases
        from schema_audit.integrity import django_migrate

        checks.register()
        models.follow_ledger_schema()
        setting_changed.connect(models.follow_ledger_schema, dispatch_uid="schema_audit.schema")
        pre_migrate.connect(django_migrate.before_migrate, dispatch_uid="schema_audit.before")
        post_migrate.connect(django_migrate.after_migrate, dispatch_uid="schema_audit.after")
        # After the record of Django's migrate, so that a test database's files come second.
        post_migrate.connect(
            test_databases.apply_to_test_database, dispatch_uid="schema_audit.test_databases"
        )
        user_login_failed.connect(signals.login_failed, dispatch_uid="schema_audit.login_failed")
