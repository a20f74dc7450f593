"""Cost of the compliance workflow: approval checks, access records and the audit stream.

    .venv/bin/python bench/compliance_bench.py [--files 100] [--repeat 50]

Uses a scratch database (`uap_compliance_bench` on the embedded server, or DATABASE_URL when
set: point it at a throwaway database). Writes FILES migration files whose Author is alice,
approves each as bob, then times (p50 over REPEAT): the approval check a required-approval
apply makes before it runs anything, `--plan`'s status with approval states, one access
record (what every audit admin request adds), and the apply of all files with approvals
required, with the audit stream on. Not part of the suite.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uap_project.settings")
os.environ.setdefault("SECRET_KEY", "compliance-bench-only-" + "x" * 40)
os.environ.setdefault("UAP_EMBEDDED_DB", "uap_compliance_bench")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import override_settings  # noqa: E402

from schema_audit import api  # noqa: E402
from schema_audit import db as postgres  # noqa: E402
from schema_audit.engine import approvals  # noqa: E402
from schema_audit.files import discovery  # noqa: E402
from schema_audit.ledger import access  # noqa: E402


def p50(seconds: list[float]) -> str:
    return f"{statistics.median(seconds) * 1000:.2f} ms"


def timed(function, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return samples


def write_files(folder: Path, count: int) -> None:
    for n in range(1, count + 1):
        (folder / f"{n:03d}_v1.{n}_step_{n}.sql").write_text(
            f"-- Migration: step {n}\n-- Version: {n:03d}\n-- Description: bench\n"
            f"-- Author: alice\n-- Rollback: DROP TABLE IF EXISTS b{n};\n--\n\n"
            f"CREATE TABLE IF NOT EXISTS b{n} (id int);\n",
            encoding="utf-8",
        )


def reset() -> None:
    with postgres.connect("default", purpose="bench") as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    call_command("migrate", verbosity=0)
    bob = get_user_model().objects.create_user("bob", "bob@example.com", "x", is_staff=True)
    bob.groups.add(Group.objects.get_or_create(name=approvals.APPROVERS_GROUP)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    stream = logging.getLogger("schema_audit.audit")
    stream.addHandler(logging.NullHandler())
    stream.setLevel(logging.INFO)  # the lines are built, then dropped
    stream.propagate = False
    reset()
    folder = Path(tempfile.mkdtemp(prefix="uap_bench_"))
    write_files(folder, args.files)
    files = discovery.discover(folder)
    api.initialize_tracking()
    start = time.perf_counter()
    for migration in files:
        api.approve(migration.version, approved_by="bob", directory=folder)
    approve_each = (time.perf_counter() - start) / len(files)

    with postgres.connect("default", purpose="bench") as conn:
        check = timed(lambda: approvals.ensure_approved(conn, files), args.repeat)
    status = timed(lambda: api.migration_status(folder), max(5, args.repeat // 5))
    record = timed(lambda: access.record(username="bench", action="view", path="/"), 500)
    with override_settings(UAP_REQUIRE_APPROVAL=True):
        start = time.perf_counter()
        result = api.run_pending(folder)
        run = time.perf_counter() - start
    assert result["successful"] == len(files), result["errors"]

    print(f"{len(files)} files, each approved (approve: {approve_each * 1000:.1f} ms each)")
    print(f"approval check before an apply (all {len(files)} files): p50 {p50(check)}")
    print(f"--plan status with approval states: p50 {p50(status)}")
    print(f"one access record (per audit admin request): p50 {p50(record)}")
    print(
        f"apply of {len(files)} files with approvals required and the stream on: "
        f"{run * 1000:.0f} ms; the approval check is "
        f"{statistics.median(check) / run * 100:.1f}% of it"
    )


if __name__ == "__main__":
    main()
