"""How a migration file's path is shown to people: relative to a base, never the whole disk."""

from __future__ import annotations

from pathlib import Path


def shown_path(path: Path | str, base: Path | str | None = None, *, private: bool = False) -> str:
    """`path` relative to `base` (the working directory by default) when it lies below it.

    Elsewhere it is shown as given, as compilers print paths (GitHub annotates a pull request's
    line only by a repository-relative path), or, when `private`, by its name only: a server's
    absolute layout (home directories, release folders) is none of an auditor's business.
    """
    where = Path(path)
    root = Path.cwd() if base is None else Path(base)
    try:
        if private:
            where, root = where.resolve(), root.resolve()
        elif not where.is_absolute():
            return str(path)
        return str(where.relative_to(root))
    except (ValueError, OSError):
        return where.name if private else str(path)
