"""sqitch.plan as sqitch writes and reads it: what is a change, a tag, a note; the wrapper of
a script taken out with every other byte and line kept. Pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from schema_audit.files.sqitch import unwrapped, with_verify
from schema_audit.files.sqitch_plan import parse_plan

WHO = "Marge N. O'Vera <marge@example.com>"
PATH = Path("sqitch.plan")


def parsed(*lines: str):
    return parse_plan("%project=flipr\n" + "\n".join(lines) + "\n", PATH)


def test_notes_comments_operators_and_folders_are_sqitchs_own():
    plan, problems = parsed(
        "  # a comment line",
        f"+appschema 2024-01-01T00:00:00Z {WHO} # a note # with a hash",
        f"functions/touch [appschema] 2024-01-02T00:00:00Z {WHO}",
        f"@v1.0   2024-01-03T00:00:00Z {WHO}",
        f"flipr_v2 [flipr:appschema @v1.0 functions/touch@v1.0] 2024-01-04T00:00:00Z {WHO}",
    )
    assert problems == []
    assert [c.name for c in plan.changes] == ["appschema", "functions/touch", "flipr_v2"]
    assert plan.tags == {"v1.0": 5} and plan.project == "flipr"


def test_rework_tags_are_those_between_two_occurrences():
    plan, problems = parsed(
        f"a 2024-01-01T00:00:00Z {WHO}",
        f"@v1 2024-01-02T00:00:00Z {WHO}",
        f"b 2024-01-02T00:00:00Z {WHO}",
        f"@v2 2024-01-03T00:00:00Z {WHO}",
        f"a 2024-01-04T00:00:00Z {WHO}",
        f"@v3 2024-01-05T00:00:00Z {WHO}",
    )
    assert problems == []
    assert [c.rework_tags for c in plan.changes] == [["v1", "v2"], [], []]


@pytest.mark.parametrize(
    "line, message",
    [
        pytest.param(f"a [b 2024-01-01T00:00:00Z {WHO}", "is not a line sqitch reads",
                     id="unclosed-bracket"),
        pytest.param(f"a 2024-01-01 {WHO}", "is not a line sqitch reads", id="short-date"),
        pytest.param(f"a- 2024-01-01T00:00:00Z {WHO}", "starts or ends with punctuation",
                     id="trailing-punctuation"),
        pytest.param(f"a^2 2024-01-01T00:00:00Z {WHO}", "and digits", id="looks-like-a-ref"),
        pytest.param(f"a/../b 2024-01-01T00:00:00Z {WHO}", "`..` folder", id="dot-dot"),
        pytest.param(f"@v1 2024-01-01T00:00:00Z {WHO}", "before any change", id="early-tag"),
        pytest.param("%=x", "is not a pragma", id="bad-pragma"),
        pytest.param(f"a [!] 2024-01-01T00:00:00Z {WHO}", "is not `[!][project:]change[@tag]`",
                     id="empty-conflict"),
    ],
)  # fmt: skip
def test_lines_sqitch_refuses_are_named_by_line(line, message):
    _, problems = parsed(line)
    assert [(p.line, message in p.reason) for p in problems] == [(2, True)], problems


def test_a_plan_without_a_project_is_refused_at_line_1():
    _, problems = parse_plan(f"a 2024-01-01T00:00:00Z {WHO}\n", PATH)
    assert [p.line for p in problems] == [1] and "%project" in problems[0].reason


def test_the_wrapper_goes_and_every_line_stays_where_it_was():
    text = "-- Deploy x\n\nBEGIN;\n\nCREATE TABLE t (id int);\n  -- kept\nCOMMIT;\n-- after\n"
    found: list = []
    body = unwrapped(text, Path("deploy/x.sql"), "deploy", found)
    assert found == []
    assert body == "-- Deploy x\n\n\n\nCREATE TABLE t (id int);\n  -- kept\n\n-- after\n"
    assert body.count("\n") == text.count("\n")


def test_a_script_that_does_not_parse_still_loses_its_wrapper():
    """The run reports the syntax error at its line, not the BEGIN and COMMIT around it."""
    text = "-- x\nBEGIN;\nCREATE TABLE t (id int;\nSELECT ';';\nCOMMIT; -- end\n"
    found: list = []
    body = unwrapped(text, Path("deploy/x.sql"), "deploy", found)
    assert (found, body) == ([], "-- x\n\nCREATE TABLE t (id int;\nSELECT ';';\n -- end\n")


@pytest.mark.parametrize("select", ["SELECT 'ünï ✓';", "SELECT 'ünï ✓' FROM;"])
def test_offsets_are_characters_with_or_without_the_parser(select):
    """Text beyond ASCII, parsed or (a syntax error) scanned: the same characters go."""
    text = f"-- Déploy ✓\nBEGIN;\n{select}\nCOMMIT;\n-- fin é\n"
    assert unwrapped(text, Path("x.sql"), "deploy", []) == f"-- Déploy ✓\n\n{select}\n\n-- fin é\n"


def test_a_statement_spread_over_lines_keeps_its_line_breaks_when_taken_out():
    text = "begin\n  transaction\n;\nSELECT 1;\ncommit work;"
    body = unwrapped(text, Path("deploy/x.sql"), "deploy", [])
    assert body == "\n\n\nSELECT 1;\n"


@pytest.mark.parametrize(
    "text, kind, line",
    [
        pytest.param("BEGIN;\nSELECT 1;\nROLLBACK;\n", "deploy", [1, 3], id="deploy-rolls-back"),
        pytest.param("SELECT 1;\nCOMMIT;\n", "deploy", 2, id="commit-without-begin"),
        pytest.param("BEGIN;\nSELECT 1;\n", "revert", 1, id="begin-without-commit"),
        pytest.param("BEGIN;\nSAVEPOINT a;\nRELEASE a;\nCOMMIT;\n", "deploy", 0, id="savepoint"),
        pytest.param("BEGIN;\nSELECT 1;\nROLLBACK;\n", "verify", 0, id="verify-rolls-back"),
        pytest.param("BEGIN;\nDO $$ BEGIN PERFORM 1; END $$;\nCOMMIT;\n", "deploy", 0,
                     id="plpgsql-begin"),
    ],
)  # fmt: skip
def test_other_transaction_control_is_named_by_its_line(text, kind, line):
    found: list = []
    unwrapped(text, Path(f"{kind}/x.sql"), kind, found)
    lines = line if isinstance(line, list) else [line] if line else []
    assert [p.line for p in found] == lines


def test_a_verify_never_continues_an_unended_last_statement():
    joined = with_verify("SELECT 1 -- no semicolon", "SELECT 2;\n", "x.sql")
    assert joined.startswith("SELECT 1 -- no semicolon\n;\n\n-- verify/x.sql: sqitch's verify")
    assert joined.endswith("SELECT 2;\n")
