"""Migration files on disk: discovery, validation, header parsing and checksums. No database."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files.header import Header, parse_header

FILENAME_RE = re.compile(r"^(\d{3,})_v(\d+)\.(\d+)_([a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")
_META_RE = re.compile(r"^[ \t]*\\[A-Za-z!?;]", re.MULTILINE)
_COMMENTS_RE = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_TXN_CANDIDATE_RE = re.compile(
    r"^\s*(begin|commit|rollback|end|abort|start\s+transaction|prepare\s+transaction)\b",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class MigrationFile:
    """One versioned SQL file, read and checksummed; plain values, no database."""

    version: str
    name: str
    path: Path
    sql: str
    checksum: str
    header: Header

    @property
    def number(self) -> int:
        """The version as an integer, the sort key."""
        return int(self.version)

    @property
    def transactional(self) -> bool:
        """False when the header says `-- Transaction: none`."""
        return self.header.transactional

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
    return bool(_COMMENTS_RE.sub("", text).strip())


def read_migration(path: Path) -> MigrationFile:
    """Read and validate one migration file whose name matches FILENAME_RE."""
    match = FILENAME_RE.match(path.name)
    if not match:
        raise InvalidMigration(
            "file name does not match NNN_vX.Y_description.sql "
            "(e.g. 005_v1.4_add_team_invites.sql)",
            path,
        )
    if path.exists() and not path.is_file():
        # A FIFO or device would block or never end; a directory is not a migration.
        raise InvalidMigration("is not a regular file; a migration is a plain .sql file", path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidMigration(f"cannot read file: {exc.strerror or exc}", path) from exc
    text = decode(data, path)
    version = match.group(1)
    header = parse_header(text)
    if header.version and not (header.version.isdigit() and int(header.version) == int(version)):
        raise InvalidMigration(
            f"header says Version: {header.version} but the file name says {version}; "
            "make them agree",
            path,
            header.lines.get("version"),
        )
    meta = _META_RE.search(text)
    if meta:
        line = line_of(text, meta.start())
        command = meta.group(0).strip()
        raise InvalidMigration(
            f"psql meta-command {command!r} is not SQL; inline the SQL it refers to",
            path,
            line,
        )
    if not has_statements(text):
        raise InvalidMigration("contains no SQL statements", path)
    return MigrationFile(
        version=version,
        name=f"v{match.group(2)}.{match.group(3)}_{match.group(4)}",
        path=path,
        sql=text,
        checksum=checksum(text),
        header=header,
    )


def refuse_outside(path: Path, root: Path) -> None:
    """InvalidMigration when `path` (followed through links) is not inside `root`."""
    if not path.is_symlink():
        return
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return  # broken or looping: reading it reports why
    if not target.is_relative_to(root):
        # Whatever it points at (a .env, a key) would be run, shown and shipped as SQL.
        raise InvalidMigration(
            "is a symbolic link to a file outside the migrations directory; copy the "
            "migration into the directory instead",
            path,
        )


def discover(directory: Path | str) -> list[MigrationFile]:
    """Every migration in `directory`, ordered by version; InvalidMigration on any bad file."""
    directory = Path(directory)
    if not directory.exists():
        raise InvalidMigration("migrations directory does not exist; check --dir", directory)
    if not directory.is_dir():
        raise InvalidMigration("is not a directory; --dir takes the migrations folder", directory)
    try:
        names = sorted(entry.name for entry in os.scandir(directory))
    except OSError as exc:
        raise InvalidMigration(f"cannot list directory: {exc.strerror or exc}", directory) from exc
    found: dict[int, MigrationFile] = {}
    root = directory.resolve()
    for name in names:
        if name.startswith(".") or not name.endswith(".sql"):
            continue
        refuse_outside(directory / name, root)
        migration = read_migration(directory / name)
        twin = found.get(migration.number)
        if twin:
            raise InvalidMigration(
                f"version {migration.version} is also used by {twin.path.name}; "
                "renumber one of them",
                migration.path,
            )
        found[migration.number] = migration
    return [found[number] for number in sorted(found)]


def transaction_control_line(migration: MigrationFile) -> int | None:
    """Line of a top-level BEGIN/COMMIT/ROLLBACK that would break the runner's transaction."""
    if not _TXN_CANDIDATE_RE.search(migration.sql):
        return None
    from pglast import ast, parser  # deferred: only files with a candidate line pay for it

    try:
        statements = parser.parse_sql(migration.sql)
    except parser.ParseError:
        return None  # PostgreSQL reports the syntax error, with its position, when it runs
    harmless = {"TRANS_STMT_SAVEPOINT", "TRANS_STMT_RELEASE", "TRANS_STMT_ROLLBACK_TO"}
    for raw in statements:
        if isinstance(raw.stmt, ast.TransactionStmt) and raw.stmt.kind.name not in harmless:
            # pglast reports character offsets, not bytes.
            return line_of(migration.sql, raw.stmt_location)
    return None
