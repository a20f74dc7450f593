"""The groups of the compliance workflow: "Schema approvers" and "Schema audit admins".

Approvers may view the audit admin (as auditors do) and approve pending files; audit admins
may read the access log. Membership is given by a superuser in the users admin.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

APPROVERS = "Schema approvers"
ACCESS_ADMINS = "Schema audit admins"
VIEW = ("view_schemamigration", "view_migrationevent")


def create_groups(apps, schema_editor):
    database = schema_editor.connection.alias
    # Permissions are normally created after every migration has run; approvers need two now.
    # (A historical app config has no models module, so the installed one is used.)
    create_permissions(global_apps.get_app_config("schema_audit"), verbosity=0, using=database)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    approvers, _ = group_model.objects.using(database).get_or_create(name=APPROVERS)
    approvers.permissions.add(
        *permission_model.objects.using(database).filter(
            content_type__app_label="schema_audit", codename__in=VIEW
        )
    )
    group_model.objects.using(database).get_or_create(name=ACCESS_ADMINS)


class Migration(migrations.Migration):
    dependencies = [
        ("schema_audit", "0002_access_record"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
