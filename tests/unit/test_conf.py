"""Every setting's accepted and refused values, and the demo project's strict booleans."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import uap_project.settings as project_settings
from schema_audit import conf
from schema_audit.exceptions import InvalidConfiguration

FLAG_WORDS = "is not on or off (1/0, true/false, yes/no, on/off)"
KEY = Ed25519PrivateKey.generate()
PRIVATE_PEM = KEY.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
PUBLIC_PEM = KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
PUBLIC_PEM = PUBLIC_PEM.decode()
OTHER_PUBLIC_PEM = (
    Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def accepted(name: str, raw: object, expected: object, id_: str):
    return pytest.param(name, raw, expected, id=f"{name}-{id_}")


def refused(name: str, raw: object, reason: str, id_: str):
    message = f"setting {name} = {raw!r} is not usable: {reason}"
    return pytest.param(name, raw, message, id=f"{name}-{id_}")


def refused_secret(name: str, raw: object, reason: str, id_: str):
    message = f"setting {name} = (value not shown) is not usable: {reason}"
    return pytest.param(name, raw, message, id=f"{name}-{id_}")


def public_bytes(key) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def int_setting(name: str, default: int) -> list:
    """The cases every non-negative integer setting shares."""
    return [
        accepted(name, None, default, "default"),
        accepted(name, 0, 0, "zero"),
        accepted(name, "250", 250, "text"),
        accepted(name, " 7 ", 7, "spaces"),
    ]


def int_refusals(name: str) -> list:
    return [
        refused(name, -1, "-1 is negative", "negative"),
        refused(name, "many", "invalid literal for int() with base 10: 'many'", "word"),
        refused(name, "1e3", "invalid literal for int() with base 10: '1e3'", "exponent"),
        refused(name, True, "True is not a number", "bool"),
        refused(name, "", "invalid literal for int() with base 10: ''", "empty"),
    ]


def duration_cases(name: str, default: str) -> tuple[list, list]:
    ok = [
        accepted(name, None, default, "default"),
        accepted(name, "500ms", "500ms", "ms"),
        accepted(name, " 1.5 min ", "1.5 min", "spaces"),
        accepted(name, 0, "0", "int-zero"),
        accepted(name, "100us", "100us", "us"),
        accepted(name, "2h", "2h", "h"),
        accepted(name, "1d", "1d", "d"),
    ]
    bad = [
        refused(name, reason_raw, f"{reason_raw!r} is not a duration like 10s, 500ms or 0", i)
        for reason_raw, i in (
            ("10 seconds", "word-unit"),
            ("1m", "m-is-not-a-unit"),
            ("10S", "upper-case"),
            ("-1s", "negative"),
            ("", "empty"),
            ("10s; DROP TABLE x", "injection"),
        )
    ]
    bad.append(refused(name, True, "True is not a duration like 10s, 500ms or 0", "bool"))
    return ok, bad


def flag_cases(name: str, default: bool) -> tuple[list, list]:
    ok = [accepted(name, None, default, "default")] + [
        accepted(name, raw, value, f"{raw!r}")
        for raw, value in (
            (True, True),
            (False, False),
            ("yes", True),
            (" ON ", True),
            ("1", True),
            (1, True),
            ("off", False),
            ("FALSE", False),
            ("0", False),
            (0, False),
            ("", False),
        )
    ]
    bad = [
        refused(name, "enabled", f"'enabled' {FLAG_WORDS}", "word"),
        refused(name, 2, f"2 {FLAG_WORDS}", "two"),
        refused(name, "y", f"'y' {FLAG_WORDS}", "y"),
    ]
    return ok, bad


LOCK_TIMEOUT = duration_cases("UAP_LOCK_TIMEOUT", "10s")
STATEMENT_TIMEOUT = duration_cases("UAP_STATEMENT_TIMEOUT", "0")
LINT_TYPE_RULES = flag_cases("UAP_LINT_TYPE_RULES", False)
TEST_DATABASES = flag_cases("UAP_TEST_DATABASES", True)
REQUIRE_APPROVAL = flag_cases("UAP_REQUIRE_APPROVAL", False)

ACCEPTED = [
    accepted("UAP_MIGRATIONS_DIR", None, Path(settings.BASE_DIR, "db", "migrations"), "default"),
    accepted("UAP_MIGRATIONS_DIR", "sql/here", Path("sql/here"), "text"),
    accepted("UAP_MIGRATIONS_DIR", Path("/srv/m"), Path("/srv/m"), "path"),
    *int_setting("UAP_SLOW_MIGRATION_MS", 1000),
    *LOCK_TIMEOUT[0],
    *STATEMENT_TIMEOUT[0],
    accepted("UAP_LOCK_WAIT", None, 60.0, "default"),
    accepted("UAP_LOCK_RETRIES", None, 10, "default"),
    accepted("UAP_LOCK_RETRIES", "0", 0, "off"),
    accepted("UAP_LOCK_RETRY_TIMEOUT", None, "100ms", "default"),
    accepted("UAP_LOCK_RETRY_TIMEOUT", "2s", "2s", "seconds"),
    accepted("UAP_LOCK_RETRY_WAIT", None, 60.0, "default"),
    accepted("UAP_LOCK_RETRY_WAIT", "0.5", 0.5, "text"),
    accepted("UAP_LOCK_WAIT", "2.5", 2.5, "text"),
    accepted("UAP_LOCK_WAIT", 0, 0.0, "zero"),
    accepted("UAP_APP_VERSION", None, "", "default"),
    accepted("UAP_APP_VERSION", "2026.12.1", "2026.12.1", "text"),
    accepted("UAP_CHANGE_TICKET", "CHG-42", "CHG-42", "text"),
    *int_setting("UAP_TRACE_BIG_TABLE_ROWS", 10_000),
    *int_setting("UAP_TRACE_BIG_TABLE_BYTES", 100 * 1024 * 1024),
    *int_setting("UAP_TRACE_SLOW_MS", 1000),
    accepted("UAP_LINT_PG_VERSION", None, None, "default-asks-server"),
    accepted("UAP_LINT_PG_VERSION", "", None, "empty-asks-server"),
    accepted("UAP_LINT_PG_VERSION", "15", 15, "major"),
    accepted("UAP_LINT_PG_VERSION", "16.4", 16, "minor-dropped"),
    accepted("UAP_LINT_PG_VERSION", 9, 9, "oldest"),
    accepted("UAP_LINT_PG_VERSION", 99, 99, "newest"),
    *LINT_TYPE_RULES[0],
    accepted("UAP_FLEET", None, None, "default-every-alias"),
    accepted("UAP_FLEET", "eu,us", ("eu", "us"), "comma-text"),
    accepted("UAP_FLEET", " eu , us ,eu", ("eu", "us"), "spaces-and-twice"),
    accepted("UAP_FLEET", ["a", "b"], ("a", "b"), "list"),
    accepted("UAP_FLEET", ("a",), ("a",), "tuple"),
    accepted("UAP_ACTOR", None, "", "default"),
    accepted("UAP_ACTOR", "  ana@example.com ", "ana@example.com", "stripped"),
    accepted("UAP_ACTOR", "x" * 200, "x" * 200, "longest"),
    *TEST_DATABASES[0],
    accepted("UAP_LEDGER_SCHEMA", None, "public", "default"),
    accepted("UAP_LEDGER_SCHEMA", "uap", "uap", "name"),
    accepted("UAP_LEDGER_SCHEMA", 'Ledger "Q"', 'Ledger "Q"', "quoted-when-named"),
    accepted("UAP_LEDGER_SCHEMA", "s" * 63, "s" * 63, "63-bytes"),
    accepted("UAP_DRY_RUN_ROLE", None, "", "default"),
    accepted("UAP_DRY_RUN_ROLE", "uap_dry_run", "uap_dry_run", "name"),
    accepted("UAP_DRY_RUN_ROLE", "r" * 63, "r" * 63, "63-bytes"),
    accepted("UAP_DRY_RUN_PASSWORD", "s3cret", "s3cret", "text"),
    *REQUIRE_APPROVAL[0],
    accepted("UAP_SIGNING_PUBLIC_KEYS", None, (), "default"),
    accepted("UAP_SIGNING_PUBLIC_KEYS", "", (), "empty"),
]

REFUSED = [
    refused(
        "UAP_MIGRATIONS_DIR", 5, "5 is not a path (give text such as 'db/migrations')", "number"
    ),
    *int_refusals("UAP_SLOW_MIGRATION_MS"),
    *LOCK_TIMEOUT[1],
    *STATEMENT_TIMEOUT[1],
    refused("UAP_LOCK_WAIT", -0.5, "-0.5 is negative", "negative"),
    refused("UAP_LOCK_RETRIES", -1, "-1 is negative", "negative"),
    refused("UAP_LOCK_RETRIES", "inf", "invalid literal for int() with base 10: 'inf'", "inf"),
    refused(
        "UAP_LOCK_RETRY_TIMEOUT", "soon", "'soon' is not a duration like 10s, 500ms or 0", "word"
    ),
    refused("UAP_LOCK_RETRY_WAIT", "nan", "'nan' is not a finite number", "nan"),
    refused("UAP_LOCK_WAIT", "nan", "'nan' is not a finite number", "nan"),
    refused("UAP_LOCK_WAIT", "inf", "'inf' is not a finite number", "inf"),
    refused("UAP_LOCK_WAIT", "soon", "could not convert string to float: 'soon'", "word"),
    refused("UAP_LOCK_WAIT", True, "True is not a number", "bool"),
    refused("UAP_APP_VERSION", 3, "3 is not a string", "number"),
    refused("UAP_CHANGE_TICKET", ["CHG-1"], "['CHG-1'] is not a string", "list"),
    *int_refusals("UAP_TRACE_BIG_TABLE_ROWS"),
    *int_refusals("UAP_TRACE_BIG_TABLE_BYTES"),
    *int_refusals("UAP_TRACE_SLOW_MS"),
    refused(
        "UAP_LINT_PG_VERSION", "8", "'8' is not a PostgreSQL major version such as 15", "too-old"
    ),
    refused(
        "UAP_LINT_PG_VERSION", 100, "100 is not a PostgreSQL major version such as 15", "too-new"
    ),
    refused("UAP_LINT_PG_VERSION", True, "True is not a PostgreSQL major version", "bool"),
    refused("UAP_LINT_PG_VERSION", "abc", "invalid literal for int() with base 10: 'abc'", "word"),
    *LINT_TYPE_RULES[1],
    refused(
        "UAP_LEDGER_SCHEMA",
        "",
        "'' is not a schema name of 1 to 63 bytes without NUL or %",
        "empty",
    ),
    refused(
        "UAP_LEDGER_SCHEMA",
        "a%b",
        "'a%b' is not a schema name of 1 to 63 bytes without NUL or %",
        "percent",
    ),
    refused(
        "UAP_LEDGER_SCHEMA",
        "s" * 64,
        f"{'s' * 64!r} is not a schema name of 1 to 63 bytes without NUL or %",
        "64-bytes",
    ),
    refused("UAP_LEDGER_SCHEMA", "pg_ledger", "'pg_ledger' is a system schema", "pg"),
    refused(
        "UAP_LEDGER_SCHEMA", "information_schema", "'information_schema' is a system schema", "sql"
    ),
    refused("UAP_LEDGER_SCHEMA", 5, "5 is not a string", "number"),
    refused("UAP_FLEET", "", "'' names an empty alias", "empty"),
    refused("UAP_FLEET", "a,,b", "'a,,b' names an empty alias", "empty-item"),
    refused("UAP_FLEET", [], "[] names an empty alias", "empty-list"),
    refused("UAP_FLEET", 5, "5 is not a list of database aliases", "number"),
    refused("UAP_FLEET", ["a", 1], "['a', 1] is not a list of database aliases", "mixed"),
    refused("UAP_ACTOR", "   ", "the actor is empty", "blank"),
    refused("UAP_ACTOR", "x" * 201, "the actor is longer than 200 characters", "too-long"),
    refused("UAP_ACTOR", "ana\x1b[2J", "the actor holds a control character", "escape"),
    refused("UAP_ACTOR", 7, "7 is not a string", "number"),
    *TEST_DATABASES[1],
    refused(
        "UAP_DRY_RUN_ROLE",
        "r" * 64,
        f"{'r' * 64!r} is not a PostgreSQL role name (at most 63 bytes, no NUL)",
        "64-bytes",
    ),
    refused(
        "UAP_DRY_RUN_ROLE",
        "é" * 32,
        f"{'é' * 32!r} is not a PostgreSQL role name (at most 63 bytes, no NUL)",
        "64-utf8-bytes",
    ),
    refused(
        "UAP_DRY_RUN_ROLE",
        "a\x00b",
        "'a\\x00b' is not a PostgreSQL role name (at most 63 bytes, no NUL)",
        "nul",
    ),
    refused_secret("UAP_DRY_RUN_PASSWORD", ["s3cret"], "a list is not a string", "list"),
    *REQUIRE_APPROVAL[1],
    refused_secret(
        "UAP_SIGNING_KEY",
        "/nonexistent/uap-signing.pem",
        "not PEM text and not a readable PEM file (No such file or directory)",
        "missing-file",
    ),
    refused_secret(
        "UAP_SIGNING_KEY",
        '"' + PRIVATE_PEM + '"',
        "PEM text that does not start with its -----BEGIN line (quotes kept?)",
        "quoted-pem",
    ),
    refused_secret("UAP_SIGNING_KEY", 5, "int is not PEM text or a file path", "number"),
    refused_secret(
        "UAP_SIGNING_KEY",
        PUBLIC_PEM,
        "not an unencrypted PEM private key (",  # cryptography's reason follows
        "public-key",
    ),
    refused(
        "UAP_SIGNING_PUBLIC_KEYS",
        5,
        "5 is not a list of PEM public keys or paths",
        "number",
    ),
]


@pytest.mark.parametrize("name, raw, expected", ACCEPTED)
def test_setting_accepts(name, raw, expected):
    """An accepted value converts to exactly this, read as `conf.NAME` and `conf.get`."""
    with override_settings(**{name: raw}):
        assert conf.get(name) == expected
        assert getattr(conf, name) == expected
        assert name not in conf.problems()


@pytest.mark.parametrize("name, raw, message", REFUSED)
def test_setting_refuses(name, raw, message):
    """A refused value raises InvalidConfiguration (exit 2) naming the setting and why."""
    with override_settings(**{name: raw}):
        with pytest.raises(InvalidConfiguration) as raised:
            conf.get(name)
        text = str(raised.value)
        if message.endswith("("):  # the rest is the crypto library's wording
            assert text.startswith(message)
        else:
            assert text == message
        assert raised.value.exit_code == 2
        assert conf.problems()[name] == text


def test_every_setting_has_accepted_and_refused_cases():
    """A new setting gets its rows in both tables above."""
    covered_ok = {param.values[0] for param in ACCEPTED} | {"UAP_SIGNING_KEY"}
    covered_bad = {param.values[0] for param in REFUSED}
    assert covered_ok == set(conf.SETTINGS)
    assert covered_bad == set(conf.SETTINGS)


def test_change_ticket_default_comes_from_the_environment(monkeypatch):
    """A pipeline sets UAP_CHANGE_TICKET per run; it is read when the setting is not set."""
    monkeypatch.setenv("UAP_CHANGE_TICKET", "CHG-7")
    with override_settings(UAP_CHANGE_TICKET=None):
        assert conf.UAP_CHANGE_TICKET == "CHG-7"
    monkeypatch.delenv("UAP_CHANGE_TICKET")
    with override_settings(UAP_CHANGE_TICKET=None):
        assert conf.UAP_CHANGE_TICKET == ""


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(lambda path: PRIVATE_PEM, id="pem-text"),
        pytest.param(lambda path: "\n" + PRIVATE_PEM + "\n", id="pem-text-padded"),
        pytest.param(lambda path: str(path), id="path-text"),
        pytest.param(lambda path: path, id="path"),
    ],
)
def test_signing_key_accepts_pem_text_or_a_file(raw, tmp_path):
    """UAP_SIGNING_KEY: the PEM itself, or the path of a file holding it."""
    path = tmp_path / "key.pem"
    path.write_text(PRIVATE_PEM, encoding="ascii")
    with override_settings(UAP_SIGNING_KEY=raw(path)):
        assert public_bytes(conf.UAP_SIGNING_KEY.public_key()) == public_bytes(KEY.public_key())


def test_signing_key_unset_signs_nothing():
    """No key: None, and nothing trusted but the listed public keys."""
    with override_settings(UAP_SIGNING_KEY=None, UAP_SIGNING_PUBLIC_KEYS=None):
        assert conf.UAP_SIGNING_KEY is None
        assert conf.signing_keys().signer is None


def test_signing_key_value_is_never_shown():
    """A broken private key is not repeated in the message, whatever its shape."""
    secret = PRIVATE_PEM.replace("-----BEGIN PRIVATE KEY-----", "")
    with override_settings(UAP_SIGNING_KEY=secret):
        with pytest.raises(InvalidConfiguration) as raised:
            conf.get("UAP_SIGNING_KEY")
    body = secret.strip().splitlines()[0]
    assert body not in str(raised.value)
    assert "(value not shown)" in str(raised.value)


@pytest.mark.parametrize(
    "raw, count",
    [
        pytest.param(lambda a, b: PUBLIC_PEM, 1, id="one-pem"),
        pytest.param(lambda a, b: PUBLIC_PEM + OTHER_PUBLIC_PEM, 2, id="two-pems-in-one-text"),
        pytest.param(lambda a, b: f"{a},{b}", 2, id="comma-paths"),
        pytest.param(lambda a, b: [a, str(b)], 2, id="list-of-paths"),
        pytest.param(lambda a, b: f"{a},", 1, id="trailing-comma"),
    ],
)
def test_public_keys_accept_texts_and_paths(raw, count, tmp_path):
    """UAP_SIGNING_PUBLIC_KEYS: PEM blocks, or paths as a list or comma-separated text."""
    first, second = tmp_path / "a.pem", tmp_path / "b.pem"
    first.write_text(PUBLIC_PEM, encoding="ascii")
    second.write_text(OTHER_PUBLIC_PEM, encoding="ascii")
    with override_settings(UAP_SIGNING_PUBLIC_KEYS=raw(first, second)):
        keys = conf.UAP_SIGNING_PUBLIC_KEYS
    assert len(keys) == count
    assert public_bytes(keys[0]) == public_bytes(KEY.public_key())


def test_an_infinite_integer_setting_is_refused_not_crashing():
    """UAP_SLOW_MIGRATION_MS = float('inf') is a configuration error, exit 2."""
    with override_settings(UAP_SLOW_MIGRATION_MS=math.inf):
        with pytest.raises(InvalidConfiguration) as raised:
            conf.get("UAP_SLOW_MIGRATION_MS")
    assert str(raised.value).startswith("setting UAP_SLOW_MIGRATION_MS = inf is not usable: ")


@pytest.mark.parametrize(
    "raw, default, expected",
    [
        pytest.param(None, False, False, id="unset-default-off"),
        pytest.param(None, True, True, id="unset-default-on"),
        pytest.param("", True, True, id="empty-is-default"),
        pytest.param("   ", False, False, id="blank-is-default"),
        pytest.param("1", False, True, id="1"),
        pytest.param("TRUE", False, True, id="TRUE"),
        pytest.param(" yes ", False, True, id="yes-spaced"),
        pytest.param("On", False, True, id="On"),
        pytest.param("0", True, False, id="0"),
        pytest.param("false", True, False, id="false"),
        pytest.param("NO", True, False, id="NO"),
        pytest.param("off", True, False, id="off"),
    ],
)
def test_project_flag_accepts(raw, default, expected, monkeypatch):
    """The demo project's boolean variables: 1/0, true/false, yes/no, on/off, any case."""
    if raw is None:
        monkeypatch.delenv("UAP_UNIT_FLAG", raising=False)
    else:
        monkeypatch.setenv("UAP_UNIT_FLAG", raw)
    assert project_settings._flag("UAP_UNIT_FLAG", default=default) is expected


@pytest.mark.parametrize(
    "raw", [pytest.param(w, id=w.strip()) for w in ("enabled", "required", " y ", "2", "none")]
)
def test_project_flag_refuses_other_words(raw, monkeypatch):
    """A typo does not quietly turn a protection off: ImproperlyConfigured names the variable."""
    monkeypatch.setenv("UAP_UNIT_FLAG", raw)
    with pytest.raises(ImproperlyConfigured) as raised:
        project_settings._flag("UAP_UNIT_FLAG", default=True)
    assert str(raised.value) == (
        f"UAP_UNIT_FLAG={raw!r} is not on or off: use 1/0, true/false, yes/no or on/off"
    )


def test_dry_run_password_is_read_from_the_environment(monkeypatch):
    """UAP_DRY_RUN_PASSWORD need not be written into settings: the environment is read too."""
    monkeypatch.setenv("UAP_DRY_RUN_PASSWORD", "from-env")
    with override_settings(UAP_DRY_RUN_PASSWORD=None):
        assert conf.UAP_DRY_RUN_PASSWORD == "from-env"
    monkeypatch.delenv("UAP_DRY_RUN_PASSWORD")
    with override_settings(UAP_DRY_RUN_PASSWORD=None):
        assert conf.UAP_DRY_RUN_PASSWORD == ""
