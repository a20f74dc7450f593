"""What a deploy command loads at start-up: not the admin, not PostgreSQL's parser."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT, numbered

PROBE = """
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("uap_migrate", *sys.argv[1:])
print(json.dumps({name: name in sys.modules for name in ("pglast", "schema_audit.admin")}))
"""


def loaded(url: str, *args: str) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_apply_and_plan_load_neither_the_admin_nor_the_parser(database, migrations_dir):
    """Files with no transaction word where a statement may start are applied without pglast
    (PL/pgSQL bodies with `; END` are the scanner's to judge), and the admin stays unloaded."""
    body = "CREATE TABLE t{n} (id int);\nCREATE INDEX ON t{n} (id);\nINSERT INTO t{n} VALUES (1);"
    folder = str(migrations_dir(numbered(3, body)))
    assert loaded(database.url, "--dir", folder) == {"pglast": False, "schema_audit.admin": False}
    assert loaded(database.url, "--dir", folder, "--plan") == {
        "pglast": False,
        "schema_audit.admin": False,
    }


def test_trace_loads_the_parser_when_it_needs_it(database, migrations_dir):
    """The same probe sees pglast once a command does use it, so the check above can fail."""
    folder = str(migrations_dir(numbered(1)))
    assert loaded(database.url, "--dir", folder, "--trace", "--json")["pglast"] is True
