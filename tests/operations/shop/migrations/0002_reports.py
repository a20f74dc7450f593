from django.db import migrations

from schema_audit.operations import ApplySQL


class Migration(migrations.Migration):
    atomic = False  # each SQL file runs in a transaction of its own
    dependencies = [("shop", "0001_initial")]
    operations = [ApplySQL("002", reversible=True)]
