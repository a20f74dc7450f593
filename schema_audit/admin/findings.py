"""The planner's findings (drift reasons, problems) as the admin words them: the neutral
message, then what resolves it and the command an operator runs; the admin changes nothing."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString

from schema_audit.remedies import Fix

_WHAT = {
    Fix.ACCEPT_CHECKSUM: "restore the file, or have an operator accept its new checksum",
    Fix.REPAIR: "an operator checks the schema, then settles the row",
    Fix.OUT_OF_ORDER: "renumber the file, or have an operator apply it out of order",
    Fix.ROLLBACK: "have an operator roll it back",
}


def text(finding: str) -> str:
    """`<message>; <what resolves it>: manage.py uap_migrate <flags>`, or the finding as is."""
    remedy = getattr(finding, "remedy", None)
    if remedy is None:
        return str(finding)
    what = _WHAT.get(remedy.fix, "an operator resolves it")
    return f"{finding.message}; {what}: manage.py uap_migrate {remedy.command()}"


def html(finding: str) -> SafeString:
    """`text`, with the command as code."""
    remedy = getattr(finding, "remedy", None)
    if remedy is None:
        return format_html("{}", finding)
    return format_html(
        "{}; {}: <code>manage.py uap_migrate {}</code>",
        finding.message,
        _WHAT.get(remedy.fix, "an operator resolves it"),
        remedy.command(),
    )
