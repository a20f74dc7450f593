"""Every setting of schema_audit: its name, default and type, read lazily from Django's settings.

`conf.UAP_LOCK_WAIT` reads `settings.UAP_LOCK_WAIT` when accessed (so `override_settings` and a
host project's late configuration both work), falls back to the default, and converts the value;
a value that does not convert raises InvalidConfiguration (exit 2), and `manage.py check`
reports it as schema_audit.E002. Nothing else in the package reads these from settings.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from schema_audit import keys
from schema_audit.exceptions import InvalidConfiguration

_DURATION_RE = re.compile(r"^\s*\d+(\.\d+)?\s*(us|ms|s|min|h|d)?\s*$")


def duration(value: object) -> str:
    """A PostgreSQL duration such as `10s`, `500ms` or `0` (off); ValueError otherwise."""
    if isinstance(value, bool) or not _DURATION_RE.match(str(value)):
        raise ValueError(f"{value!r} is not a duration like 10s, 500ms or 0")
    return str(value).strip()


def _non_negative(kind: type) -> Callable[[object], float]:
    def convert(value: object):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        try:
            number = kind(value)
        except OverflowError as exc:  # int(float("inf"))
            raise ValueError(f"{value!r} is not a finite number") from exc
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        if number < 0:
            raise ValueError(f"{value!r} is negative")
        return number

    return convert


def _path(value: object) -> Path:
    """A path given as text or a path object; the same message on every Python version."""
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{value!r} is not a path (give text such as 'db/migrations')")
    return Path(value)


def _text(value: object) -> str:
    if not isinstance(value, (str, type(None))):
        raise ValueError(f"{value!r} is not a string")
    return value or ""


def _secret_text(value: object) -> str:
    """Text like _text, whose refusal never repeats the value."""
    if not isinstance(value, (str, type(None))):
        raise ValueError(f"a {type(value).__name__} is not a string")
    return value or ""


def _role_name(value: object) -> str:
    """A PostgreSQL role name, or "" for none; ValueError for what no role can be named."""
    name = _text(value)
    if "\x00" in name or len(name.encode("utf-8")) > 63:
        raise ValueError(f"{value!r} is not a PostgreSQL role name (at most 63 bytes, no NUL)")
    return name


def _schema_name(value: object) -> str:
    """A schema uap_migrate may create and write: not empty, at most 63 bytes, not pg_*."""
    name = _text(value)
    if not name or "\x00" in name or "%" in name or len(name.encode("utf-8")) > 63:
        raise ValueError(f"{value!r} is not a schema name of 1 to 63 bytes without NUL or %")
    if name.lower().startswith("pg_") or name.lower() == "information_schema":
        raise ValueError(f"{value!r} is a system schema")
    return name


def _pg_version(value: object) -> int | None:
    # None: ask the configured server, else assume the oldest supported major version.
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a PostgreSQL major version")
    major = int(str(value).split(".")[0])
    if not 9 <= major <= 99:
        raise ValueError(f"{value!r} is not a PostgreSQL major version such as 15")
    return major


def _aliases(value: object) -> tuple[str, ...] | None:
    # A list in settings, or a comma-separated string from the environment; None: every alias.
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{value!r} is not a list of database aliases")
    aliases = tuple(dict.fromkeys(item.strip() for item in items))
    if not aliases or "" in aliases:
        raise ValueError(f"{value!r} names an empty alias")
    return aliases


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def flag(value: object) -> bool:
    """A boolean, or one of 1/0, true/false, yes/no, on/off; ValueError otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{value!r} is not on or off (1/0, true/false, yes/no, on/off)")


ACTOR_MAX_LENGTH = 200


def check_actor(name: str) -> str:
    """`name` stripped; ValueError when it is empty, too long or holds a control character."""
    text = name.strip()
    if not text:
        raise ValueError("the actor is empty")
    if len(text) > ACTOR_MAX_LENGTH:
        raise ValueError(f"the actor is longer than {ACTOR_MAX_LENGTH} characters")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        raise ValueError("the actor holds a control character")
    return text


def _actor(value: object) -> str:
    # The same rule as --actor.
    text = _text(value)
    return check_actor(text) if text else ""


def _default_migrations_dir() -> Path:
    # Relative to the host project's BASE_DIR when it has one, else to the working directory.
    base = getattr(settings, "BASE_DIR", None)
    return Path(base, "db", "migrations") if base else Path("db", "migrations")


@dataclass(frozen=True)
class Setting:
    """One setting: its default (or a function giving it) and a converter raising ValueError."""

    default: object
    convert: Callable[[object], object]
    meaning: str
    secret: bool = False  # never repeat the value in a message (a private key)


SETTINGS: dict[str, Setting] = {
    "UAP_MIGRATIONS_DIR": Setting(
        _default_migrations_dir, _path, "where migration files live (BASE_DIR/db/migrations)"
    ),
    # Another runner's schema_migrations may stay in public while both ledgers coexist.
    "UAP_LEDGER_SCHEMA": Setting(
        "public", _schema_name, "schema holding the tracking tables and their functions"
    ),
    "UAP_SLOW_MIGRATION_MS": Setting(1000, _non_negative(int), "threshold of a slow migration"),
    "UAP_LOCK_TIMEOUT": Setting("10s", duration, "SET LOCAL lock_timeout in each migration"),
    # Lock waits retried (engine/lock_retry.py): a transactional file waits at most
    # UAP_LOCK_RETRY_TIMEOUT per attempt, then rolls back and runs again after a growing wait.
    "UAP_LOCK_RETRIES": Setting(
        10, _non_negative(int), "attempts after a lock timeout (55P03); 0: fail at the first"
    ),
    "UAP_LOCK_RETRY_TIMEOUT": Setting(
        "100ms", duration, "lock_timeout of each attempt of a file that may be retried"
    ),
    "UAP_LOCK_RETRY_WAIT": Setting(
        60.0, _non_negative(float), "seconds waited between a file's attempts, in all"
    ),
    "UAP_STATEMENT_TIMEOUT": Setting("0", duration, "SET LOCAL statement_timeout (0: off)"),
    "UAP_LOCK_WAIT": Setting(60.0, _non_negative(float), "seconds to wait for another runner"),
    "UAP_APP_VERSION": Setting("", _text, "application version on every event"),
    # A deploy pipeline sets the ticket per run: the environment variable is read as well.
    "UAP_CHANGE_TICKET": Setting(
        lambda: os.environ.get("UAP_CHANGE_TICKET", ""), _text, "change ticket on every event"
    ),
    # A dry-run trace calls a table big from this many estimated rows or bytes on.
    "UAP_TRACE_BIG_TABLE_ROWS": Setting(
        10_000, _non_negative(int), "rows from which --trace calls a table big"
    ),
    "UAP_TRACE_BIG_TABLE_BYTES": Setting(
        100 * 1024 * 1024, _non_negative(int), "bytes from which --trace calls a table big"
    ),
    "UAP_TRACE_SLOW_MS": Setting(
        1000, _non_negative(int), "a blocking lock held this long makes --trace warn"
    ),
    "UAP_LINT_PG_VERSION": Setting(None, _pg_version, "PostgreSQL major version --lint targets"),
    "UAP_LINT_TYPE_RULES": Setting(False, flag, "--lint also checks squawk's column types"),
    "UAP_FLEET": Setting(None, _aliases, "aliases --all-databases covers (default: every one)"),
    "UAP_ACTOR": Setting("", _actor, "who deploys, on every event (else CI variables, OS user)"),
    "UAP_TEST_DATABASES": Setting(
        True, flag, "apply the SQL files to every test database Django creates"
    ),
    "UAP_DRY_RUN_ROLE": Setting(
        "", _role_name, "login role a dry run and trace run the files as, on their own session"
    ),
    # The dry-run role's password, when libpq finds none (.pgpass, trust); read from the
    # environment as well, so that it need not be written into settings.
    "UAP_DRY_RUN_PASSWORD": Setting(
        lambda: os.environ.get("UAP_DRY_RUN_PASSWORD", ""),
        _secret_text,
        "password of UAP_DRY_RUN_ROLE (else whatever libpq finds)",
        secret=True,
    ),
    "UAP_REQUIRE_APPROVAL": Setting(
        False,
        flag,
        "a pending file runs only with a valid approval",
    ),
    # Ed25519 private key (PEM text or a path to a PEM file): signs every event the app writes.
    "UAP_SIGNING_KEY": Setting(
        None,
        keys.private_key,
        "Ed25519 private key (PEM text or file) signing events",
        secret=True,
    ),
    # Public keys also trusted when checking signatures: keep old keys here after a rotation.
    "UAP_SIGNING_PUBLIC_KEYS": Setting(
        None, keys.public_keys, "Ed25519 public keys (PEM texts or files) trusted as well"
    ),
}


def get(name: str) -> object:
    """The converted value of setting `name`; InvalidConfiguration when it does not convert."""
    setting = SETTINGS[name]
    raw = getattr(settings, name, None)
    if raw is None:
        raw = setting.default() if callable(setting.default) else setting.default
    try:
        return setting.convert(raw)
    except (TypeError, ValueError) as exc:
        # A secret's value is never shown, whatever shape it has (a key pasted without its
        # BEGIN line looks like a path).
        shown = "(value not shown)" if setting.secret else repr(raw)
        raise InvalidConfiguration(f"setting {name} = {shown} is not usable: {exc}") from exc


def signing_keys() -> keys.Keys:
    """The signing key and every trusted public key (UAP_SIGNING_KEY, UAP_SIGNING_PUBLIC_KEYS)."""
    return keys.keys(get("UAP_SIGNING_KEY"), get("UAP_SIGNING_PUBLIC_KEYS"))


def problems() -> dict[str, str]:
    """`{name: reason}` for every setting whose value does not convert (for system checks)."""
    found = {}
    for name in SETTINGS:
        try:
            get(name)
        except InvalidConfiguration as exc:
            found[name] = str(exc)
    return found


def __getattr__(name: str) -> object:
    if name in SETTINGS:
        return get(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
