"""A fresh `django-admin startproject` on each supported Django, with the wheel installed by its
name: migrate, uap_migrate (who deployed), the admin, `manage.py test` and pytest-django over
tables made by SQL files, a TransactionTestCase, and a dumpdata -> loaddata cycle."""

from __future__ import annotations

import glob
import re
import sys
import textwrap
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.app.conftest import run
from tests.conftest import migration, server_params

pytestmark = pytest.mark.packaging

# Django feature release -> the Python it runs on here (Django 6 needs Python 3.12+).
DJANGO = {"5.2": "3.11", "6.0": "3.12", "6.1": "3.13"}
INSTALLED = re.compile(r"""(['"])django\.contrib\.staticfiles\1,\n\]""")
ADMIN_CHECK = """
from django.test.utils import setup_test_environment
setup_test_environment()
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.create_superuser("host", "h@example.com", "x"))
changelist = client.get("/admin/schema_audit/schemamigration/")
events = client.get("/admin/schema_audit/migrationevent/?actor=someone+%28GitHub+Actions%29")
index = client.get("/admin/")
print(changelist.status_code, b"create_things" in changelist.content, events.status_code,
      b"someone (GitHub Actions)" in events.content, index.status_code)
"""
DJANGO_TESTS = """
from django.db import connection
from django.test import TestCase, TransactionTestCase

from shop.models import Item


def things():
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM things ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


class SqlTables(TestCase):
    def test_reads_a_table_made_by_a_sql_file(self):
        self.assertEqual(things(), ["seeded"])

    def test_ledger_of_the_test_database(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT version, status FROM schema_migrations ORDER BY version")
            self.assertEqual(cursor.fetchall(), [("001", "completed"), ("002", "completed")])


class Flushed(TransactionTestCase):
    def test_first(self):
        self.assertEqual(Item.objects.count(), 0)
        Item.objects.create(name="one")
        self.assertEqual(things(), ["seeded"])

    def test_second(self):
        self.assertEqual(Item.objects.count(), 0)
        Item.objects.create(name="two")
        self.assertEqual(things(), ["seeded"])
"""
PYTEST_TESTS = """
import pytest
from django.db import connection

from shop.models import Item


def things():
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM things ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_reads_a_table_made_by_a_sql_file():
    assert things() == ["seeded"]


@pytest.mark.django_db(transaction=True)
def test_transactional_first():
    assert Item.objects.count() == 0
    Item.objects.create(name="one")
    assert things() == ["seeded"]


@pytest.mark.django_db(transaction=True)
def test_transactional_second():
    assert Item.objects.count() == 0
    Item.objects.create(name="two")
    assert things() == ["seeded"]
"""


def interpreter(minor: str) -> str | None:
    """This test's own Python for 3.11, else the machine's pyenv build of `minor`."""
    if sys.version_info[:2] == tuple(int(p) for p in minor.split(".")):
        return sys.executable
    found = sorted(glob.glob(f"/root/.pyenv/versions/{minor}.*/bin/python{minor}"))
    return found[-1] if found else None


def create_database(name: str) -> None:
    with psycopg.connect(**server_params(), dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@pytest.fixture
def databases():
    """Factory of fresh databases on the test server; drops them and their test copies."""
    made: list[str] = []

    def make() -> str:
        made.append(f"host_{uuid.uuid4().hex[:10]}")
        create_database(made[-1])
        return made[-1]

    yield make
    with psycopg.connect(**server_params(), dbname="postgres", autocommit=True) as conn:
        for name in made:
            for (found,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
                (name, f"test\\_{name}%"),
            ).fetchall():
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(found)
                    )
                )


def query(name: str, text: str) -> list[tuple]:
    with psycopg.connect(**server_params(), dbname=name, autocommit=True) as conn:
        return conn.execute(text).fetchall()


@pytest.mark.parametrize("django", list(DJANGO))
def test_fresh_project_on_the_wheel(wheel, django, databases, tmp_path):
    """The issue's acceptance: every step green on this Django, by the distribution's name."""
    python = interpreter(DJANGO[django])
    if python is None:
        pytest.skip(f"no Python {DJANGO[django]} on this machine for Django {django}")
    env = tmp_path / "venv"
    done = run([python, "-m", "venv", env], tmp_path)
    assert done.returncode == 0, done.stderr
    pip = [env / "bin" / "python", "-m", "pip", "install", "-q"]
    spec = f"Django>={django},<{django[0]}.{int(django[2]) + 1}"
    tools = ["pytest", "pytest-django", "pytest-xdist"]
    # By the distribution's name: the wheel is found beside the index, never the index's
    # unrelated project of a similar name.
    done = run(
        [*pip, "--find-links", wheel.parent, "django-schema-audit-trail[binary]", spec, *tools],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    python = env / "bin" / "python"
    version = run([python, "-c", "import django; print(django.get_version())"], tmp_path)
    assert version.stdout.startswith(django), version.stdout + version.stderr

    project = tmp_path / "project"
    project.mkdir()
    assert (
        run([env / "bin" / "django-admin", "startproject", "host", project], tmp_path).returncode
        == 0
    )
    home = databases()
    _write_project(project, home)
    manage = [python, project / "manage.py"]

    def host(*args, extra: dict | None = None, db: str = home):
        done = run([*manage, *args], project, env={"HOST_DB": db, **(extra or {})})
        assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
        return done

    check = host("check")
    # The one message: events are unsigned until UAP_SIGNING_KEY is set.
    assert re.findall(r"schema_audit\.\w+", check.stderr) == ["schema_audit.W010"], check.stderr
    host("makemigrations", "shop", "-v0")
    host("migrate", "-v0")
    applied = host("uap_migrate", extra={"GITHUB_ACTOR": "someone"})
    assert "001 v1.0_create_things" in applied.stdout
    actors = query(home, "SELECT DISTINCT actor, applied_by FROM schema_migration_events")
    role = query(home, "SELECT current_user")[0][0]
    assert actors == [("someone (GitHub Actions)", role)]  # applied_by stays the role
    host("uap_migrate", "--verify")
    admin = host("shell", "-v0", "-c", ADMIN_CHECK)
    assert admin.stdout.splitlines()[-1].split() == ["200", "True", "200", "True", "200"]

    # Django's runner: quiet at verbosity 1; --keepdb twice (the second reuses the database)
    # with --parallel (clones of the test database).
    tested = host("test", "shop", "-v", "1")
    assert "SQL" not in tested.stdout + tested.stderr and "Ran 4 tests" in tested.stderr
    for _ in range(2):
        host("test", "shop", "--keepdb", "--parallel", "2", "-v", "0")
    # pytest-django: xdist workers (a test database each), then --reuse-db twice.
    pytest_cmd = [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "pytests"]
    for extra in (["-n", "2"], ["--reuse-db"], ["--reuse-db"]):
        done = run([*pytest_cmd, *extra], project, env={"HOST_DB": home})
        assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout[-3000:]

    # A fixture cycle: a plain dumpdata, loaded into another freshly migrated database.
    host("shell", "-v0", "-c", "from shop.models import Item; Item.objects.create(name='kept')")
    host("dumpdata", "-o", "dump.json")
    assert "schema_audit." not in (project / "dump.json").read_text()
    other = databases()
    host("migrate", "-v0", db=other)
    host("loaddata", "dump.json", db=other)
    assert query(other, "SELECT name FROM shop_item") == [("kept",)]


def _write_project(project: Path, name: str) -> None:
    """The app, a `shop` app with a model and tests, SQL files, pytest's settings."""
    settings = project / "host" / "settings.py"
    text = settings.read_text()
    text, count = INSTALLED.subn(
        "'django.contrib.staticfiles',\n    'schema_audit',\n    'shop',\n]", text
    )
    assert count == 1
    params = server_params()
    entry = {
        "ENGINE": "django.db.backends.postgresql",
        "USER": params.get("user") or "postgres",
        "PASSWORD": str(params.get("password") or ""),
        "HOST": str(params.get("host") or ""),
        "PORT": str(params.get("port") or ""),
    }
    text, count = re.subn(
        r"DATABASES = \{.*?\n\}\n",
        f"import os\nDATABASES = {{'default': {{**{entry!r}, 'NAME': os.environ['HOST_DB']}}}}\n",
        text,
        flags=re.S,
    )
    assert count == 1, text
    settings.write_text(text)
    shop = project / "shop"
    (shop / "migrations").mkdir(parents=True)
    (shop / "__init__.py").write_text("")
    (shop / "migrations" / "__init__.py").write_text("")
    (shop / "models.py").write_text(
        "from django.db import models\n\n\nclass Item(models.Model):\n"
        "    name = models.CharField(max_length=50)\n"
    )
    (shop / "tests.py").write_text(textwrap.dedent(DJANGO_TESTS))
    (project / "pytests").mkdir()
    (project / "pytests" / "test_host.py").write_text(textwrap.dedent(PYTEST_TESTS))
    (project / "pytest.ini").write_text("[pytest]\nDJANGO_SETTINGS_MODULE = host.settings\n")
    folder = project / "db" / "migrations"  # the default: BASE_DIR/db/migrations
    folder.mkdir(parents=True)
    things = "CREATE TABLE IF NOT EXISTS things (id bigint PRIMARY KEY, name text);"
    (folder / "001_v1.0_create_things.sql").write_text(migration("001", things, "create things"))
    seed = "INSERT INTO things VALUES (1, 'seeded');"
    (folder / "002_v1.1_seed_things.sql").write_text(migration("002", seed, "seed things"))
