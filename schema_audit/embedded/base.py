"""Django database backend: the PostgreSQL backend, on a server it starts on demand."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base

from schema_audit import embedded


class DatabaseWrapper(base.DatabaseWrapper):
    """PostgreSQL backend whose server is the embedded one under settings PGDATA."""

    _ready: set[tuple[str, str]] = set()

    def get_connection_params(self):
        """Start the server (and create the database) before Django builds its parameters."""
        pgdata = self.settings_dict.get("PGDATA")
        if not pgdata:
            raise ImproperlyConfigured(
                f"DATABASES[{self.alias!r}] uses ENGINE schema_audit.embedded without PGDATA: "
                "set PGDATA to the folder that holds (or will hold) the server's data"
            )
        host = embedded.ensure_server(Path(pgdata))
        self.settings_dict["HOST"] = host
        name = self.settings_dict["NAME"]
        user = self.settings_dict["USER"] or "postgres"
        if name and (host, name) not in self._ready and not name.startswith("test_"):
            embedded.ensure_database(host, user, name)
            self._ready.add((host, name))
        return super().get_connection_params()
