"""Applying a big file takes memory in proportion to it, a small multiple, not several copies."""

from __future__ import annotations

import tracemalloc

from tests.conftest import migration

ROWS = ", ".join(f"({n}, 'a note long enough to look like real data')" for n in range(1000))
STATEMENT = f"INSERT INTO big VALUES {ROWS};\n"


def test_peak_memory_of_applying_a_big_file_is_bounded(uap, database, migrations_dir):
    """An 8 MB file (mentioning a password, so redaction runs) peaks under 4 times its size."""
    body = "-- the password column is hashed elsewhere\n"
    body += "CREATE TABLE IF NOT EXISTS big (id bigint, note text);\n"
    body += STATEMENT * (8 * 1024 * 1024 // len(STATEMENT))
    folder = migrations_dir({"001_v1.0_big.sql": migration("001", body)})
    size = (folder / "001_v1.0_big.sql").stat().st_size
    tracemalloc.start()
    try:
        result = uap(directory=folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.code == 0, result.err
    assert database.scalar("SELECT count(*) FROM big") > 100_000
    print(f"file {size:,} bytes, peak {peak:,} bytes ({peak / size:.1f}x)")
    assert peak < 4 * size, f"peak {peak:,} bytes is {peak / size:.1f} times the file"
