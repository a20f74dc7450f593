"""What resolves a refusal, kept apart from the words that explain it.

The planner and the operations say what is wrong in neutral words and attach a `Remedy`: the
operation that resolves it (accept the checksum, repair the row, ...) and the advice around it.
Each edge words the operation for its readers: the command names its flags
(`Remedy.for_command`, `for_command`), the admin says which command an operator runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Fix(StrEnum):
    """An operation that resolves a refusal."""

    ACCEPT_CHECKSUM = "accept_checksum"  # record the file's new checksum
    REPAIR = "repair"  # settle a row a stopped run left running
    OUT_OF_ORDER = "out_of_order"  # apply a file numbered below an applied one
    FORCE = "force"  # do it even so
    PATCH = "patch"  # run SQL by hand, recorded as a patch
    ROLLBACK = "rollback"  # run a version's Rollback SQL


# How `uap_migrate` spells each operation.
COMMAND = {
    Fix.ACCEPT_CHECKSUM: "--accept-checksum {version}",
    Fix.REPAIR: "--repair {version} --mark {mark}",
    Fix.OUT_OF_ORDER: "--out-of-order",
    Fix.FORCE: "--force",
    Fix.PATCH: "--patch",
    Fix.ROLLBACK: "--rollback {version}",
}


@dataclass(frozen=True)
class Remedy:
    """An operation (with its version and status to mark) and the advice that names it:
    `advice` follows the neutral message, with `{fix}` where the operation is named."""

    fix: Fix
    advice: str
    version: str | None = None
    mark: str | None = None

    def command(self) -> str:
        """The operation as `uap_migrate`'s flags: `--repair 003 --mark completed`."""
        return COMMAND[self.fix].format(version=self.version, mark=self.mark)

    def for_command(self) -> str:
        """The advice as the command words it."""
        return self.advice.format(fix=self.command())


def for_command(error: BaseException) -> str:
    """An error's neutral message followed by its remedy as the command words it."""
    remedy = getattr(error, "remedy", None)
    return str(error) + (remedy.for_command() if remedy else "")


class Advice(str):
    """A finding of the planner (a drift reason, a problem) with its remedy.

    As a string it reads as the command has always printed it (`--status`, `--json`, the
    API's `problems`): the message, then the remedy in the command's words. `message` is
    the neutral part, for readers who do not run the command.
    """

    message: str
    remedy: Remedy | None

    def __new__(cls, message: str, remedy: Remedy | None = None) -> Advice:
        text = message + (remedy.for_command() if remedy else "")
        advice = super().__new__(cls, text)
        advice.message, advice.remedy = message, remedy
        return advice

    def prefixed(self, prefix: str) -> Advice:
        """The same advice about a named subject: `prefix` before the message."""
        return Advice(prefix + self.message, self.remedy)

    def __reduce__(self):
        return (Advice, (self.message, self.remedy))
