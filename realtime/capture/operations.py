"""Migration operations that install and remove the capture triggers of a model's table (PostgreSQL only).

::

    from realtime.capture.operations import InstallCapture

    class Migration(migrations.Migration):
        dependencies = [("shop", "0001_initial")]
        operations = [InstallCapture("Order")]

On other databases both do nothing (the ``realtime.E030`` check says capture needs PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation

from . import sql


def install(schema_editor: Any, table: str) -> None:
    """Create the shared outbox objects (idempotent) and the row trigger of ``table``."""
    with schema_editor.connection.cursor() as cursor:
        sql.run(cursor, sql.SCHEMA + ";\n" + sql.install_table(schema_editor.quote_name(table)) + ";")


def remove(schema_editor: Any, table: str) -> None:
    """Drop the row trigger of ``table`` (the shared outbox stays: other tables may use it)."""
    with schema_editor.connection.cursor() as cursor:
        sql.run(cursor, sql.remove_table(schema_editor.quote_name(table)))


class InstallCapture(Operation):
    """Capture every change of model ``model_name``'s table from this migration on; reversible."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, [self.model_name], {}

    def state_forwards(self, app_label: str, state: Any) -> None:
        """The model state does not change."""

    def _table(self, app_label: str, state: Any) -> str:
        return state.apps.get_model(app_label, self.model_name)._meta.db_table

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            install(schema_editor, self._table(app_label, to_state))

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            remove(schema_editor, self._table(app_label, from_state))

    def describe(self) -> str:
        return f"Capture the changes of {self.model_name} (realtime)"

    @property
    def migration_name_fragment(self) -> str:
        return f"capture_{self.model_name.lower()}"
