"""Migration file names: the pattern, a description's slug, the next free name. Pure."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from schema_audit.files.paths import shown_path

FILENAME_RE = re.compile(r"^([0-9]{3,})_v([0-9]+)\.([0-9]+)_([a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")
_NOT_WORD_RE = re.compile(r"[^a-z0-9]+")


def is_number(text: str) -> bool:
    """True for a non-empty run of 0-9 (`str.isdigit` also takes `²` and `٥`, which `int`
    refuses or reads as another number), short enough to stay a small int."""
    return text.isascii() and text.isdigit() and len(text) < 19


# A version of digits, or digits in parts: Flyway's `1.2.3` (its file names may write `1_2_3`).
_DOTTED_RE = re.compile(r"[0-9]+(?:[._][0-9]+)*")
_PART_RE = re.compile(r"[._]")
# Longer than this, a version orders as text: no 4,300-digit integers (Python refuses them).
# Every version a file name can hold (255 bytes) is shorter, so files always order as numbers.
_LONGEST_NUMBER = 4000


def version_key(version: str) -> tuple:
    """How versions order: as numbers, part by part for dotted ones (Flyway's `1.2.3` before
    `1.10`; `1.0` is `1`, `005` is `5`), every number before any other text, which orders by
    its characters. Equal keys are the same version."""
    text = str(version)
    if text.isascii() and len(text) <= _LONGEST_NUMBER and text.isdigit():
        return (0, int(text))  # the usual version, one number: read once per file per run
    if text.isascii() and len(text) <= _LONGEST_NUMBER and _DOTTED_RE.fullmatch(text):
        parts = [int(part) for part in _PART_RE.split(text)]
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
        return (0, *parts)
    return (1, text)


@dataclass(frozen=True)
class Slot:
    """A version number and `vX.Y` for a file: `Slot("005", 1, 4)`."""

    version: str
    major: int
    minor: int

    def filename(self, slug: str) -> str:
        """`005_v1.4_add_report_index.sql`."""
        return f"{self.version}_{self.name(slug)}.sql"

    def name(self, slug: str) -> str:
        """`v1.4_add_report_index`, the `name` the ledger records."""
        return f"v{self.major}.{self.minor}_{slug}"


def slug(text: str) -> str:
    """Lower-case ASCII words joined by `_` (`Add report-index!` → `add_report_index`);
    '' when nothing of `text` survives (an accent is dropped, a word in another script too)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "_".join(word for word in _NOT_WORD_RE.split(ascii_text.lower()) if word)


def next_slot(names: list[str], skip: int = 0) -> Slot:
    """The slot after the newest file among `names` (`skip` more slots further on).

    Zero-padded like the newest file (at least three digits); `vX.Y` one minor after the
    newest file's (`v1.0` in an empty directory, whose first version is `001`).
    """
    newest = max((_key(m) for m in map(FILENAME_RE.match, names) if m), default=None)
    if newest is None:
        number, width, major, minor = 0, 3, 1, -1
    else:
        number, major, minor, width = newest
    step = 1 + skip
    return Slot(str(number + step).zfill(width), major, minor + step)


def _key(match: re.Match) -> tuple[int, int, int, int]:
    """(version, major, minor, digits): the newest file sorts last."""
    digits = match.group(1)
    return int(digits), int(match.group(2)), int(match.group(3)), len(digits)


def renumbered(path: Path, slot: Slot) -> Path:
    """`path` moved to `slot`, its description kept: 006_v1.6_b.sql → 007_v1.7_b.sql."""
    match = FILENAME_RE.match(path.name)
    return path.with_name(slot.filename(match.group(4)))


def in_git_work_tree(directory: Path) -> bool:
    """True when `directory` or a folder above it holds `.git` (a directory, or the file of a
    worktree or submodule)."""
    start = Path(directory).resolve()
    return any((folder / ".git").exists() for folder in (start, *start.parents))


def move_command(source: Path, target: Path) -> str:
    """`git mv SOURCE TARGET` inside a git work tree (history follows the file), else `mv`."""
    tool = "git mv" if in_git_work_tree(source.parent) else "mv"
    return f"{tool} {shown_path(source)} {shown_path(target)}"
