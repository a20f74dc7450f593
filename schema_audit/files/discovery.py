"""Migration files on disk: discovery, validation, header parsing and checksums. No database."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from schema_audit.exceptions import InvalidMigration, raise_all
from schema_audit.files import layouts
from schema_audit.files.header import Header, parse_depends, parse_header
from schema_audit.files.naming import FILENAME_RE, is_number, move_command, next_slot, renumbered

META_RE = re.compile(r"^[ \t]*\\(?:[A-Za-z]+|[!?;])", re.MULTILINE)
# As PostgreSQL's scanner reads a `--` comment: it ends at a carriage return or a newline.
_LEADING_NOTHING_RE = re.compile(r"(?:\s+|--[^\n\r]*|/\*.*?\*/)*", re.DOTALL)


@dataclass(frozen=True)
class MigrationFile:
    """One versioned SQL file, read and checksummed; plain values, no database."""

    version: str
    name: str
    path: Path
    sql: str
    checksum: str
    header: Header
    # A placeholder: a header and no statements. It applies as a recorded no-op.
    empty: bool = False
    # The line of `path` where `sql` starts: a dbmate or goose file's up section starts
    # at its marker, not at the top of the file.
    first_line: int = 1

    @property
    def number(self) -> int:
        """The version as an integer, the sort key."""
        return int(self.version)

    @property
    def transactional(self) -> bool:
        """False when the header says `-- Transaction: none`."""
        return self.header.transactional

    @property
    def depends(self) -> tuple[tuple[str, str], ...]:
        """The Django migrations its `-- Depends:` header names, as `(app_label, name)`."""
        return self.header.dependencies

    @property
    def label(self) -> str:
        """`003 v1.2_add_user_preferences`, as printed in reports."""
        return f"{self.version} {self.name}"


def line_of(text: str, offset: int) -> int:
    """1-based line number of a character offset (pglast reports character offsets)."""
    return text.count("\n", 0, max(offset, 0)) + 1


def checksum(text: str) -> str:
    """SHA-256 hex of normalised text (BOM already dropped, CRLF turned into LF)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decode(data: bytes, path: object) -> str:
    """UTF-8 text with the BOM dropped and CRLF turned into LF; InvalidMigration otherwise."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1  # bytes: the text is not decodable
        raise InvalidMigration(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            path,
            line,
        ) from exc
    nul = text.find("\x00")
    if nul >= 0:
        # libpq sends a query as a C string, so PostgreSQL would see the file cut at the NUL.
        raise InvalidMigration(
            "contains a NUL byte, which PostgreSQL cannot take; is it a text file?",
            path,
            line_of(text, nul),
        )
    return text.replace("\r\n", "\n")


def has_statements(text: str) -> bool:
    """True when something other than comments and white space remains."""
    # Skipping what leads the text is enough: the first thing after it is a statement.
    return body_start(text) < len(text)


def body_start(text: str) -> int:
    """Where the comments and white space leading `text` (its header) end; never past where
    PostgreSQL's scanner would end them (nested block comments end later, not sooner)."""
    return _LEADING_NOTHING_RE.match(text).end()


def read_migration(path: Path) -> MigrationFile:
    """Read and validate one migration file; InvalidMigration naming its first problem."""
    migration, problems = load(path)
    raise_all(problems[:1])
    return migration


def load(path: Path, regular: bool = False) -> tuple[MigrationFile | None, list[InvalidMigration]]:
    """One file and every reason it cannot run (lint reports the same list as errors).

    `regular`: the caller's directory listing already showed a plain file (not a link).
    """
    match = FILENAME_RE.match(path.name)
    problems = [] if match else [name_problem(path)]
    trouble = None if regular else kind_problem(path)
    if trouble:
        return None, [*problems, trouble]
    try:
        text = read_text(path)
    except InvalidMigration as exc:
        return None, [*problems, exc]
    header = parse_header(text)
    problems += text_problems(path, text, header, match.group(1) if match else None)
    if problems:
        return None, problems
    migration = MigrationFile(
        version=match.group(1),
        name=f"v{match.group(2)}.{match.group(3)}_{match.group(4)}",
        path=path,
        sql=text,
        checksum=checksum(text),
        header=header,
        empty=not has_statements(text),
    )
    return migration, []


def name_problem(path: Path) -> InvalidMigration:
    """The error of a `.sql` file whose name does not match FILENAME_RE."""
    return InvalidMigration(
        "file name does not match NNN_vX.Y_description.sql (e.g. 005_v1.4_add_team_invites.sql)",
        path,
        rule="file-name",
    )


def kind_problem(path: Path) -> InvalidMigration | None:
    """outside_problem or irregular_problem; one lstat for the usual plain file. Lint and
    the runner both ask it before reading, so neither reads what the other refuses."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None  # missing or unreadable: reading it reports why
    if stat.S_ISREG(mode):
        return None
    return outside_problem(path) or irregular_problem(path)


def outside_problem(path: Path) -> InvalidMigration | None:
    """The error of a `.sql` link that leads out of its migrations directory, else None."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None  # broken or looping: reading it reports why
    if target.is_relative_to(path.parent.resolve()):
        return None
    # Whatever it points at (a .env, a key) would be run, shown and shipped as SQL.
    return InvalidMigration(
        "is a symbolic link to a file outside the migrations directory; copy the migration "
        "into the directory instead",
        path,
        rule="unreadable",
    )


def irregular_problem(path: Path) -> InvalidMigration | None:
    """The error of a `.sql` name that is a FIFO, device or directory, else None."""
    if not path.exists() or path.is_file():
        return None
    # A FIFO or device would block or never end; a directory is not a migration.
    return InvalidMigration(_IRREGULAR, path, rule="unreadable")


_IRREGULAR = "is not a regular file (a FIFO, device or directory); use a plain .sql file"


def read_text(path: Path) -> str:
    """The decoded text of a plain file; InvalidMigration (rule unreadable or encoding) if not.

    Plain system calls: a third of `Path.read_bytes`'s time on a small file, which counts in
    a directory of thousands. The opened file itself is checked, so a FIFO or device put in
    place after the listing is refused, not read forever; and it is opened without following
    a link, so a link swapped in after the listing said "plain file" is judged as a link
    (kind_problem) instead of read.
    """
    try:
        fd = _open_plain(path)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise InvalidMigration(_IRREGULAR, path, rule="unreadable")
        # One read of the whole file, then one that finds its end; more only if it grew.
        chunks, size = [], status.st_size + 1
        while chunk := os.read(fd, size):
            chunks.append(chunk)
            size = 1 << 16
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    finally:
        os.close(fd)
    try:
        return decode(b"".join(chunks), path)  # one chunk: joined without a copy
    except InvalidMigration as exc:
        exc.rule = "encoding"
        raise


_NO_FOLLOW = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW


def _open_plain(path: Path) -> int:
    """A descriptor of `path`, or of the file its link leads to inside its directory.

    Only the last component of a name is checked for a link: the one a swap replaces.
    """
    try:
        return os.open(path, _NO_FOLLOW)
    except OSError as exc:
        if exc.errno != errno.ELOOP or not path.is_symlink():
            raise
    problem = kind_problem(path)  # a link now, whatever the listing said
    if problem:
        raise problem
    # A link within the directory is read; its target is opened without following again,
    # so a target swapped for a link in between is refused (ELOOP), not read.
    try:
        target = path.resolve(strict=True)
    except RuntimeError as exc:  # a loop of links
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP)) from exc
    return os.open(target, _NO_FOLLOW)


def _unreadable(path: Path, exc: OSError) -> InvalidMigration:
    return InvalidMigration(f"cannot read file: {exc.strerror or exc}", path, rule="unreadable")


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
    for entry in parse_depends(header.depends)[1]:
        problems.append(
            InvalidMigration(
                f"Depends: {entry!r} is not app_label.migration_name "
                "(e.g. `-- Depends: shop.0011_order_total, auth.0012_alter_user_first_name`)",
                path,
                header.lines.get("depends"),
                rule="depends-format",
            )
        )
    for meta in META_RE.finditer(text) if "\\" in text else ():
        problems.append(
            InvalidMigration(
                f"psql meta-command `{meta.group(0).strip()}` is not SQL; "
                "inline the SQL it refers to",
                path,
                line_of(text, meta.start()),
                rule="psql-meta",
            )
        )
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
        found, problems = _collect_uap(listing.sql)
    else:
        from schema_audit.files import readers  # other runners' folders only

        found, problems = readers.read(chosen, listing)
    problems.sort(key=lambda problem: (str(problem.path), problem.line or 0))
    return sorted(found, key=lambda migration: migration.number), problems


def _collect_uap(listing: list[tuple[Path, bool]]) -> tuple[list, list[InvalidMigration]]:
    problems = duplicate_problems([path for path, _ in listing])
    found: dict[int, MigrationFile] = {}
    for path, regular in listing:
        migration, trouble = load(path, regular)
        problems += trouble
        if migration and migration.number not in found:
            found[migration.number] = migration
    return list(found.values()), problems


def sniff(path: Path) -> str:
    """dbmate, goose or '' for a `<version>_<name>.sql` file, by the marker inside it."""
    from schema_audit.files import readers

    return readers.sniff(path)
