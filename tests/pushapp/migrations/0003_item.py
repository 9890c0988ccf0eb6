from django.db import migrations, models

from realtime.capture.operations import InstallCapture


class Migration(migrations.Migration):
    dependencies = [("pushapp", "0002_sample")]

    operations = [
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("name", models.TextField()),
                ("done", models.BooleanField(default=False, db_default=False)),
                ("owner", models.TextField(null=True)),
            ],
            options={"db_table": "conformance_item"},
        ),
        InstallCapture("Item"),
    ]
