"""Migration files on disk: discovery, validation, header parsing and checksums. No database."""

from __future__ import annotations

from pathlib import Path

from schema_audit.exceptions import InvalidMigration, raise_all
from schema_audit.files import layouts, readers
from schema_audit.files.header import Header, parse_depends, parse_header, without_retired
from schema_audit.files.naming import FILENAME_RE, is_number, move_command, next_slot, renumbered
from schema_audit.files.source import (  # noqa: F401 (re-exported: the file as it is read)
    META_RE,
    MigrationFile,
    body_start,
    checksum,
    decode,
    has_statements,
    irregular_problem,
    kind_problem,
    line_of,
    meta_problems,
    outside_problem,
    read_text,
)
from schema_audit.records import whole


def read_migration(path: Path) -> MigrationFile:
    """Read and validate one migration file; InvalidMigration naming its first problem."""
    migration, problems = load(path)
    raise_all(problems[:1])
    return migration


def load(
    path: Path, regular: bool = False, folder_fd: int | None = None
) -> tuple[MigrationFile | None, list[InvalidMigration]]:
    """One file and every reason it cannot run (lint reports the same list as errors).

    `regular`: the caller's directory listing already showed a plain file (not a link).
    `folder_fd`: a descriptor of the file's folder to open it in (source.read_text).
    """
    match = FILENAME_RE.match(path.name)
    problems = [] if match else [name_problem(path)]
    trouble = None if regular else kind_problem(path)
    if trouble:
        return None, [*problems, trouble]
    try:
        text = read_text(path, folder_fd)
    except InvalidMigration as exc:
        return None, [*problems, exc]
    header = parse_header(text)
    problems += text_problems(path, text, header, match.group(1) if match else None)
    if problems:
        return None, problems
    version, major, minor, description = match.groups()
    # Every field, in declaration order: one record per file per run (records.whole).
    migration = whole(
        MigrationFile,
        {
            "version": version,
            "name": f"v{major}.{minor}_{description}",
            "path": path,
            "sql": text,
            "checksum": checksum(without_retired(text, header)),
            "header": header,
            "empty": not has_statements(text),
            "first_line": 1,
            "order": (),
            "repeatable": False,
            "appended": (),
        },
    )
    return migration, []


def name_problem(path: Path) -> InvalidMigration:
    """The error of a `.sql` file whose name does not match FILENAME_RE."""
    return InvalidMigration(
        "file name does not match NNN_vX.Y_description.sql (e.g. 005_v1.4_add_team_invites.sql)",
        path,
        rule="file-name",
    )


def text_problems(
    path: Path, text: str, header: Header, version: str | None
) -> list[InvalidMigration]:
    """What makes a decoded file unrunnable: header/name disagreement, psql meta-commands,
    nothing at all (no header, no SQL)."""
    problems = []
    declared = header.version
    if version and declared and not (is_number(declared) and int(declared) == int(version)):
        problems.append(
            InvalidMigration(
                f"header says Version: {declared} but the file name says {version}; "
                "make them agree",
                path,
                header.lines.get("version"),
                rule="version-mismatch",
            )
        )
    for entry in parse_depends(header.depends)[1] if header.depends else ():
        problems.append(
            InvalidMigration(
                f"Depends: {entry!r} is not app_label.migration_name "
                "(e.g. `-- Depends: shop.0011_order_total, auth.0012_alter_user_first_name`)",
                path,
                header.lines.get("depends"),
                rule="depends-format",
            )
        )
    if header.is_retired and not header.retired.strip():
        problems.append(
            InvalidMigration(
                "Retired: says no reason; write why the file never runs "
                "(e.g. `-- Retired: rolled back in production, see #412`)",
                path,
                header.lines.get("retired"),
                rule="retired-reason",
            )
        )
    problems += meta_problems(text, path)
    if not header.lines and not has_statements(text):
        problems.append(
            InvalidMigration(
                "contains no SQL statements and no header; a placeholder kept for numbering "
                "needs at least `-- Migration:` and `-- Version:` lines",
                path,
                rule="empty-file",
            )
        )
    return problems


def duplicate_problems(paths: list[Path]) -> list[InvalidMigration]:
    """Every file whose version an earlier file (in name order) already uses, each with the
    command that moves it to a free version (what a merge of two branches that both took the
    next number needs)."""
    seen: dict[int, Path] = {}
    names = [path.name for path in paths]
    problems = []
    for path in paths:
        match = FILENAME_RE.match(path.name)
        if not match:
            continue
        twin = seen.setdefault(int(match.group(1)), path)
        if twin is not path:
            # Each file to move gets its own free slot past the newest file.
            slot = next_slot(names, skip=len(problems))
            move = move_command(path, renumbered(path, slot))
            problems.append(
                InvalidMigration(
                    f"version {match.group(1)} is also used by {twin.name}; renumber the one "
                    f"not yet applied anywhere, e.g. `{move}` and set its `-- Version:` to "
                    f"{slot.version}",
                    path,
                    rule="duplicate-version",
                )
            )
    return problems


def sql_paths(directory: Path | str) -> list[Path]:
    """The `.sql` files of a migrations directory in name order (dotfiles skipped)."""
    return [path for path, _ in _listing(directory)]


def _listing(directory: Path | str) -> list[tuple[Path, bool]]:
    """sql_paths, each with whether the listing shows a plain file (no stat call needed)."""
    return layouts.scan(directory).sql


def discover(directory: Path | str, layout: str | None = None) -> list[MigrationFile]:
    """Every migration in `directory`, ordered by version.

    `layout` (one of layouts.LAYOUTS) reads the folder as that runner's; by default it is
    detected from the names in it. Every invalid file is reported at once
    (InvalidMigrations), so one run names them all.
    """
    found, problems = collect(directory, layout)
    raise_all(problems)
    return found


def collect(
    directory: Path | str, layout: str | None = None
) -> tuple[list[MigrationFile], list[InvalidMigration]]:
    """discover's migrations and every problem found on the way (lint reports them all);
    InvalidMigration at once for a folder that cannot be read as any one layout."""
    listing = layouts.scan(directory)
    chosen = layout or layouts.detect(listing, sniff)
    if chosen == layouts.UAP:
        found, problems = _collect_uap(listing)
    else:
        from schema_audit.files import readers  # other runners' folders only

        found, problems = readers.read(chosen, listing)
    problems.sort(key=lambda problem: (str(problem.path), problem.line or 0))
    return sorted(found, key=lambda migration: migration.key), problems


def _collect_uap(listing: layouts.Scan) -> tuple[list, list[InvalidMigration]]:
    problems = duplicate_problems([path for path, _ in listing.sql])
    found: dict[tuple, MigrationFile] = {}
    with layouts.opened(listing.directory) as folder_fd:
        for path, regular in listing.sql:
            migration, trouble = load(path, regular, folder_fd)
            problems += trouble
            if migration and migration.key not in found:
                found[migration.key] = migration
    return list(found.values()), problems


def sniff(path: Path) -> str:
    """dbmate, goose or '' for a `<version>_<name>.sql` file, by the marker inside it."""
    return readers.sniff(path)
