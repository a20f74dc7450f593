from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_reports")]
    operations = [
        migrations.RunSQL(
            "ALTER TABLE reports ADD COLUMN note text",
            reverse_sql="ALTER TABLE reports DROP COLUMN note",
        ),
    ]
