"""sqitch's project folders read as they are: `sqitch.plan` in plan order, each change's
deploy, revert and verify scripts as one MigrationFile. No database.

A change's version is its name, and `name#2`, `name#3`, ... for the second and later
occurrences of a reworked change (`#` is in no sqitch name), so a version keeps naming the
same script when the plan is reworked again: sqitch's `name@tag` moves from one occurrence to
another as tags and reworks are added. Each runs at its place in the plan. What runs is the
deploy script with its `BEGIN;` ... `COMMIT;` wrapper taken out (sqitch hands it to psql; the
runner gives each file a transaction of its own), everything else kept byte for byte and every
line at its number. The verify script follows it in the same text, after a marker comment: it
runs in the deploy's transaction, so a verify that raises fails the change and nothing of it
stays, and --show, --trace, dry runs and the recorded events all show the SQL that ran. The
revert script is the Rollback. The checksum is over the deploy script alone, as sqitch's own
script hash is.
"""

from __future__ import annotations

import re
from pathlib import Path

from schema_audit.exceptions import InvalidMigration
from schema_audit.files import layouts
from schema_audit.files.foreign_file import text_of
from schema_audit.files.header import Header
from schema_audit.files.sections import RULE
from schema_audit.files.source import (
    MigrationFile,
    checksum,
    has_statements,
    line_of,
    meta_problems,
    outside_problem,
)
from schema_audit.files.sqitch_plan import Change, Plan, parse_plan, plan_problem
from schema_audit.files.statements import outside_transaction, spans, transaction_control

PLAN = "sqitch.plan"
SCRIPTS = ("deploy", "revert", "verify")
# The wrapper sqitch's templates put around a script, and only that: `BEGIN ISOLATION LEVEL
# ...` says more than "one transaction", so it stays and is refused.
_OPENS_RE = re.compile(r"(?:begin|start)(?:\s+(?:work|transaction))?", re.IGNORECASE)
_CLOSES_RE = re.compile(r"(?:commit|end)(?:\s+(?:work|transaction))?", re.IGNORECASE)
# A verify script ends with ROLLBACK in sqitch's template: it checks, and changes nothing.
_VERIFY_CLOSES_RE = re.compile(
    r"(?:rollback|abort|commit|end)(?:\s+(?:work|transaction))?", re.IGNORECASE
)


def read(found: layouts.Scan) -> tuple[list[MigrationFile], list]:
    """Every change of the plan in a folder as a MigrationFile, and every problem: the
    plan's, its scripts', and scripts or `.sql` files that no plan line runs."""
    directory = found.directory
    path = directory / PLAN
    if not path.exists() and not path.is_symlink():
        missing = f"has no {PLAN}; a sqitch folder holds its plan beside deploy/ and revert/"
        return [], [InvalidMigration(missing, directory, rule=RULE)]
    text, trouble = text_of(path)
    if trouble:
        return [], [trouble]
    plan, problems = parse_plan(text, path)
    migrations, used, seen = [], set(), {}
    for change in plan.changes:
        seen[change.name] = seen.get(change.name, 0) + 1
        built = _migration(directory, plan, change, used, problems, seen[change.name])
        if built:
            migrations.append(built)
    if not problems:  # a line the plan could not read would show its scripts as stray
        problems += _unplanned(directory, used)
    problems += [
        InvalidMigration(
            f"is beside {PLAN}, not in deploy/; sqitch never runs it", stray, rule="file-name"
        )
        for stray, _ in found.sql
    ]
    return migrations, problems


def _migration(
    directory: Path, plan: Plan, change: Change, used: set, problems: list, occurrence: int
) -> MigrationFile | None:
    """The MigrationFile of the `occurrence`-th change of its name, or None with its problems
    added to `problems`."""
    suffix = _rework_suffix(directory, change)
    script = f"{change.name}{suffix}.sql"
    used.add(script)
    deploy = directory / "deploy" / script
    if not deploy.exists() and not deploy.is_symlink():
        problems.append(
            plan_problem(
                plan,
                change.line,
                f"plans change {change.name}, but its deploy script deploy/{script} is "
                "missing; add it, or remove the line",
            )
        )
        return None
    texts, found = {}, []
    for kind in SCRIPTS:
        where = directory / kind / script
        text, trouble = text_of(where) if kind == "deploy" or where.exists() else ("", None)
        trouble = trouble or (outside_problem(where, directory) if text else None)
        body = unwrapped(text, where, kind, found) if not trouble else ""
        found += [trouble] if trouble else meta_problems(body, where)
        texts[kind] = (body, text)
    if found:
        problems += found
        return None
    deploy_body, deploy_text = texts["deploy"]
    verify = texts["verify"][0]
    sql = with_verify(deploy_body, verify, script) if has_statements(verify) else deploy_body
    # The verify's own lines: an error in it is named at its line of verify/<script>.
    appended = ((line_of(sql, len(sql) - len(verify)), directory / "verify" / script),)
    transactional = not outside_transaction(deploy_body)
    return MigrationFile(
        version=change.name if occurrence == 1 else f"{change.name}#{occurrence}",
        name=change.name,
        path=deploy,
        sql=sql,
        checksum=checksum(deploy_text),
        header=Header(
            rollback=texts["revert"][0],
            transaction="" if transactional else "none",
            extra={"Project": plan.project},
        ),
        empty=not has_statements(sql),
        order=(0, change.index),
        appended=appended if sql is not deploy_body else (),
    )


def _rework_suffix(directory: Path, change: Change) -> str:
    """`@tag` for a change a later rework replaced: sqitch's first tag between the two whose
    deploy script exists, else the first tag; '' for the latest occurrence."""
    for tag in change.rework_tags:
        if (directory / "deploy" / f"{change.name}@{tag}.sql").exists():
            return f"@{tag}"
    return f"@{change.rework_tags[0]}" if change.rework_tags else ""


def unwrapped(text: str, path: Path, kind: str, problems: list) -> str:
    """`text` without the outermost `BEGIN;` and `COMMIT;` (a verify's `ROLLBACK;`) of
    sqitch's templates, their line breaks kept; any other transaction control is a problem
    named by its line."""
    pieces = _ends(text)
    if len(pieces) >= 2:
        opens, closes = (text[start:stop] for start, stop in (pieces[0], pieces[-1]))
        ends = _VERIFY_CLOSES_RE if kind == "verify" else _CLOSES_RE
        if _OPENS_RE.fullmatch(opens) and ends.fullmatch(closes):
            text = _blanked(_blanked(text, *pieces[-1]), *pieces[0])
    problems += [
        InvalidMigration(
            f"{found.words} inside a sqitch {kind} script, besides the BEGIN and COMMIT around "
            "it; the runner runs each change in one transaction of its own: remove it",
            path,
            found.line,
            rule="transaction-control",
        )
        for found in transaction_control(text)
    ]
    return text


def _ends(text: str) -> list[tuple[int, int]]:
    """The first and last statements of `text`, each as (start, stop) without its `;`: by
    PostgreSQL's parser, or for text it refuses (a syntax error the run reports, or a newer
    server's syntax) by its scanner, statements ending at each `;` outside strings."""
    pieces = spans(text)
    if pieces is None:
        from pglast import parser

        try:
            tokens = [t for t in parser.scan(text) if t.name not in ("SQL_COMMENT", "C_COMMENT")]
        except parser.ParseError:
            return []  # an unterminated string or comment: nothing to take out
        pieces, start, stop = [], None, 0
        for token in tokens:
            if token.name == "ASCII_59":
                pieces += [(start, stop)] if start is not None else []
                start = None
            else:
                start, stop = token.start if start is None else start, token.end + 1
        pieces += [(start, stop)] if start is not None else []
        if pieces and text[pieces[-1][0] :][:3].lower() == "end":
            pieces.pop()  # the end of a `BEGIN ATOMIC` body split at its `;`, not a COMMIT
    return pieces[:1] + pieces[1:][-1:]


def _blanked(text: str, start: int, stop: int) -> str:
    """`text` without the statement at `start:stop` and its `;`, its line breaks kept."""
    end = stop + (match.end() if (match := re.match(r"\s*;", text[stop:])) else 0)
    return text[:start] + "\n" * text.count("\n", start, end) + text[end:]


def with_verify(deploy: str, verify: str, script: str) -> str:
    """The deploy text, then the verify script after a marker line (a `;` first when the
    deploy's last statement has none, so the verify does not continue it)."""
    pieces = spans(deploy) or []
    unended = pieces and not re.match(r"\s*;", deploy[pieces[-1][1] :])
    glue = ("" if deploy.endswith("\n") else "\n") + (";\n" if unended else "")
    marker = f"\n-- verify/{script}: sqitch's verify, run after the deploy in its transaction\n"
    return deploy + glue + marker + verify


def _unplanned(directory: Path, used: set) -> list[InvalidMigration]:
    """Scripts under deploy/, revert/ and verify/ that no change of the plan names."""
    problems = []
    for kind in SCRIPTS:
        folder = directory / kind
        for path in sorted(folder.rglob("*.sql")) if folder.is_dir() else ():
            if path.relative_to(folder).as_posix() not in used:
                problems.append(
                    InvalidMigration(
                        f"is in no line of {PLAN}; sqitch never runs it: add its change to "
                        "the plan (`sqitch add`), or remove the script",
                        path,
                        rule="file-name",
                    )
                )
    return problems
