"""What a mode of `uap_migrate` is: the Mode declaration the table in cli/modes.py is made of."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from schema_audit.cli.integrity import dump_json
from schema_audit.cli.reporter import Reporter
from schema_audit.exceptions import RefusedRequest

TEXT_JSON = ("text", "json")
FLAG = {"action": "store_true"}


def _zero(result: dict) -> int:
    return 0


@dataclass(frozen=True, eq=False)
class Mode:
    """One way to run uap_migrate, and all the command and the fleet need to know of it."""

    name: str  # the option's key; the flag is the name with dashes
    help: str
    call: Callable[[dict], dict]  # the command's options -> the API's result
    render: Callable[[Reporter, dict, int], None]  # the result as text (JSON is common)
    writes: bool = True  # False: only reads (a dry run rolls back), so a fleet reports all
    argument: dict = field(default_factory=lambda: dict(FLAG))  # argparse: action/metavar/nargs
    formats: tuple[str, ...] = TEXT_JSON
    exit_code: Callable[[dict], int] = _zero  # from the API's result
    json_exit_code: bool = False  # the JSON document carries its exit_code
    database: bool = True  # False: runs without a database, never over a fleet
    implies: str | None = None  # given alone, it means that mode too; given with it, it wins
    # Modes that may be given with it as its options (--dry-run, --trace); it wins.
    with_modes: tuple[str, ...] = ()
    words: dict[int, str] | None = None  # a fleet target's status by exit code, if not the usual
    approval: Callable[[dict, list[str]], None] | None = None  # a fleet's check before any run

    @property
    def flag(self) -> str:
        """`--accept-checksum` for accept_checksum."""
        return "--" + self.name.replace("_", "-")

    def run(self, options: dict) -> tuple[dict, int]:
        """The API's result for these options and this mode's exit code for it."""
        if self.name != "repair" and given(options.get("mark")):  # --repair's own option
            raise RefusedRequest("--mark goes with --repair NNN")
        result = self.call(options)
        return result, self.exit_code(result)

    def document(self, result: dict, code: int) -> dict:
        """The result as --json prints it; a fleet keeps it as the target's result."""
        return {**result, "exit_code": code} if self.json_exit_code else result

    def show(self, report: Reporter, result: dict, code: int) -> None:
        """Write the result: one JSON document, or this mode's text in the chosen format."""
        if report.as_json:
            report.out.write(dump_json(self.document(result, code)))
        else:
            self.render(report, result, code)


def given(value: object) -> bool:
    """Whether an option was given: a flag set, a value, or --lint's (maybe empty) list."""
    return value is not None and value is not False and value != ""
