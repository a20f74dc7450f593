"""A database backend standing in for a DATABASE_URL that cannot be used.

Settings must not fail on a malformed URL (every manage.py command would die with a traceback);
this backend keeps the reason and raises it when a connection is first wanted, which the
runner reports as invalid configuration (exit 2).
"""
