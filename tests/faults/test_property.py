"""Property: any mix of runs, failures, fixes and edits runs each completed file once, in order."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import migration

RESET = """
DROP TABLE IF EXISTS schema_migration_events, schema_migrations, applied_log;
CREATE TABLE applied_log (id serial, version text);
"""

operations = st.lists(
    st.one_of(
        st.tuples(st.just("run"), st.none() | st.integers(1, 5)),
        st.tuples(st.just("break"), st.integers(1, 5)),
        st.tuples(st.just("fix"), st.integers(1, 5)),
    ),
    min_size=1,
    max_size=10,
)


def text_of(n: int, broken: bool) -> str:
    """File n logs its version; broken, it fails after logging (which must roll back)."""
    body = f"INSERT INTO applied_log (version) VALUES ('{n:03d}');"
    return migration(f"{n:03d}", body + ("\nSELECT 1/0;" if broken else ""))


class Model:
    """What the ledger should say: the applied prefix, and which files are broken or edited."""

    def __init__(self, count: int):
        self.count = count
        self.applied: list[str] = []
        self.broken: set[int] = set()

    def run(self, target: int | None) -> int:
        """Expected exit code of a run, updating the applied prefix."""
        if any(n <= len(self.applied) for n in self.broken):
            return 2  # an applied file was edited: drift stops the run
        limit = self.count if target is None else target
        for n in range(len(self.applied) + 1, limit + 1):
            if n in self.broken:
                return 1
            self.applied.append(f"{n:03d}")
        return 0


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(count=st.integers(2, 5), steps=operations)
def test_completed_versions_ran_exactly_once_in_order(uap, database, count, steps):
    """After every step: the log of executed SQL equals the completed versions, in order."""
    with database.connect() as conn:
        conn.execute(RESET)
    folder = Path(tempfile.mkdtemp(prefix="uap-prop-"))
    try:
        model = Model(count)
        for n in range(1, count + 1):
            (folder / f"{n:03d}_v1.{n}_s{n}.sql").write_text(text_of(n, False))
        for action, arg in steps:
            if action == "run":
                target = None if arg is None else min(arg, count)
                args = () if target is None else ("--target", f"{target:03d}")
                expected = model.run(target)
                result = uap(*args, directory=folder)
                assert result.code == expected, (steps, result.err)
            elif arg <= count:
                broken = action == "break"
                (folder / f"{arg:03d}_v1.{arg}_s{arg}.sql").write_text(text_of(arg, broken))
                (model.broken.add if broken else model.broken.discard)(arg)
            log = [r[0] for r in database.query("SELECT version FROM applied_log ORDER BY id")]
            completed = (
                database.query(
                    "SELECT version FROM schema_migrations WHERE status = 'completed' "
                    "ORDER BY version"
                )
                if "schema_migrations" in database.tables()
                else []
            )
            assert log == [r[0] for r in completed] == model.applied, steps
    finally:
        shutil.rmtree(folder)
