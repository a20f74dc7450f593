"""Before a fleet changes anything: refuse the whole rollout when a target lacks an approval.

Approvals live in each target's own event log, and each target checks them again under its
lock; these reads only keep the canary from applying what another target would refuse.
They run when UAP_REQUIRE_APPROVAL is on, for the modes that declare them (cli/modes.py).
"""

from __future__ import annotations

from schema_audit import api
from schema_audit.engine import approvals, patches
from schema_audit.exceptions import RefusedRequest, SchemaAuditError


def pending_files_approved(options: dict, targets: list[str]) -> None:
    """Refuse the rollout before any target applies when a pending file lacks an approval."""
    missing = []
    for alias in targets:
        try:
            status = api.migration_status(
                options["dir"], alias, target=options["target"], out_of_order=True
            )
        except SchemaAuditError:
            continue  # unreachable or inconsistent: the target reports it when it runs
        missing += [
            f"{alias}: {item['version']} {item['name']} "
            f"({approvals.reason(item['approval']['state'])})"
            for item in status["pending"]
            if item["approval"]["state"] != "approved"
        ]
    if missing:
        raise RefusedRequest(
            "UAP_REQUIRE_APPROVAL is on and these files are not approved on these targets; "
            "no target was run. Approvals are kept in each database's own event log: approve "
            "on every target (the admin's database selector, or schema_audit.api.approve(..., "
            "database=ALIAS)): " + "; ".join(missing)
        )


def patch_approved(options: dict, targets: list[str]) -> None:
    """Refuse a patch rollout before any target runs it when a target lacks its approval."""
    missing = []
    for alias in targets:
        try:
            state = patches.approval_state(options["patch"], alias)
        except SchemaAuditError:
            continue  # unreadable patch or unreachable target: reported when it runs
        if not state.valid:
            missing.append(f"{alias}: {state.version} ({approvals.reason(state.state)})")
    if missing:
        raise RefusedRequest(
            "UAP_REQUIRE_APPROVAL is on and this patch is not approved on these targets; no "
            "target was run. Approve it on each (schema_audit.api.approve(PATH, "
            "approved_by=..., database=ALIAS)):\n  " + "\n  ".join(missing)
        )
