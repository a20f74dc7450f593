from django.db import migrations

from schema_audit.operations import ApplySQL


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [ApplySQL("002")]
