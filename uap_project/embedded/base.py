"""Django database backend: the PostgreSQL backend, on a server it starts on demand."""

from pathlib import Path

from django.db.backends.postgresql import base

from uap_project import embedded


class DatabaseWrapper(base.DatabaseWrapper):
    """PostgreSQL backend whose server is the embedded one under settings PGDATA."""

    _ready: set[tuple[str, str]] = set()

    def get_connection_params(self):
        """Start the server (and create the database) before Django builds its parameters."""
        host = embedded.ensure_server(Path(self.settings_dict["PGDATA"]))
        self.settings_dict["HOST"] = host
        name = self.settings_dict["NAME"]
        user = self.settings_dict["USER"] or "postgres"
        if name and (host, name) not in self._ready and not name.startswith("test_"):
            embedded.ensure_database(host, user, name)
            self._ready.add((host, name))
        return super().get_connection_params()
