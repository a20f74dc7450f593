"""The guide's pre-deploy checklist over migration files, on pglast's parse tree.

Pure: reads files, never connects to a database. The rules: docs/reference.md, "Lint".
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files import discovery, django_names, layouts, redact
from schema_audit.files.discovery import line_of
from schema_audit.files.effects import side_effects
from schema_audit.files.header import Header, parse_header
from schema_audit.files.lint.finding import (  # noqa: F401 (the linter's public names)
    ERROR,
    RULES,
    SQUAWK_RULES,
    TYPE_RULES,
    WARNING,
    Finding,
)
from schema_audit.files.lint.guide import GuideChecker
from schema_audit.files.lint.safety import SafetyChecker
from schema_audit.files.paths import shown_path
from schema_audit.files.statements import Statement, parse, transaction_control

# Without UAP_LINT_PG_VERSION and a server to ask: the oldest major version still supported.
DEFAULT_PG_VERSION = 15

_REQUIRED_HEADER = ("migration", "version", "description", "rollback")


def check(
    paths: list[Path] | None,
    directory: Path,
    *,
    pg_version: int = DEFAULT_PG_VERSION,
    type_rules: bool = False,
) -> dict:
    """Lint the given files, or every migration in `directory`; findings and counts.

    `pg_version` is the major version the files will run on (some rules depend on it);
    `type_rules` adds squawk's column type preferences (prefer-bigint-over-int, ...).
    Another runner's folder (dbmate, diesel, ...) is linted as the runner reads it: the SQL
    of each up part, without this runner's header and name rules.
    """
    if paths is None:
        listing = layouts.scan(directory)
        layout = layouts.detect(listing, discovery.sniff)
        if layout != layouts.UAP:
            return _summary(*_foreign(directory, layout, pg_version), pg_version, type_rules)
        paths = [path for path, _ in listing.sql]
        count, findings = 0, []
    else:
        paths, count, findings = _given_foreign(paths, pg_version)
    findings += [_finding(problem) for problem in discovery.duplicate_problems(paths)]
    for path in paths:
        findings += lint_file(path, pg_version)
    return _summary(count + len(paths), findings, pg_version, type_rules)


def _given_foreign(paths: list[Path], pg_version: int) -> tuple[list[Path], int, list[Finding]]:
    """Given files that belong to another runner's folder, linted as that runner reads them
    (a pre-commit hook passes the changed files); the others, returned to lint as ours."""
    by_folder: dict[Path, list[Path]] = {}
    for path in paths:
        folder = path.parent
        if path.name in ("up.sql", "down.sql") and layouts.DIESEL_RE.match(folder.name):
            folder = folder.parent  # a diesel migration is a folder of its own
        folder = _sqitch_project(folder) or folder
        by_folder.setdefault(folder, []).append(path)
    ours, count, findings = [], 0, []
    for folder, given in by_folder.items():
        try:
            layout = layouts.detect(layouts.scan(folder), discovery.sniff)
        except InvalidMigration:
            layout = layouts.UAP  # each file is then judged as this runner's
        if layout == layouts.UAP:
            ours += given
            continue
        wanted = {str(path) for path in given}
        migrations, problems = discovery.collect(folder, layout)
        chosen = [m for m in migrations if str(m.path) in wanted]
        findings += [_finding(p) for p in problems if str(p.path) in wanted]
        for migration in chosen:
            findings += lint_migration(migration, pg_version)
        count += len(given)
    return ours, count, findings


def _sqitch_project(folder: Path) -> Path | None:
    """The sqitch project a script's folder is in (`deploy/`, `revert/`, `verify/` or a folder
    of theirs, beside `sqitch.plan`), else None."""
    for parent in (folder, *folder.parents):
        if parent.name in ("deploy", "revert", "verify"):
            if (parent.parent / "sqitch.plan").exists():
                return parent.parent
    return None


def _summary(files: int, findings: list[Finding], pg_version: int, type_rules: bool) -> dict:
    if not type_rules:
        findings = [f for f in findings if f.rule not in TYPE_RULES]
    findings = [replace(f, path=shown_path(f.path)) for f in findings]
    findings.sort(key=lambda f: (f.path, f.line, f.rule))
    return {
        "files": files,
        "pg_version": pg_version,
        "errors": sum(f.level == ERROR for f in findings),
        "warnings": sum(f.level == WARNING for f in findings),
        "findings": [f.as_dict() | {"text": str(f)} for f in findings],
    }


def _foreign(directory: Path, layout: str, pg_version: int) -> tuple[int, list[Finding]]:
    """The migrations of another runner's folder and their findings."""
    migrations, problems = discovery.collect(directory, layout)
    findings = [_finding(problem) for problem in problems]
    for migration in migrations:
        findings += lint_migration(migration, pg_version)
    return len(migrations) + len({str(p.path) for p in problems}), findings


def lint_migration(migration: discovery.MigrationFile, pg_version: int) -> list[Finding]:
    """The SQL rules over what a file of another runner's layout runs going up; lines are
    those of its file (a dbmate or goose up section starts at its marker)."""
    where, text = str(migration.path), migration.sql
    found = _sql(where, text, migration.header, pg_version)
    found += [
        Finding(where, c.line, "transaction-control", f"{c.words}: the runner manages it")
        for c in transaction_control(text)
    ]
    found += _secrets(where, text)
    if migration.empty:
        found.append(Finding(where, 1, "empty-migration", "no statements: recorded, nothing run"))
    shift = migration.first_line - 1
    return [replace(f, line=f.line + shift) for f in found]


def lint_file(path: Path, pg_version: int = DEFAULT_PG_VERSION) -> list[Finding]:
    """Every finding of one file, minus the rules its `-- Lint-ignore:` header disables.

    What discovery refuses comes from discovery itself, so lint and the runner agree.
    """
    where = str(path)
    match = discovery.FILENAME_RE.match(path.name)
    found = [] if match else [_finding(discovery.name_problem(path))]
    trouble = discovery.kind_problem(path)
    if trouble:
        return found + [_finding(trouble)]
    try:
        text = discovery.read_text(path)
    except InvalidMigration as exc:
        return found + [_finding(exc)]
    header = parse_header(text)
    version = match.group(1) if match else None
    problems = discovery.text_problems(path, text, header, version)
    found += [_finding(p) for p in problems]
    if not any(p.rule == "empty-file" for p in problems):  # which says to add the header
        found += _header(where, header)
    depends = [(path, header.lines.get("depends"), header.dependencies)]
    found += [_finding(p) for p in django_names.unknown_problems(depends)]
    ignored, unknown = _ignored(header)
    found += [
        Finding(where, header.lines.get("lint_ignore", 1), "lint-ignore", f"unknown rule {r!r}")
        for r in unknown
    ]
    if not header.is_retired:  # a retired file's SQL never runs: its safety is moot
        found += _sql(where, text, header, pg_version)
        # The runner's own test, so that lint and a run cannot disagree.
        found += [
            Finding(
                where,
                c.line,
                "transaction-control",
                f"{c.words}: the runner manages transactions; remove it",
            )
            for c in transaction_control(text)
        ]
    found += _secrets(where, text)
    if header.lines and not discovery.has_statements(text):
        found.append(
            Finding(
                where,
                1,
                "empty-migration",
                "no statements: it will be recorded as applied without running anything",
            )
        )
    return [f for f in found if f.rule == "lint-ignore" or not ignored & {f.rule, *f.squawk}]


def _secrets(where: str, text: str) -> list[Finding]:
    """A password literal in a file lives on in git and every checkout (stored copies are
    masked, the file is not)."""
    return [
        Finding(
            where,
            line_of(text, start),
            "secret-in-migration",
            "password literal; set it outside migrations (e.g. psql's \\password, or a "
            "deploy step reading a secret store)",
        )
        for start, _ in redact.secret_spans(text)
    ]


def _finding(problem: InvalidMigration) -> Finding:
    """A discovery problem as a lint error."""
    return Finding(str(problem.path), problem.line or 1, problem.rule, problem.reason)


def _header(where: str, header: Header) -> list[Finding]:
    found = [
        Finding(where, 1, "header-missing", f"add `-- {name.title()}:` to the header")
        for name in _REQUIRED_HEADER
        if not getattr(header, name).strip()
    ]
    if header.rollback_is_placeholder:
        found.append(
            Finding(
                where,
                header.lines.get("rollback", 1),
                "rollback-placeholder",
                "`-- Rollback:` is a placeholder; write the SQL that undoes this file "
                "(`--rollback` runs it)",
            )
        )
    return found


def _ignored(header: Header) -> tuple[set[str], list[str]]:
    names = [n for n in re.split(r"[\s,]+", header.lint_ignore.strip()) if n]
    return set(names), [n for n in names if n not in RULES and n not in SQUAWK_RULES]


def _sql(where: str, text: str, header: Header, pg_version: int) -> list[Finding]:
    if discovery.META_RE.search(text):
        return []  # reported by discovery, line by line; the text is not SQL
    try:
        statements = parse(text, where)
    except InvalidMigration as exc:
        return [Finding(where, exc.line or 1, "parse-error", exc.reason)]
    safety = SafetyChecker(where, pg_version, header.transactional)
    checked = GuideChecker(where, text, header).run(statements) + safety.run(statements)
    return checked + _side_effects(where, statements)


def _side_effects(where: str, statements: list[Statement]) -> list[Finding]:
    """Statements a dry run or trace cannot take back: they act on the real server."""
    return [
        Finding(
            where,
            statement.line,
            "dry-run-side-effect",
            f"{effect}; a dry run and a trace run it too, and their rollback does not undo it",
        )
        for statement in statements
        for effect in side_effects(statement.node)
    ]
