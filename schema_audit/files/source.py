"""A migration file as the runner reads it: the MigrationFile, reading a plain file safely,
its checksum and the positions in its text. The bottom of `files/`: no layout, no rules."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files.header import Header
from schema_audit.files.naming import version_key

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
    # Where the file stands in its layout's order when the version alone does not say (a
    # sqitch change's place in its plan); empty: the version's own order (version_key).
    order: tuple = ()
    # Flyway's `R__` file: no version among the others; it runs again when its checksum changes.
    repeatable: bool = False
    # Scripts of other files `sql` runs after its own text, each as (the line of `sql` where
    # it starts, its path): a sqitch change's verify script.
    appended: tuple[tuple[int, Path], ...] = ()

    @cached_property
    def key(self) -> tuple:
        """The sort key: files run in this order, and equal keys are the same version."""
        return self.order or version_key(self.version)

    @property
    def transactional(self) -> bool:
        """False when the header says `-- Transaction: none`."""
        return self.header.transactional

    @property
    def depends(self) -> tuple[tuple[str, str], ...]:
        """The Django migrations its `-- Depends:` header names, as `(app_label, name)`."""
        return self.header.dependencies

    @property
    def retired(self) -> str:
        """Why the file never runs (its `-- Retired:` line), or '' for a file that runs."""
        return self.header.retired.strip()

    def locate(self, line: int | None) -> tuple[Path, int | None]:
        """The file and line a line of `sql` (counted as errors count it, from `first_line`)
        comes from: an appended script's own, else this file's."""
        if line is not None:
            for start, path in reversed(self.appended):
                if line >= start:
                    return path, line - start + 1
        return self.path, line

    @property
    def label(self) -> str:
        """`003 v1.2_add_user_preferences`, as printed in reports."""
        return f"{self.version} {self.name}"


def meta_problems(text: str, path: object, first_line: int = 1) -> list[InvalidMigration]:
    """Every psql meta-command in `text` (`\\i`, `\\set`, ...), named at its line of the file
    (`text` starts at `first_line`): the runner sends SQL, not psql input."""
    if "\\" not in text:
        return []
    return [
        InvalidMigration(
            f"psql meta-command `{found.group(0).strip()}` is not SQL; inline the SQL it "
            "refers to",
            path,
            first_line + line_of(text, found.start()) - 1,
            rule="psql-meta",
        )
        for found in META_RE.finditer(text)
    ]


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


def outside_problem(path: Path, root: Path | None = None) -> InvalidMigration | None:
    """The error of a file that leads out of `root` (by default the folder it is listed in):
    a `.sql` link to a file elsewhere, or, below `root`, a file reached through a link to a
    folder elsewhere (a sqitch `deploy/sub`, a diesel migration folder); else None."""
    linked = path.is_symlink()
    if root is None and not linked:
        return None  # a plain file in its own folder
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None  # broken or looping: reading it reports why
    if target.is_relative_to((root or path.parent).resolve()):
        return None
    # Whatever it points at (a .env, a key) would be run, shown and shipped as SQL.
    how = "is a symbolic link to a file" if linked else "is reached through a link to a folder"
    return InvalidMigration(
        f"{how} outside the migrations directory; copy the migration into the directory instead",
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


def read_text(path: Path, folder_fd: int | None = None) -> str:
    """The decoded text of a plain file; InvalidMigration (rule unreadable or encoding) if not.

    Plain system calls: a third of `Path.read_bytes`'s time on a small file, which counts in
    a directory of thousands. The opened file itself is checked, so a FIFO or device put in
    place after the listing is refused, not read forever; and it is opened without following
    a link, so a link swapped in after the listing said "plain file" is judged as a link
    (kind_problem) instead of read. `folder_fd`, a descriptor of the file's folder, has the
    file opened by its name in it: the kernel then looks up one name, not the whole path.
    """
    try:
        fd = _open_plain(path, folder_fd)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise InvalidMigration(_IRREGULAR, path, rule="unreadable")
        # One read asking for a byte more than the fstat's size: when it returns exactly that
        # size, it read the whole file, and no second read is needed to find the end. A
        # short read or a file that grew meanwhile is read on to its end.
        chunks, size = [], status.st_size + 1
        while chunk := os.read(fd, size):
            chunks.append(chunk)
            if len(chunk) == status.st_size and len(chunks) == 1:
                break
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


def _open_plain(path: Path, folder_fd: int | None = None) -> int:
    """A descriptor of `path`, or of the file its link leads to inside its directory.

    Only the last component of a name is checked for a link: the one a swap replaces.
    """
    try:
        if folder_fd is None:
            return os.open(path, _NO_FOLLOW)
        return os.open(path.name, _NO_FOLLOW, dir_fd=folder_fd)
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
