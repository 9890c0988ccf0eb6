"""The demo's users: alice, bob and carol, password "demo"."""

from django.contrib.auth.hashers import make_password
from django.db import migrations

USERS = ["alice", "bob", "carol"]


def create_users(apps, schema_editor):
    user_model = apps.get_model("auth", "User")
    password = make_password("demo")
    for name in USERS:
        user_model.objects.get_or_create(username=name, defaults={"password": password})


def delete_users(apps, schema_editor):
    apps.get_model("auth", "User").objects.filter(username__in=USERS).delete()


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_users, delete_users)]
