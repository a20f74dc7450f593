"""Big genuine bundles verify in bounded memory; hostile fleet bundles are refused, not crashed."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from datetime import datetime, timezone

import pytest

from schema_audit import api
from schema_audit.engine import postgres
from schema_audit.integrity import bundle as bundle_reader
from schema_audit.integrity import fleet_evidence
from schema_audit.ledger import store
from tests.conftest import numbered
from tests.integrity.test_evidence_hostile import (
    build,
    corrupt_deflate,
    members_of,
    patch_headers,
    verify_file,
)

EVENT_SQL = 20_000  # characters of SQL per recorded event
EVENTS = 1_500  # about 30 MB of events.json


@pytest.fixture
def genuine(uap, migrations_dir, tmp_path) -> bytes:
    """A genuine bundle of one small history."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    out = tmp_path / "genuine.zip"
    assert uap("--evidence", str(out), directory=folder).code == 0
    return out.read_bytes()


@pytest.fixture
def big(uap, database, migrations_dir, tmp_path) -> bytes:
    """A genuine bundle whose events.json is about 30 MB: many events, each written by the app."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    with postgres.connect(database.alias, purpose="test") as conn:
        for n in range(EVENTS):
            text = f"-- dry run {n}\n" + ("SELECT 1; " * (EVENT_SQL // 10))
            store.record(
                conn,
                store.Attempt(
                    version="001",
                    action="dry_run",
                    status="completed",
                    started_at=datetime.now(timezone.utc),
                    name="v1.1_step_1",
                    sql_text=text,
                ),
            )
    out = tmp_path / "big.zip"
    assert uap("--evidence", str(out), directory=folder).code == 0
    return out.read_bytes()


def _events_size(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.getinfo("events.json").file_size


def test_genuine_bundle_over_the_in_memory_cap_verifies(big, tmp_path, monkeypatch):
    """events.json is streamed: a member bigger than any member kept in memory still verifies."""
    assert _events_size(big) > 25 * 1024 * 1024
    monkeypatch.setattr(bundle_reader, "MAX_MEMBER_BYTES", 1024 * 1024)
    path = tmp_path / "big.zip"
    path.write_bytes(big)
    result = api.verify_evidence(path)
    assert result["problems"] == [] and result["intact"], result["problems"]
    assert result["history"]["events"] >= EVENTS and result["history"]["verified"]


@pytest.mark.parametrize("fleet", [False, True], ids=["single", "fleet"])
def test_big_bundle_is_verified_in_bounded_memory(big, tmp_path, fleet):
    """Python's peak allocation while verifying stays far below the size of events.json."""
    path = tmp_path / "big.zip"
    if fleet:
        fleet_evidence.write({"a": big, "b": big}, path, "rollout-1")
    else:
        path.write_bytes(big)
    size = _events_size(big)
    tracemalloc.start()
    try:
        result = api.verify_evidence(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["intact"], result["problems"]
    print(f"events.json {size:,} bytes, peak {peak:,} bytes")
    assert peak < size / 4, f"peak {peak:,} bytes for an events.json of {size:,}"


def _fleet(genuine: bytes, tmp_path) -> list[tuple[str, bytes]]:
    path = tmp_path / "fleet.zip"
    fleet_evidence.write({"a": genuine, "b": genuine}, path, "rollout-1")
    return members_of(path.read_bytes())


def test_fleet_bundle_with_a_duplicate_member_is_refused(uap, genuine, tmp_path):
    """A forged a/events.json placed before the genuine one: malformed, exit 2."""
    members = _fleet(genuine, tmp_path)
    forged = [("a/events.json", b"[]"), *members]
    result = verify_file(uap, tmp_path, build(forged))
    assert result.code == 2, result.out
    assert "'a/events.json' appears more than once" in result.err
    assert "intact" not in result.out


FLEET_MALFORMED = {
    "corrupt deflate stream": (
        lambda b: corrupt_deflate(b, "a/events.json"),
        "member 'a/events.json' cannot be read",
    ),
    "encrypted flag": (lambda b: patch_headers(b, "b/chain.json", flag=0x1), "is encrypted"),
    "unknown compression": (
        lambda b: patch_headers(b, "a/chain.json", method=97),
        "uses compression method 97",
    ),
    "fleet.json not JSON": (
        lambda b: build([(n, b"{nope" if n == "fleet.json" else d) for n, d in members_of(b)]),
        "fleet.json is not JSON",
    ),
}


@pytest.mark.parametrize("case", sorted(FLEET_MALFORMED))
def test_malformed_fleet_bundle_exits_2_with_one_line(uap, genuine, tmp_path, case):
    """Damaged, encrypted or unknown members of a fleet bundle: exit 2, one line, no traceback."""
    mutate, reason = FLEET_MALFORMED[case]
    data = mutate(build(_fleet(genuine, tmp_path)))
    result = verify_file(uap, tmp_path, data)
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.err


def test_genuine_fleet_bundle_still_verifies(uap, genuine, tmp_path):
    """The streamed fleet reader accepts what the fleet writer wrote."""
    result = verify_file(uap, tmp_path, build(_fleet(genuine, tmp_path)))
    assert result.code == 0, (result.out, result.err)


def test_fleet_member_outside_every_folder_is_reported(uap, genuine, tmp_path):
    """A file added at the top of a fleet bundle makes it ALTERED, unread."""
    result = verify_file(uap, tmp_path, build([*_fleet(genuine, tmp_path), ("notes.txt", b"x")]))
    assert result.code == 2
    assert "notes.txt: outside every database's folder (added); not read" in result.err
