"""System checks: `manage.py check` names a wrong engine, a bad setting and a missing folder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.test import override_settings

from tests.conftest import ROOT


def run_check(**settings) -> str:
    """`call_command("check")` under `settings`; its stderr (warnings) or the error text."""
    with override_settings(**settings):
        try:
            call_command("check", stdout=open(os.devnull, "w"), stderr=(err := _Buffer()))
        except SystemCheckError as exc:
            return str(exc)
    return err.text


class _Buffer:
    """A write-only text sink."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        """Keep `text`."""
        self.text += text

    def flush(self) -> None:
        """Nothing buffered."""


def test_project_settings_pass_every_check():
    """The test settings (PostgreSQL, default settings, db/migrations present) are clean."""
    assert "schema_audit." not in run_check()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UAP_LOCK_TIMEOUT", "ten seconds"),
        ("UAP_STATEMENT_TIMEOUT", 5.5j),
        ("UAP_LOCK_WAIT", "soon"),
        ("UAP_LOCK_WAIT", -1),
        ("UAP_SLOW_MIGRATION_MS", "1s"),
        ("UAP_APP_VERSION", 3),
    ],
)
def test_unusable_setting_is_error_e002_with_a_hint(name, value):
    """A value that does not convert is an error naming the setting, its value and a hint."""
    text = run_check(**{name: value})
    assert "schema_audit.E002" in text
    assert name in text and repr(value) in text
    assert "HINT" in text and "remove it to use the default" in text


def test_missing_migrations_directory_is_warning_w001(tmp_path):
    """A missing UAP_MIGRATIONS_DIR warns (check still passes) and says what to do."""
    missing = tmp_path / "nowhere"
    text = run_check(UAP_MIGRATIONS_DIR=missing)
    assert "schema_audit.W001" in text and str(missing) in text
    assert "UAP_MIGRATIONS_DIR" in text
    assert "schema_audit.W001" not in run_check(UAP_MIGRATIONS_DIR=tmp_path)


def test_migrations_directory_that_is_a_file_is_warning_w001(tmp_path):
    """A file where the folder should be is not a migrations directory."""
    path = tmp_path / "migrations"
    path.write_text("not a folder")
    assert "schema_audit.W001" in run_check(UAP_MIGRATIONS_DIR=path)


def manage_check(tmp_path, settings_text: str) -> subprocess.CompletedProcess:
    """`manage.py check` in a child process under the test settings plus `settings_text`."""
    (tmp_path / "other_settings.py").write_text(
        f"from tests.settings import *  # noqa\n{settings_text}\n"
    )
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "other_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "database",
    [
        '{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}',
        "{}",  # Django's dummy backend: DATABASES left empty
    ],
)
def test_default_database_that_is_not_postgresql_is_error_e001(tmp_path, database):
    """`manage.py check` exits 1 with E001 and a hint when the default alias is not PostgreSQL."""
    done = manage_check(tmp_path, f"DATABASES = {{'default': {database}}}")
    assert done.returncode == 1, done.stderr
    assert "schema_audit.E001" in done.stderr
    assert "DATABASES['default'] is not a PostgreSQL database" in done.stderr
    assert "django.db.backends.postgresql" in done.stderr


def test_ledger_routed_to_a_database_that_is_not_postgresql_is_error_e001(tmp_path):
    """The alias a router gives the app's models is checked too, and named."""
    done = manage_check(
        tmp_path,
        "DATABASES = {**DATABASES, 'side': {'ENGINE': 'django.db.backends.sqlite3', "
        "'NAME': ':memory:'}}\n"
        "class Router:\n"
        "    def db_for_read(self, model, **hints):\n"
        "        return 'side' if model._meta.app_label == 'schema_audit' else None\n"
        "DATABASE_ROUTERS = ['other_settings.Router']",
    )
    assert done.returncode == 1, done.stderr
    assert "DATABASES['side'] is not a PostgreSQL database" in done.stderr
    assert "DATABASES['default']" not in done.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UAP_LOCK_WAIT", "abc"),
        ("UAP_LOCK_WAIT", "nan"),
        ("UAP_LOCK_WAIT", "inf"),
        ("UAP_SLOW_MIGRATION_MS", "fast"),
        ("UAP_REQUIRE_APPROVAL", "enabled"),
        ("UAP_REQUIRE_APPROVAL", "required"),
    ],
)
def test_bad_environment_value_is_error_e002_not_a_traceback(name, value):
    """A variable from the environment that does not convert is E002 naming it and its value."""
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", name: value}
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "schema_audit.E002" in done.stderr
    assert name in done.stderr and repr(value) in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["1", "TRUE", "Yes", "on", "0", "false", "NO", "Off"])
def test_accepted_spellings_of_an_environment_flag_pass(value):
    """1/0, true/false, yes/no and on/off, in any case, are the accepted spellings."""
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    environ["UAP_REQUIRE_APPROVAL"] = value
    code = "from schema_audit import conf; print(conf.UAP_REQUIRE_APPROVAL)"
    done = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == str(value.lower() in ("1", "true", "yes", "on"))


def test_a_django_flag_that_is_not_on_or_off_stops_start_up():
    """`SESSION_COOKIE_SECURE=enabled` is refused, naming variable and value, not read as off."""
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    environ["SESSION_COOKIE_SECURE"] = "enabled"
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "SESSION_COOKIE_SECURE='enabled' is not on or off" in done.stderr


def test_approvals_without_a_signing_key_are_an_error():
    """E010: the gate would have no way to tell the app's approvals from inserted rows."""
    text = run_check(UAP_REQUIRE_APPROVAL=True, UAP_SIGNING_KEY=None)
    assert "schema_audit.E010" in text and "uap_signing_key" in text


def test_no_signing_key_is_a_warning():
    """W010: events are written unsigned."""
    assert "schema_audit.W010" in run_check(UAP_SIGNING_KEY=None)
    assert "schema_audit.W010" not in run_check()


def test_an_unusable_signing_key_is_e002_and_never_echoed():
    """A PEM that is not an Ed25519 private key is named as unusable; its text is not shown."""
    bad = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1icm9rZW4=\n-----END PRIVATE KEY-----\n"
    text = run_check(UAP_SIGNING_KEY=bad)
    assert "schema_audit.E002" in text and "UAP_SIGNING_KEY" in text
    assert "c2VjcmV0" not in text
    assert "schema_audit.E002" in run_check(UAP_SIGNING_PUBLIC_KEYS=["/no/such/key.pem"])


def test_uap_signing_key_writes_a_private_file_once(tmp_path, settings):
    """0600, a key the setting accepts, its id on stderr; an existing file is never replaced."""
    from schema_audit import conf
    from schema_audit.ledger import signing

    out, err = tmp_path / "signing.pem", _Buffer()
    call_command("uap_signing_key", "--out", str(out), stderr=err)
    assert out.stat().st_mode & 0o777 == 0o600
    settings.UAP_SIGNING_KEY = str(out)
    key_id = signing.key_id(conf.get("UAP_SIGNING_KEY").public_key())
    assert f"key id: {key_id}" in err.text and "BEGIN PUBLIC KEY" in err.text
    before = out.read_bytes()
    with pytest.raises(CommandError, match="File exists"):
        call_command("uap_signing_key", "--out", str(out), stderr=_Buffer())
    assert out.read_bytes() == before
