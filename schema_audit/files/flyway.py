"""A Flyway folder read as Flyway reads it: versioned `V<version>__<description>.sql` files in
version order, their `U<version>__` undo files as Rollback, repeatable `R__<description>.sql`
files after every versioned one, and a `<file>.conf` beside a file for its settings. No
database.

Versions are Flyway's: parts of digits joined by `.` or `_` (`V1_2__x.sql` is version 1.2),
compared part by part, so 1.2.3 comes before 1.10 and 1.0 is the same version as 1
(naming.version_key). A repeatable's version is its name without `.sql` (`R__views`): it
has no place among the versions, and runs again whenever its checksum changes.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import replace
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files import foreign_file, layouts, sections
from schema_audit.files.naming import version_key
from schema_audit.files.source import MigrationFile, line_of
from schema_audit.files.statements import outside_transaction

# Where Java's BufferedReader.readLine ends a line.
_LINE_END_RE = re.compile(r"\r\n|\r|\n")
# Flyway's default prefixes and separator (flyway.sqlMigrationPrefix and friends).
_VERSIONED_RE = re.compile(r"^([VU])([0-9]+(?:[._][0-9]+)*)__(.+)\.sql$")
_REPEATABLE_RE = re.compile(r"^R__(.+)\.sql$")
_BASELINE_RE = re.compile(r"^B[0-9][^_]*__.+\.sql$")
# Flyway's script migrations (Teams): a shell, PowerShell, batch or Python file named as one.
_SCRIPT_RE = re.compile(r"^(?:[VU][0-9][^_]*|R)__.+\.(?:sh|bash|ps1|bat|cmd|py)$")
# A placeholder Flyway replaces before it runs a file (`${schema}`, `${flyway:user}`).
_PLACEHOLDER_RE = re.compile(r"\$\{([A-Za-z0-9_:.-]+)\}")
_CONF_TRUE_FALSE = {"true": True, "false": False}
# What a script configuration file may set here; Flyway's others change what runs.
_CONF_KEYS = {"executeInTransaction", "encoding"}
# The order of repeatables: after every versioned file (0, ...) and every unplaced row (1, ...).
REPEATABLE_ORDER = 2
# A repeatable's version: `R__<description>`.
REPEATABLE_PREFIX = "R__"

Found = tuple[list[MigrationFile], list[InvalidMigration]]


def read(found: layouts.Scan) -> Found:
    """Every migration of a Flyway folder, and every problem in it."""
    undo: dict[tuple, tuple[Path, str]] = {}
    problems: list[InvalidMigration] = []
    migrations: list[MigrationFile] = []
    # One walk of the sub-folders, which Flyway reads as its own: every file found there.
    folders = list(layouts.walk(found.directory))
    nested = [folder / name for folder, names in folders for name in names]
    beside = [found.directory / name for name in found.others] + nested
    below = [(path, False) for path in nested if path.name.endswith(".sql")]
    for path, plain in [*found.sql, *below]:
        name = path.name
        versioned, repeatable = _VERSIONED_RE.match(name), _REPEATABLE_RE.match(name)
        if not (versioned or repeatable):
            problems.append(_name_problem(path))
            continue
        text, trouble = foreign_file.text_of(path, plain)
        if trouble:
            problems.append(trouble)
            continue
        if versioned and versioned.group(1) == "U":
            version = versioned.group(2).replace("_", ".")
            twin = undo.setdefault(version_key(version), (path, text))[0]
            if twin != path:  # U1 and U1.0: which one undoes version 1 is not for us to pick
                problems.append(_twin_undo(path, version, twin))
            continue
        if versioned:
            version, description = versioned.group(2).replace("_", "."), versioned.group(3)
        else:
            version, description = REPEATABLE_PREFIX + repeatable.group(1), repeatable.group(1)
        built = _migration(path, version, description, text, bool(repeatable), problems)
        if built:
            migrations.append(built)
    problems += _orphan_confs(beside) + _scripts(beside)
    problems += linked_folders([found.directory, *(folder for folder, _ in folders)])
    return _with_undo(migrations, undo, problems), problems


def _scripts(paths: list[Path]) -> list[InvalidMigration]:
    """Flyway's script migrations among `paths`: never run here, so never left silently
    behind."""
    return [
        InvalidMigration(
            "is a Flyway script migration; the runner applies SQL files only (write it as "
            "SQL, or run it with Flyway before switching)",
            path,
            rule="file-name",
        )
        for path in sorted(paths)
        if _SCRIPT_RE.match(path.name)
    ]


def _twin_undo(path: Path, version: str, twin: Path) -> InvalidMigration:
    return InvalidMigration(
        f"undo version {version} is also used by {twin.name}; keep one undo file per version",
        path,
        rule="duplicate-version",
    )


def linked_folders(folders: list[Path]) -> list[InvalidMigration]:
    """A link to a folder in one of `folders` (a Flyway tree): Flyway reads the files under
    it, the runner does not follow links, so its versions would never run while the folder
    reads as up to date."""
    return [
        InvalidMigration(
            "is a symbolic link to a folder; the runner does not follow links in a Flyway "
            "folder: move or copy its migrations into the folder",
            folder / name,
            rule="unreadable",
        )
        for folder in folders
        for name in sorted(os.listdir(folder))
        if not name.startswith(".") and (folder / name).is_symlink() and (folder / name).is_dir()
    ]


def checksum(text: str) -> int:
    """Flyway's checksum of a file's text: the CRC-32 of its lines without their line ends
    (a BOM dropped), as a signed 32-bit integer, as `flyway_schema_history.checksum` holds."""
    crc = 0
    lines = _LINE_END_RE.split(text.removeprefix("\ufeff"))
    if lines and lines[-1] == "":
        lines.pop()  # the end of the last line is not a line of its own
    for line in lines:
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def _migration(
    path: Path, version: str, description: str, text: str, repeatable: bool, problems: list
) -> MigrationFile | None:
    trouble = _placeholders(path, text)
    transactional, conf_trouble = _execute_in_transaction(path, text)
    if trouble or conf_trouble:
        problems += [p for p in (*trouble, conf_trouble) if p]
        return None
    part = sections.Part(text, 1, "", transactional)
    placed = {"order": (REPEATABLE_ORDER, description), "repeatable": True} if repeatable else {}
    return foreign_file.migration(
        path, version, description, text, part, problems, digits=False, **placed
    )


def _with_undo(
    migrations: list[MigrationFile], undo: dict[tuple, tuple[Path, str]], problems: list
) -> list[MigrationFile]:
    """Each versioned file with its undo file's SQL as its Rollback; an undo file of no
    versioned file is a problem (Flyway refuses it too)."""
    versioned = {m.key for m in migrations if not m.repeatable}
    done = []
    for migration in migrations:
        found = None if migration.repeatable else undo.get(migration.key)
        if found:
            migration = replace(migration, header=replace(migration.header, rollback=found[1]))
        done.append(migration)
    for key, (path, _) in undo.items():
        if key not in versioned:
            problems.append(
                InvalidMigration(
                    "an undo file without its versioned file; Flyway cannot undo a version it "
                    "never applies (restore the V file, or remove the U file)",
                    path,
                    rule="file-name",
                )
            )
    return done


def _placeholders(path: Path, text: str) -> list[InvalidMigration]:
    """A `${name}` Flyway would replace; here it would run as written."""
    return [
        InvalidMigration(
            f"uses the Flyway placeholder ${{{found.group(1)}}}, which the runner does not "
            "replace; write its value in the file",
            path,
            line_of(text, found.start()),
            rule=sections.RULE,
        )
        for found in _PLACEHOLDER_RE.finditer(text)
    ][:1]


def _execute_in_transaction(path: Path, text: str) -> tuple[bool, InvalidMigration | None]:
    """`executeInTransaction` from the file's `.conf`; without one, in a transaction unless
    a statement PostgreSQL refuses in one is there (Flyway detects those too)."""
    conf = path.with_name(path.name + ".conf")
    default = not outside_transaction(text)
    if not conf.exists():
        return default, None
    conf_text, trouble = foreign_file.text_of(conf)
    if trouble:
        return default, trouble
    settings: dict[str, str] = {}
    for number, line in enumerate(conf_text.split("\n"), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "!")):
            continue
        key, equals, value = stripped.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or key not in _CONF_KEYS:
            shown = key if equals else stripped
            return default, InvalidMigration(
                f"{shown!r} is not a setting the runner reads from a script configuration "
                "file; it reads executeInTransaction=true|false (and encoding=UTF-8)",
                conf,
                number,
                rule=sections.RULE,
            )
        if key == "encoding" and value.upper().replace("-", "") != "UTF8":
            return default, InvalidMigration(
                f"encoding={value}: the runner reads files as UTF-8; convert the file and "
                "remove the setting",
                conf,
                number,
                rule=sections.RULE,
            )
        if key == "executeInTransaction" and value.lower() not in _CONF_TRUE_FALSE:
            return default, InvalidMigration(
                f"executeInTransaction={value}: give true or false", conf, number,
                rule=sections.RULE,
            )  # fmt: skip
        settings[key] = value
    value = settings.get("executeInTransaction")
    return (default, None) if value is None else (_CONF_TRUE_FALSE[value.lower()], None)


def _orphan_confs(paths: list[Path]) -> list[InvalidMigration]:
    """A `.sql.conf` among `paths` whose file is not beside it: its setting would silently
    apply to nothing."""
    return [
        InvalidMigration(
            f"configures {conf.name[: -len('.conf')]}, which is not beside it; rename or "
            "remove it",
            conf,
            rule=sections.RULE,
        )
        for conf in sorted(paths)
        if conf.name.endswith(".sql.conf") and not conf.with_suffix("").exists()
    ]


def _name_problem(path: Path) -> InvalidMigration:
    if _BASELINE_RE.match(path.name):
        why = (
            "is a Flyway baseline migration, which replaces the versions before it on an empty "
            "database; the runner applies every version instead (remove it, or baseline with "
            "--baseline)"
        )
    else:
        why = f"name does not match the flyway layout of this folder: {layouts.EXPECTED['flyway']}"
    return InvalidMigration(why, path, rule="file-name")
