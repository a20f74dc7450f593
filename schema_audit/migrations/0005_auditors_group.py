"""The "Schema auditors" group, made by `migrate` like the other two compliance groups.

Its members may view the ledger and the event log in the admin, nothing else;
`manage.py uap_create_auditor` adds users to it.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

AUDITORS = "Schema auditors"
VIEW = ("view_schemamigration", "view_migrationevent")


def create_group(apps, schema_editor):
    database = schema_editor.connection.alias
    create_permissions(global_apps.get_app_config("schema_audit"), verbosity=0, using=database)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    auditors, _ = group_model.objects.using(database).get_or_create(name=AUDITORS)
    auditors.permissions.add(
        *permission_model.objects.using(database).filter(
            content_type__app_label="schema_audit", codename__in=VIEW
        )
    )


class Migration(migrations.Migration):
    dependencies = [("schema_audit", "0004_audit_rows_not_dumped")]

    operations = [migrations.RunPython(create_group, migrations.RunPython.noop)]
