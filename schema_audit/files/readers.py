"""Other runners' folders read as they are: dbmate, golang-migrate, goose and diesel files as
MigrationFiles (Flyway's: files/flyway.py; sqitch's plan: files/sqitch.py). No database.

Each file keeps its tool's version (digits, as the tool writes them) and name; `sql` is the
part the tool runs going up, byte for byte (a marker line stays in it: to PostgreSQL it is a
comment); the header's Rollback is the down part, its Transaction `none` where the tool would
run the file outside a transaction. The checksum is over the whole file (the up file of a
pair), as it is for this runner's own files.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files import flyway, foreign_file, layouts, sections, sqitch
from schema_audit.files.naming import is_number
from schema_audit.files.source import (
    MigrationFile,
    outside_problem,
    read_text,
)
from schema_audit.files.statements import outside_transaction

Found = tuple[list[MigrationFile], list[InvalidMigration]]


def sniff(path: Path) -> str:
    """DBMATE or GOOSE by the marker inside a `<version>_<name>.sql` file; '' for neither
    (or an unreadable file, which the reader of its layout reports)."""
    try:
        text = read_text(path)
    except InvalidMigration:
        return ""
    return sections.marker_of(text)


def read(layout: str, found: layouts.Scan) -> Found:
    """Every migration of a folder in `layout`, and every problem in it."""
    reader = _READERS.get(layout)
    if reader is None:
        choices = ", ".join(layouts.LAYOUTS)
        raise InvalidMigration(f"unknown layout {layout!r}; choose one of {choices}")
    migrations, problems = reader(found)
    return _without_twins(migrations, problems)


def _read_single(found: layouts.Scan, layout: str) -> Found:
    """dbmate or goose: one file per version, up and down sections marked inside."""
    migrations, problems = [], []
    for path, plain in found.sql:
        match = layouts.SINGLE_RE.match(path.name)
        if not match or layouts.SPLIT_RE.match(path.name):
            problems.append(_name_problem(path, layout))
            continue
        text, trouble = foreign_file.text_of(path, plain)
        if trouble:
            problems.append(trouble)
            continue
        split = sections.dbmate if layout == layouts.DBMATE else sections.goose
        try:
            part = split(text, path)
        except InvalidMigration as exc:
            problems.append(exc)
            continue
        version, name = match.groups()
        if layout == layouts.GOOSE and is_number(version) and int(version) == 0:
            zero = "goose versions start at 1, not 0"
            problems.append(InvalidMigration(zero, path, rule="file-name"))
            continue
        built = foreign_file.migration(path, version, name, text, part, problems)
        if built:
            migrations.append(built)
    problems += [_go_problem(found.directory / name) for name in _go_files(found, layout)]
    return migrations, problems


def _read_dbmate(found: layouts.Scan) -> Found:
    return _read_single(found, layouts.DBMATE)


def _read_goose(found: layouts.Scan) -> Found:
    return _read_single(found, layouts.GOOSE)


def _read_golang_migrate(found: layouts.Scan) -> Found:
    """`<version>_<name>.up.sql` with an optional `.down.sql` of the same version."""
    ups: dict[int, tuple[Path, bool, str, str]] = {}
    downs: dict[int, tuple[Path, bool]] = {}
    problems = []
    for path, plain in found.sql:
        match = layouts.SPLIT_RE.match(path.name)
        if not match:
            problems.append(_name_problem(path, layouts.GOLANG_MIGRATE))
            continue
        version, name, direction = match.groups()
        if not is_number(version):
            problems.append(foreign_file.long_version(path, version))
            continue
        side = ups if direction == "up" else downs
        twin = side.get(int(version))
        if twin:
            problems.append(_twin_problem(path, version, twin[0]))
            continue
        side[int(version)] = (path, plain, version, name) if direction == "up" else (path, plain)
    for number, (path, _) in downs.items():
        if number not in ups:
            problems.append(
                InvalidMigration(
                    "a down file without its up file; golang-migrate cannot apply this version "
                    "(restore the .up.sql, or remove the .down.sql)",
                    path,
                    rule="file-name",
                )
            )
    migrations = []
    for number, (path, plain, version, name) in ups.items():
        text, trouble = foreign_file.text_of(path, plain)
        down, down_trouble = (
            foreign_file.text_of(*downs[number]) if number in downs else ("", None)
        )
        if trouble or down_trouble:
            problems += [p for p in (trouble, down_trouble) if p]
            continue
        # golang-migrate sends the file as one query: several statements then run as one
        # implicit transaction, a lone CREATE INDEX CONCURRENTLY outside any.
        transactional = not (sections.morph_nontransactional(text) or outside_transaction(text))
        part = sections.Part(text, 1, down, transactional)
        built = foreign_file.migration(path, version, name, text, part, problems)
        if built:
            migrations.append(built)
    return migrations, problems


def _read_diesel(found: layouts.Scan) -> Found:
    """`<version>_<name>/up.sql`, `down.sql`, `metadata.toml`; every folder is a migration."""
    migrations, problems = [], []
    for path, _ in found.sql:  # diesel reads folders only: a file here would never run
        problems.append(_name_problem(path, layouts.DIESEL))
    for folder_name in found.folders:
        folder = found.directory / folder_name
        match = layouts.DIESEL_RE.match(folder_name)
        version = match.group(1).replace("-", "") if match else ""
        if not match:
            problems.append(_name_problem(folder, layouts.DIESEL))
            continue
        if not is_number(version):
            problems.append(foreign_file.long_version(folder, version))
            continue
        up = folder / "up.sql"
        if not up.exists() and not up.is_symlink():
            problems.append(
                InvalidMigration(
                    "has no up.sql; diesel needs one in every migration folder (remove the "
                    "folder, or add the SQL it applies)",
                    folder,
                    rule="file-name",
                )
            )
            continue
        text, trouble = foreign_file.text_of(up)
        trouble = trouble or outside_problem(up, found.directory)
        if trouble:
            problems.append(trouble)
            continue
        if not text:
            problems.append(
                InvalidMigration("is empty; diesel refuses an empty up.sql", up, rule="empty-file")
            )
            continue
        down_path = folder / "down.sql"
        down, trouble = foreign_file.text_of(down_path) if down_path.exists() else ("", None)
        transactional, toml_trouble = _run_in_transaction(folder / "metadata.toml")
        if trouble or toml_trouble:
            problems += [p for p in (trouble, toml_trouble) if p]
            continue
        part = sections.Part(text, 1, down, transactional)
        built = foreign_file.migration(up, version, match.group(2), text, part, problems)
        if built:
            migrations.append(built)
    return migrations, problems


def _run_in_transaction(path: Path) -> tuple[bool, InvalidMigration | None]:
    """diesel's `run_in_transaction`: true without a metadata.toml; with one, its value, and
    false when the file leaves it out (diesel reads a missing key as false)."""
    if not path.exists():
        return True, None
    text, trouble = foreign_file.text_of(path)
    if trouble:
        return True, trouble
    try:
        value = tomllib.loads(text).get("run_in_transaction", False)
    except tomllib.TOMLDecodeError as exc:
        return True, InvalidMigration(f"is not valid TOML: {exc}", path, rule=sections.RULE)
    if not isinstance(value, bool):
        return True, InvalidMigration(
            "run_in_transaction must be true or false", path, rule=sections.RULE
        )
    return value, None


_READERS = {
    layouts.DBMATE: _read_dbmate,
    layouts.GOOSE: _read_goose,
    layouts.GOLANG_MIGRATE: _read_golang_migrate,
    layouts.DIESEL: _read_diesel,
    layouts.FLYWAY: flyway.read,
    layouts.SQITCH: sqitch.read,
}


def _without_twins(migrations: list[MigrationFile], problems: list) -> Found:
    """The first migration of each version; a later one of the same version is an error."""
    kept: dict[tuple, MigrationFile] = {}
    for migration in sorted(migrations, key=lambda m: str(m.path)):
        twin = kept.setdefault(migration.key, migration)
        if twin is not migration:
            problems.append(_twin_problem(migration.path, migration.version, twin.path))
    return list(kept.values()), problems


def _twin_problem(path: Path, version: str, twin: Path) -> InvalidMigration:
    return InvalidMigration(
        f"version {version} is also used by {twin.name if twin.parent == path.parent else twin};"
        " give one of them a new version",
        path,
        rule="duplicate-version",
    )


def _name_problem(path: Path, layout: str) -> InvalidMigration:
    return InvalidMigration(
        f"name does not match the {layout} layout of this folder: {layouts.EXPECTED[layout]}",
        path,
        rule="file-name",
    )


def _go_files(found: layouts.Scan, layout: str) -> list[str]:
    if layout != layouts.GOOSE:
        return []
    return sorted(name for name in found.others if layouts.GOOSE_GO_RE.match(name))


def _go_problem(path: Path) -> InvalidMigration:
    return InvalidMigration(
        "is a goose Go migration; the runner applies SQL files only (write it as SQL, or run "
        "it with goose before switching)",
        path,
        rule="file-name",
    )
