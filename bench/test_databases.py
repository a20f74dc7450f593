#!/usr/bin/env python3
"""SQL files in a test database against `uap_migrate` on the same files.

Usage: bench/test_databases.py [--files 200] [--repeat 3]
The files' share of Django's test database setup is the time the app's post_migrate receiver
takes inside `create_test_db`; `uap_migrate` applies the same corpus to a freshly migrated
database. Prints both medians and their ratio (goal: at most 1.2).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from run import SERVER, fresh_database, uap_env  # noqa: E402

GOAL = 1.2
HOME = "bench_testdb"  # the alias's own name; Django creates test_bench_testdb beside it


def setup_django(corpus: Path) -> None:
    """The demo project's settings on the bench server, in a test environment."""
    os.environ.update(uap_env(f"{SERVER}/{HOME}"), UAP_MIGRATIONS_DIR=str(corpus))
    os.environ["DJANGO_SETTINGS_MODULE"] = "uap_project.settings"
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()


_applying: list[float] = []  # seconds the post_migrate receiver took, per test database


def time_the_receiver() -> None:
    """Wrap the app's post_migrate receiver to time the files' own share of the setup."""
    from django.db.models.signals import post_migrate

    from schema_audit import test_databases

    uid = "schema_audit.test_databases"
    post_migrate.disconnect(dispatch_uid=uid)

    def timed(**kwargs) -> None:
        started = time.perf_counter()
        test_databases.apply_to_test_database(**kwargs)
        if kwargs.get("plan") is not None:
            _applying.append(time.perf_counter() - started)

    post_migrate.connect(timed, dispatch_uid=uid, weak=False)


def test_database_seconds(enabled: bool) -> float:
    """Wall seconds of one create_test_db (Django's migrations, and the files if enabled)."""
    from django.db import connection
    from django.test import override_settings

    from schema_audit import test_databases

    test_databases._applied.clear()  # each repetition is a new test run
    old_name = connection.settings_dict["NAME"]
    with override_settings(UAP_TEST_DATABASES=enabled):
        started = time.perf_counter()
        connection.creation.create_test_db(verbosity=0, autoclobber=True)
        elapsed = time.perf_counter() - started
    connection.creation.destroy_test_db(old_name, verbosity=0)
    return elapsed


def uap_migrate_seconds(corpus: Path) -> float:
    """Wall seconds of `uap_migrate` on a database Django's migrate has just prepared."""
    from django.core.management import call_command
    from django.db import connections

    name = "bench_testdb_uap"
    fresh_database(name)
    connections.settings["uap"] = {**connections.settings["default"], "NAME": name}
    try:
        call_command("migrate", database="uap", verbosity=0)
        started = time.perf_counter()
        call_command(
            "uap_migrate", "--database", "uap", "--dir", str(corpus), stdout=io.StringIO()
        )
        return time.perf_counter() - started
    finally:
        connections["uap"].close()
        del connections["uap"]
        connections.settings.pop("uap")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(
            [sys.executable, str(BENCH / "gen_corpus.py"), str(args.files), work],
            check=True,
            capture_output=True,
        )
        corpus = Path(work) / "uap"
        fresh_database(HOME)
        setup_django(corpus)
        time_the_receiver()
        on, off, uap, shares = [], [], [], []
        for _ in range(args.repeat):
            off.append(test_database_seconds(False))
            _applying.clear()
            on.append(test_database_seconds(True))
            applying = sum(_applying)
            uap.append(uap_migrate_seconds(corpus))
            shares.append(applying)
    applied = statistics.median(shares)
    direct = statistics.median(uap)
    ratio = applied / direct
    print(f"{args.files} files, median of {args.repeat}:")
    print(f"  test database setup without the files  {statistics.median(off):7.2f} s")
    print(f"  test database setup with the files     {statistics.median(on):7.2f} s")
    print(f"  the files' share (post_migrate)        {applied:7.2f} s")
    print(f"  uap_migrate on a migrated database     {direct:7.2f} s")
    whole = (statistics.median(on) - statistics.median(off)) / direct
    print(f"  (setup with minus without, over uap_migrate: {whole:.2f}; noisier)")
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"  ratio {ratio:.2f} (goal <= {GOAL}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
