"""Evidence bundle round trip, offline re-verification, and who/why on every event."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from schema_audit import api
from schema_audit.integrity import evidence
from schema_audit.ledger import provenance, store
from tests.conftest import migration, numbered, run_subprocess


def rewrite(bundle, target, change):
    """Copy a bundle to `target`, passing every member through `change(name, data)`."""
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, change(info.filename, src.read(info)))
    return target


def reseal(name: str, data: bytes, edited: dict[str, bytes]) -> bytes:
    """Replace members and update the manifest to match, as a careful forger would."""
    if name in edited:
        return edited[name]
    if name == evidence.MANIFEST:
        manifest = json.loads(data)
        for member, content in edited.items():
            manifest["files"][member] = evidence._sha256(content)
        return json.dumps(manifest).encode()
    return data


def test_bundle_round_trips_and_verifies_offline(uap, database, migrations_dir, tmp_path):
    """--evidence writes every member; --verify-evidence finds it intact and verified."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    out = tmp_path / "evidence.zip"
    result = uap("--evidence", str(out), directory=folder)
    assert result.code == 0, result.err
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        events = json.loads(archive.read("events.json"))
        history = archive.read("history.csv").decode().splitlines()
    assert names == {
        "manifest.json",
        "history.csv",
        "events.json",
        "migrations.json",
        "fingerprint.json",
        "chain.json",
        "signing.json",
        "migrations/001_v1.1_step_1.sql",
        "migrations/002_v1.2_step_2.sql",
    }
    assert [e["version"] for e in events] == ["001", "002"]
    assert history[0].startswith("version,name,checksum,status")
    assert len(history) == 3
    manifest_sha = result.out.split("Manifest SHA-256: ")[1].split()[0]
    checked = uap("--verify-evidence", str(out))
    assert checked.code == 0, checked.err
    assert f"is intact: 8 files, manifest SHA-256 {manifest_sha}" in checked.out
    assert "History verified: 2 events chained" in checked.out


def test_modified_member_is_detected(uap, migrations_dir, tmp_path):
    """Changing a migration file inside the bundle fails the manifest check."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    assert uap("--evidence", str(tmp_path / "a.zip"), directory=folder).code == 0
    tampered = rewrite(
        tmp_path / "a.zip",
        tmp_path / "b.zip",
        lambda name, data: data + b"DROP TABLE t1;\n" if name.startswith("migrations/") else data,
    )
    result = uap("--verify-evidence", str(tampered))
    assert result.code == 2
    assert "migrations/001_v1.1_step_1.sql: 205 bytes, but the manifest says 190" in result.err
    assert "(modified)" in result.err
    assert "is ALTERED" in result.out


def test_resealed_edit_of_events_is_caught_by_the_chain(uap, migrations_dir, tmp_path):
    """An edited events.json with a matching manifest still fails: the chain does not link."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    assert uap("--evidence", str(tmp_path / "a.zip"), directory=folder).code == 0
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        events = json.loads(archive.read("events.json"))
    events[0]["applied_by"] = "somebody_else"
    edited = {"events.json": json.dumps(events).encode()}
    tampered = rewrite(tmp_path / "a.zip", tmp_path / "b.zip", lambda n, d: reseal(n, d, edited))
    result = evidence.verify(tampered)
    assert result["intact"] is False
    assert result["history"]["first_break"]["id"] == 1
    assert "chain.json does not match" in result["problems"][0]


def _forge_masked(events: list[dict], **also) -> list[dict]:
    """Event 1 rewritten (who, status, SQL) and flagged as masked, its hash kept."""
    forged = {
        **events[0],
        "applied_by": "somebody_else",
        "status": "failed",
        "sql_text": "SELECT 1; -- harmless",
        "sql_text_redacted": True,
        **also,
    }
    return [forged, *events[1:]]


def test_a_masked_flag_does_not_skip_the_content_check(uap, migrations_dir, tmp_path):
    """The issue's forgery: same chain head, flag set, manifest resealed; it does not verify."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    assert uap("--evidence", str(tmp_path / "a.zip"), directory=folder).code == 0
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        events = json.loads(archive.read("events.json"))
    digest = hashlib.sha256(b"SELECT 1; -- harmless").hexdigest()
    for n, forged in enumerate(
        (_forge_masked(events), _forge_masked(events, sql_text_sha256=digest))
    ):
        edited = {"events.json": json.dumps(forged).encode()}
        target = tmp_path / f"forged{n}.zip"
        rewrite(tmp_path / "a.zip", target, lambda name, d, e=edited: reseal(name, d, e))
        result = uap("--verify-evidence", str(target))
        assert result.code == 2, result.out
        assert "event 1" in result.err or "'id': 1" in result.err
        assert "no valid signature binds the original" in result.err


def test_a_masked_event_signed_by_the_app_still_verifies(
    uap, database, migrations_dir, tmp_path, monkeypatch
):
    """A password that the ledger kept (older masking) is masked in the bundle; it verifies."""
    monkeypatch.setattr(store.redact, "redact", lambda text: text)  # as written long ago
    role = f"app_{database.name}"  # roles are the server's: one of this test's own, dropped
    body = f"CREATE ROLE {role} PASSWORD 'hunter2';\nDROP ROLE {role};"
    folder = migrations_dir({"001_v1.0_role.sql": migration("001", body)})
    assert uap(directory=folder).code == 0
    monkeypatch.undo()
    out = tmp_path / "a.zip"
    assert uap("--evidence", str(out), directory=folder).code == 0
    with zipfile.ZipFile(out) as archive:
        (event,) = json.loads(archive.read("events.json"))
    assert event["sql_text_redacted"] and "hunter2" not in event["sql_text"]
    result = uap("--verify-evidence", str(out))
    assert result.code == 0, result.err
    forged = [{**event, "applied_by": "somebody_else"}]
    edited = {"events.json": json.dumps(forged).encode()}
    rewrite(out, tmp_path / "b.zip", lambda name, d: reseal(name, d, edited))
    assert uap("--verify-evidence", str(tmp_path / "b.zip")).code == 2


def test_verify_evidence_needs_no_database(uap, migrations_dir, tmp_path):
    """The offline check runs with the database unreachable."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    assert uap("--evidence", str(tmp_path / "a.zip"), directory=folder).code == 0
    child = run_subprocess(
        "postgresql://nobody@127.0.0.1:1/none", "--verify-evidence", str(tmp_path / "a.zip")
    )
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert "is intact" in out


def test_api_returns_the_bundle_as_bytes(uap, database, migrations_dir):
    """The admin's download button gets the zip as bytes; it verifies."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    data = api.evidence_bundle(folder, database.alias)
    assert api.verify_evidence(io.BytesIO(data))["verified"] is True


def test_bundle_reports_drift_as_a_finding(uap, database, migrations_dir, tmp_path):
    """A bundle taken after an out-of-band change is intact but not verified."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    with database.connect() as conn:
        conn.execute("CREATE TABLE rogue (id int)")
    assert uap("--evidence", str(tmp_path / "a.zip"), directory=folder).code == 0
    result = uap("--verify-evidence", str(tmp_path / "a.zip"))
    assert result.code == 2
    assert (
        "finding: schema drift from the last recorded fingerprint: added tables public.rogue"
        in (result.err)
    )
    assert "is intact" in result.out


def test_every_event_records_who_and_why(uap, database, migrations_dir, monkeypatch):
    """DB user, OS user, host, app version and the ticket from --ticket or UAP_CHANGE_TICKET."""
    folder = migrations_dir(numbered(2))
    assert uap("--ticket", "CHG-42", "--target", "001", directory=folder).code == 0
    monkeypatch.setenv("UAP_CHANGE_TICKET", "CHG-43")
    assert uap(directory=folder).code == 0
    rows = database.query(
        "SELECT ticket, applied_by, os_user, host, app_version FROM schema_migration_events "
        "ORDER BY id"
    )
    assert [r[0] for r in rows] == ["CHG-42", "CHG-43"]
    assert all(r[1] and r[2] and r[3] for r in rows)
    assert {r[4] for r in rows} == {provenance.app_version()}
    choices = api.event_filter_choices(database.alias)
    assert choices["tickets"] == ["CHG-42", "CHG-43"]
    assert choices["operators"] == [{"applied_by": rows[0][1], "os_user": rows[0][2]}]


def test_app_version_falls_back_to_the_setting_outside_a_checkout(settings, tmp_path):
    """Without a git checkout, UAP_APP_VERSION is the recorded version."""
    settings.BASE_DIR = tmp_path
    settings.UAP_APP_VERSION = "2.4.1"
    assert provenance.app_version() == "2.4.1"


def test_unreadable_bundle_is_invalid_input(uap, tmp_path):
    """A missing or non-zip file is exit 2 naming the file."""
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    result = uap("--verify-evidence", str(tmp_path / "junk.zip"))
    assert result.code == 2
    assert "junk.zip: not a readable evidence bundle" in result.err
