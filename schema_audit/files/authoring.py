"""A new migration file: the next free name in a directory and the header the runner and lint
expect, written without ever replacing a file. No database."""

from __future__ import annotations

import datetime
import getpass
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from schema_audit.exceptions import RefusedRequest
from schema_audit.files import discovery, layouts
from schema_audit.files.header import ROLLBACK_PLACEHOLDER
from schema_audit.files.naming import in_git_work_tree, next_slot, slug


@dataclass(frozen=True)
class NewMigration:
    """The file just written: where, its version, and the `name` the ledger will record."""

    path: Path
    version: str
    name: str

    def as_dict(self) -> dict:
        """JSON-ready form: path, version, name."""
        return {"path": str(self.path), "version": self.version, "name": self.name}


def write_next(
    directory: Path,
    description: str,
    *,
    author: str | None = None,
    depends: tuple[tuple[str, str], ...] = (),
    transactional: bool = True,
    today: datetime.date | None = None,
) -> NewMigration:
    """Write the next numbered file of `directory` (created if missing) with its header.

    RefusedRequest when `description` gives no file name or the file exists (never replaced).
    """
    text = one_line(description)
    words = slug(text)
    if not words:
        raise RefusedRequest(
            f"cannot make a file name from {description!r}: use ASCII letters or digits "
            '(e.g. uap_makemigration "add report index")'
        )
    directory.mkdir(parents=True, exist_ok=True)
    listing = layouts.scan(directory)
    _refuse_foreign(listing)
    slot = next_slot([path.name for path, _ in listing.sql])
    path = directory / slot.filename(words)
    header = header_text(
        text,
        slot.version,
        author=one_line(author or default_author(directory)),
        depends=depends,
        transactional=transactional,
        today=today or datetime.date.today(),
    )
    try:
        # "x": an existing file (another author's, just written) is never replaced.
        with open(path, "x", encoding="utf-8", newline="\n") as handle:
            handle.write(header)
    except FileExistsError as exc:
        raise RefusedRequest(f"{path} already exists; it was not overwritten") from exc
    except OSError as exc:
        raise RefusedRequest(f"cannot create {path}: {exc.strerror or exc}") from exc
    return NewMigration(path, slot.version, slot.name(words))


def _refuse_foreign(listing: layouts.Scan) -> None:
    """RefusedRequest in another runner's folder: a file of this runner's would mix layouts."""
    diesel = any(layouts.DIESEL_RE.match(name) for name in listing.folders)
    # A sqitch project's scripts are in its deploy/ folder, beside its plan.
    if not (listing.sql or diesel or "sqitch.plan" in listing.others):
        return
    layout = layouts.detect(listing, discovery.sniff)
    if layout != layouts.UAP:
        raise RefusedRequest(
            f"{listing.directory} is a {layout} folder, read as it is; a "
            f"NNN_vX.Y_description.sql file would mix two layouts. Add the next migration "
            f"as {layout} names it: {layouts.EXPECTED[layout]}"
        )


def header_text(
    description: str,
    version: str,
    *,
    author: str,
    depends: tuple[tuple[str, str], ...] = (),
    transactional: bool = True,
    today: datetime.date,
) -> str:
    """The guide's header for a new file, its Rollback a placeholder lint reports."""
    lines = [
        f"Migration: {description[:1].upper()}{description[1:]}",
        f"Version: {version}",
        f"Date: {today.isoformat()}",
        f"Author: {author}",
        f"Description: {description}",
    ]
    if not transactional:
        lines.append("Transaction: none")
    if depends:
        lines.append("Depends: " + ", ".join(f"{app}.{name}" for app, name in depends))
    lines += ["", f"Rollback: {ROLLBACK_PLACEHOLDER}", ""]
    return "".join(f"-- {line}".rstrip() + "\n" for line in lines) + "\n"


def one_line(text: str) -> str:
    """`text` on one line: a newline in it would start a header line of its own."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def default_author(directory: Path) -> str:
    """git's `user.email` when `directory` is inside a git work tree, else the OS user."""
    if in_git_work_tree(directory):
        try:
            found = subprocess.run(
                ["git", "-C", str(directory), "config", "user.email"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            found = None  # no git program: the OS user below
        if found and found.stdout.strip():
            return found.stdout.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
