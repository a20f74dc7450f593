"""Another runner's file as a MigrationFile: its up part, its down part as the Rollback, its
transaction, a checksum over the whole file. Shared by the readers of each layout. No
database."""

from __future__ import annotations

from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files.header import Header
from schema_audit.files.naming import is_number
from schema_audit.files.sections import Part
from schema_audit.files.source import (
    MigrationFile,
    checksum,
    has_statements,
    kind_problem,
    meta_problems,
    read_text,
)


def migration(
    path: Path,
    version: str,
    name: str,
    text: str,
    part: Part,
    problems: list,
    *,
    digits: bool = True,
    **placed: object,
) -> MigrationFile | None:
    """The MigrationFile of one up part, or None with its problems added to `problems`.

    `digits`: the version must be one number (every layout's but Flyway's dotted ones);
    `placed`: MigrationFile's `order` and `repeatable`, for a layout that sets them.
    """
    if digits and not is_number(version):
        problems.append(long_version(path, version))
        return None
    meta = meta_problems(part.up, path, part.line)
    if meta:
        problems += meta
        return None
    header = Header(rollback=part.down, transaction="" if part.transactional else "none")
    return MigrationFile(
        version=version,
        name=name,
        path=path,
        sql=part.up,
        checksum=checksum(text),
        header=header,
        empty=not has_statements(part.up),
        first_line=part.line,
        **placed,
    )


def text_of(path: Path, plain: bool = False) -> tuple[str, InvalidMigration | None]:
    """The decoded text of a file, or the reason it cannot be read."""
    trouble = None if plain else kind_problem(path)
    if trouble:
        return "", trouble
    try:
        return read_text(path), None
    except InvalidMigration as exc:
        return "", exc


def long_version(path: Path, version: str) -> InvalidMigration:
    return InvalidMigration(
        f"version {version} has {len(version)} digits; this layout's versions are integers of "
        "at most 18 digits",
        path,
        rule="file-name",
    )
