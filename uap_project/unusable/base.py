"""`ENGINE` for an unusable DATABASE_URL: every connection attempt says why."""

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    """The PostgreSQL backend, refusing to connect with the reason the URL was rejected."""

    def get_connection_params(self):
        """Raise the reason kept in the settings (`PROBLEM`)."""
        raise ImproperlyConfigured(self.settings_dict["PROBLEM"])
