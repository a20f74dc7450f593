"""The database layer's names under their former home: connections and the runners' lock
live in schema_audit.db."""

from schema_audit.db import *  # noqa: F403
from schema_audit.db import __all__  # noqa: F401
