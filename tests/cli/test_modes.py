"""The table of modes drives the command: its arguments, --format, the fleet's rules and the
Resume with: line all follow each mode's one declaration. No database."""

from __future__ import annotations

import re
import shlex

import pytest
from django.core.management import load_command_class

from schema_audit.cli import fleet, modes
from schema_audit.exceptions import RefusedRequest
from tests.conftest import ROOT


def parser():
    return load_command_class("schema_audit", "uap_migrate").create_parser(
        "manage.py", "uap_migrate"
    )


def argv_of(mode: modes.Mode) -> list[str]:
    """The command line that asks for `mode`."""
    if mode.argument.get("action") == "store_true":
        return [mode.flag]
    return [mode.flag, "a.sql" if "nargs" in mode.argument else "002"]


def options_of(argv: list[str]) -> dict:
    return vars(parser().parse_args(argv))


def test_every_mode_is_an_argument_of_the_command_with_its_help():
    """Each declared mode is one option of the parser, with its help; nothing else is a mode."""
    actions = {action.dest: action for action in parser()._actions}
    for mode in modes.MODES:
        action = actions[mode.name]
        assert action.option_strings == [mode.flag]
        assert action.help == mode.help
        assert action.metavar == mode.argument.get("metavar")
    assert modes.APPLY.name not in actions  # the default has no flag


def test_modes_exclude_each_other_except_the_one_that_implies_another():
    """The mutually exclusive group is the table less --trace, which goes with --dry-run, and
    --rollback-to, which takes --dry-run and --trace as its options."""
    (group,) = parser()._mutually_exclusive_groups
    grouped = {action.dest for action in group._group_actions}
    assert grouped == {
        mode.name for mode in modes.MODES if not mode.implies and not mode.with_modes
    }
    assert grouped.isdisjoint({"trace", "rollback_to"})
    assert modes.mode_of(options_of(["--dry-run", "--trace"])).name == "trace"
    assert modes.mode_of(options_of(["--trace"])).name == "trace"
    with pytest.raises(RefusedRequest, match="--trace goes with --dry-run"):
        modes.mode_of(options_of(["--plan", "--trace"]))


@pytest.mark.parametrize("mode", modes.MODES, ids=lambda mode: mode.name)
def test_the_command_line_of_a_mode_selects_it(mode):
    """Given on the command line, each mode (and no flag at all, the apply) is what runs."""
    assert modes.mode_of(options_of(argv_of(mode))) is mode
    assert modes.mode_of(options_of([])) is modes.APPLY
    assert modes.mode_of(options_of(["--lint"])).name == "lint"  # an empty list is given


def test_format_choices_and_help_come_from_the_modes_formats():
    """--format offers every mode's formats and says which mode has which."""
    (action,) = [a for a in parser()._actions if a.dest == "format"]
    assert set(action.choices) == {fmt for mode in modes.MODES for fmt in mode.formats}
    assert action.help == "output: text or json; markdown with --trace; github or gcc with --lint"


@pytest.mark.parametrize(
    "argv, allowed",
    [
        (["--format", "markdown", "--trace"], "markdown"),
        (["--format", "gcc", "--lint"], "gcc"),
        (["--format", "json", "--verify"], "json"),
        (["--format", "markdown", "--plan"], "--format markdown is not available for this mode"),
        (["--format", "gcc", "--trace"], "--format gcc is not available for --trace"),
        (["--format", "markdown", "--lint"], "--format markdown is not available for --lint"),
        (["--json", "--format", "text"], "--json and --format text disagree"),
    ],
)
def test_output_format_follows_the_mode(argv, allowed):
    """A format the mode declares is chosen; any other is refused naming the mode's formats."""
    options = options_of(argv)
    mode = modes.mode_of(options)
    if allowed.startswith("-"):
        with pytest.raises(RefusedRequest, match=allowed):
            modes.output_format(mode, options)
    else:
        assert modes.output_format(mode, options) == allowed


@pytest.mark.parametrize(
    "mode", [m for m in modes.MODES if m.database], ids=lambda mode: mode.name
)
def test_resume_line_runs_the_same_mode_again(mode):
    """The Resume with: line of a fleet in any mode parses back to that mode and its value."""
    options = options_of([*argv_of(mode), "--reason", "why not", "--parallel", "2"])
    line = fleet.resume_command(options, ["b", "c"], "20260101T120000Z-a1b2c3")
    argv = shlex.split(line)[3:]
    again = options_of(argv)
    assert modes.mode_of(again) is mode
    assert again[mode.name] == options[mode.name]
    assert again["database"] == "b,c" and again["rollout"] == "20260101T120000Z-a1b2c3"
    assert again["reason"] == "why not" and again["parallel"] == 2


@pytest.mark.parametrize(
    "argv", [["--rollback-to", "001", "--dry-run"], ["--rollback-to", "001", "--trace"]]
)
def test_rollback_to_takes_dry_run_and_trace_and_resumes_with_them(argv):
    """--rollback-to wins over --dry-run and --trace, and its Resume with: line keeps them."""
    options = options_of(argv)
    assert modes.mode_of(options).name == "rollback_to"
    line = fleet.resume_command(options, ["b"], "20260101T120000Z-a1b2c3")
    again = options_of(shlex.split(line)[3:])
    assert modes.mode_of(again).name == "rollback_to" and again["rollback_to"] == "001"
    assert (again["dry_run"], again["trace"]) == (options["dry_run"], options["trace"])


@pytest.mark.parametrize("other", [["--plan"], ["--show", "002"], ["--rollback", "002"]])
def test_rollback_to_refuses_any_other_mode(other):
    """Another mode beside --rollback-to is refused, naming the two it takes."""
    with pytest.raises(RefusedRequest, match="only --dry-run or --trace do"):
        modes.mode_of(options_of(["--rollback-to", "001", *other]))


def test_a_traced_dry_run_resumes_traced():
    """--dry-run --trace and --trace alone both resume as a trace."""
    for argv in (["--dry-run", "--trace"], ["--trace"]):
        line = fleet.resume_command(options_of(argv), ["b"], "20260101T120000Z-a1b2c3")
        assert modes.mode_of(options_of(shlex.split(line)[3:])).name == "trace"


def test_what_a_fleet_reports_on_every_target_and_what_it_checks_for_approvals():
    """Modes that only read never stop a fleet; apply and --patch check approvals first."""
    read_only = {mode.name for mode in modes.MODES if not mode.writes}
    assert read_only >= {"plan", "status", "check", "dry_run", "trace", "verify", "evidence"}
    assert "show" in read_only
    assert modes.APPLY.writes and modes.BY_NAME["rollback"].writes
    assert modes.BY_NAME["rollback_to"].writes
    approved = {mode.name for mode in (*modes.MODES, modes.APPLY) if mode.approval}
    assert approved == {"apply", "patch"}
    assert {mode.name for mode in modes.MODES if not mode.database} == {"lint", "verify_evidence"}


@pytest.mark.parametrize(
    "name, result, code",
    [
        ("apply", {"failed": 1}, 1),
        ("apply", {"failed": 0}, 0),
        ("plan", {"problems": ["drift"]}, 2),
        ("check", {"problems": [], "migrations": [], "total_pending": 2}, 1),
        ("check", {"problems": [], "migrations": [{"status": "failed"}], "total_pending": 0}, 2),
        ("check", {"problems": [], "migrations": [], "total_pending": 0}, 0),
        ("trace", {"failed": 1}, 1),
        ("lint", {"errors": 3}, 2),
        ("verify", {"ok": False}, 2),
        ("verify_evidence", {"verified": True}, 0),
        ("rollback", {}, 0),
        ("rollback_to", {"errors": []}, 0),
        ("rollback_to", {"errors": [{"exit_code": 1}]}, 1),
        ("rollback_to", {"errors": [{"exit_code": 2}]}, 2),
        ("show", {"drift": "file changed since it was applied"}, 0),
    ],
)
def test_exit_code_is_the_modes_rule_on_its_result(name, result, code):
    """One rule per mode turns the API's result into the exit code, for one database or many."""
    assert modes.BY_NAME[name].exit_code(result) == code


def test_mark_goes_only_with_repair():
    """--mark with another mode is refused before the API is called; --repair needs it."""
    with pytest.raises(RefusedRequest, match="--mark goes with --repair NNN"):
        modes.BY_NAME["rollback"].run(options_of(["--rollback", "002", "--mark", "failed"]))
    with pytest.raises(RefusedRequest, match="--repair needs --mark"):
        modes.BY_NAME["repair"].run(options_of(["--repair", "002"]))


def test_the_developers_guide_lists_every_mode():
    """docs/how-to/develop.md's mode table has a row for each declared mode."""
    guide = (ROOT / "docs" / "how-to" / "develop.md").read_text()
    rows = set(re.findall(r"^\| `(--[\w-]+)", guide, re.MULTILINE))
    assert rows == {mode.flag for mode in modes.MODES}
