"""--verify-evidence on hostile bundles: duplicates, bombs, damaged zips and manifests, fuzzing."""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import subprocess
import sys
import warnings
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema_audit.exceptions import SchemaAuditError
from schema_audit.integrity import evidence
from tests.conftest import ROOT, migration, numbered

GIB = 1024**3
PEAK_RSS_LIMIT_KB = 100 * 1024


@pytest.fixture
def bundle(uap, migrations_dir, tmp_path) -> bytes:
    """A genuine evidence bundle of two applied migrations, as bytes."""
    folder = migrations_dir(numbered(2))
    assert uap(directory=folder).code == 0
    out = tmp_path / "genuine.zip"
    assert uap("--evidence", str(out), directory=folder).code == 0
    return out.read_bytes()


def members_of(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def build(members: list[tuple[str, bytes]], method=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on the duplicate name we mean to write
        with zipfile.ZipFile(out, "w", compression=method) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return out.getvalue()


def with_manifest(data: bytes, manifest: bytes) -> bytes:
    return build([(n, manifest if n == "manifest.json" else d) for n, d in members_of(data)])


def patch_headers(data: bytes, name: str, *, flag: int = 0, method: int | None = None) -> bytes:
    """Set a general-purpose flag bit or the compression method of `name` in both headers."""
    raw = bytearray(data)
    encoded = name.encode()
    for signature, flag_at, method_at, name_at in (
        (b"PK\x03\x04", 6, 8, 30),
        (b"PK\x01\x02", 8, 10, 46),
    ):
        start = 0
        while (start := raw.find(signature, start)) >= 0:
            if raw[start + name_at : start + name_at + len(encoded)] == encoded:
                old = struct.unpack_from("<H", raw, start + flag_at)[0]
                struct.pack_into("<H", raw, start + flag_at, old | flag)
                if method is not None:
                    struct.pack_into("<H", raw, start + method_at, method)
            start += 4
    return bytes(raw)


def corrupt_deflate(data: bytes, name: str) -> bytes:
    """Make the first deflate block of `name` an invalid block type."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    raw = bytearray(data)
    name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
    raw[info.header_offset + 30 + name_len + extra_len] = 0xFF
    return bytes(raw)


def verify_file(uap, tmp_path, data: bytes):
    path = tmp_path / "suspect.zip"
    path.write_bytes(data)
    return uap("--verify-evidence", str(path))


def test_duplicate_member_name_is_refused(uap, bundle, tmp_path):
    """A forged events.json placed before the real one makes the bundle unverifiable."""
    forged = json.dumps([{"id": 1, "version": "001", "action": "apply"}]).encode()
    result = verify_file(uap, tmp_path, build([("events.json", forged), *members_of(bundle)]))
    assert result.code == 2
    assert "'events.json' appears more than once" in result.err
    assert "intact" not in result.out


MALFORMED = {
    "corrupt deflate stream": (
        lambda b: corrupt_deflate(b, "events.json"),
        "member 'events.json' cannot be read",
    ),
    "encrypted flag": (lambda b: patch_headers(b, "chain.json", flag=0x1), "is encrypted"),
    "unknown compression": (
        lambda b: patch_headers(b, "chain.json", method=97),
        "uses compression method 97",
    ),
    "manifest not JSON": (lambda b: with_manifest(b, b"{not json"), "is not JSON"),
    "manifest not UTF-8": (lambda b: with_manifest(b, b'{"format": "\xff"}'), "is not UTF-8"),
    "manifest is a list": (lambda b: with_manifest(b, b"[1, 2]"), "is a JSON list"),
    "manifest files wrong": (
        lambda b: with_manifest(b, b'{"format": "uap-evidence/1", "files": {"a": 3}}'),
        "lists 'a' without a SHA-256",
    ),
    "not a zip": (lambda b: b"PK\x03\x04" + b"\x00" * 100, "not a readable evidence bundle"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_bundle_exits_2_with_one_line(uap, bundle, tmp_path, case):
    """Every malformed bundle is exit 2 with one line naming the fault, never a traceback."""
    mutate, reason = MALFORMED[case]
    result = verify_file(uap, tmp_path, mutate(bundle))
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.err


def test_member_larger_than_the_manifest_says_is_not_read(uap, bundle, tmp_path):
    """The manifest's sizes cap each member: a bigger one is refused before it is inflated."""
    members = [(n, d + b" " * 10_000 if n == "chain.json" else d) for n, d in members_of(bundle)]
    result = verify_file(uap, tmp_path, build(members))
    assert result.code == 2
    assert "chain.json: 10," in result.err and "but the manifest says" in result.err


def _bomb(path, members: list[tuple[str, bytes]]) -> None:
    """The genuine members, events.json swapped for 200 MiB of zeros (under the absolute cap, so
    it is inflated to be hashed), plus an unlisted 1 GiB member."""
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for name, data in members:
            if name == "manifest.json":
                manifest = json.loads(data)
                manifest.pop("sizes", None)  # as written before sizes: streamed, not skipped
                out.writestr(name, json.dumps(manifest))
            elif name != "events.json":
                out.writestr(name, data)
        for name, size in (("events.json", 200 * 1024 * 1024), ("zz_padding.bin", GIB)):
            with out.open(name, "w", force_zip64=True) as member:
                for _ in range(size // len(chunk)):
                    member.write(chunk)


@pytest.mark.slow
def test_gigabyte_bomb_is_refused_in_bounded_memory(bundle, tmp_path):
    """Peak RSS of `--verify-evidence` on 1.2 GiB of zeros in 6 MB stays under 100 MB."""
    bomb = tmp_path / "bomb.zip"
    _bomb(bomb, members_of(bundle))
    assert bomb.stat().st_size < 10 * 1024 * 1024
    probe = (
        "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(done.returncode)"
    )
    command = [sys.executable, "manage.py", "uap_migrate", "--verify-evidence", str(bomb)]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", probe, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    assert done.returncode == 2, done.stderr
    assert "zz_padding.bin: not listed in the manifest (added); not read" in done.stderr
    assert "events.json: SHA-256 differs from the manifest" in done.stderr
    print(f"peak RSS {peak_kb} KB, bundle {bomb.stat().st_size} bytes")
    assert peak_kb < PEAK_RSS_LIMIT_KB, f"peak RSS {peak_kb} KB"


def _verdict(data: bytes) -> dict | None:
    """The verifier's result, or None when it refused with an exit-2 error; anything else fails."""
    try:
        result = evidence.verify(io.BytesIO(data))
    except SchemaAuditError as exc:
        assert exc.exit_code == 2
        assert "\n" not in str(exc)
        return None
    assert set(result) >= {"intact", "verified", "problems", "findings"}
    return result


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzzed_bundles_never_crash(bundle, data):
    """Flipped bytes and truncations: a refusal (exit 2) or a verdict, never another error."""
    raw = bytearray(bundle)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(raw) // 2, len(raw)))
    _verdict(bytes(raw[:cut]))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    member=st.sampled_from(
        ["manifest.json", "events.json", "migrations.json", "fingerprint.json", "chain.json"]
    ),
    value=_JSON,
)
def test_fuzzed_members_never_crash(bundle, member, value):
    """Any JSON in any member (resealed, as a forger would): a refusal or a verdict, never a
    traceback; a replaced manifest is never intact."""
    content = json.dumps(value).encode()
    members = members_of(bundle)
    if member != "manifest.json":
        manifest = json.loads(dict(members)["manifest.json"])
        manifest["files"][member] = evidence._sha256(content)
        manifest.setdefault("sizes", {})[member] = len(content)
        members = [
            (n, json.dumps(manifest).encode()) if n == "manifest.json" else (n, d)
            for n, d in members
        ]
    result = _verdict(build([(n, content if n == member else d) for n, d in members]))
    if member == "manifest.json":
        assert result is None or not result["intact"]


def test_history_csv_is_neutralised_against_formulas(uap, migrations_dir, tmp_path):
    """Header fields an author controls reach history.csv quoted, like the admin's exports."""
    body = (
        "-- Migration: hostile\n-- Version: 001\n"
        '-- Description: =HYPERLINK("http://evil","click")\n'
        "-- Impact:  @SUM(A1)\n-- Rollback: --2+3+cmd|' /C calc'!A0\n--\n\n"
        "CREATE TABLE t1 (id int);\n"
    )
    folder = migrations_dir({"001_v1.0_hostile.sql": body})
    assert uap(directory=folder).code == 0
    out = tmp_path / "evidence.zip"
    assert uap("--evidence", str(out), directory=folder).code == 0
    with zipfile.ZipFile(out) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("history.csv").decode())))
    assert rows[0]["description"] == '\'=HYPERLINK("http://evil","click")'
    assert rows[0]["impact"].startswith("'") and rows[0]["impact"].endswith("@SUM(A1)")
    assert rows[0]["rollback_sql"] == "'--2+3+cmd|' /C calc'!A0"


@pytest.mark.parametrize("lead", ["\u00a0", "\u3000", "\u000b", "\u000c", ""])
def test_history_csv_quotes_a_formula_behind_any_blank(uap, migrations_dir, tmp_path, lead):
    """An error message a file raises, starting with a blank then `=` or `|`, is quoted."""
    raised = f"{lead}=HYPERLINK(1)" if lead else "|calc"
    body = f"DO $$ BEGIN RAISE EXCEPTION '%', {_literal(raised)}; END $$;"
    folder = migrations_dir({**numbered(1), "002_v1.2_raise.sql": migration("002", body)})
    assert uap(directory=folder).code == 1
    out = tmp_path / "evidence.zip"
    assert uap("--evidence", str(out), directory=folder).code == 0
    with zipfile.ZipFile(out) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("history.csv").decode())))
    (failed,) = [row for row in rows if row["status"] == "failed"]
    # The message, then the line naming the failing statement.
    assert failed["error_message"].split("\nin the statement at line ", 1)[0] == "'" + raised


def _literal(text: str) -> str:
    """`text` as a PostgreSQL Unicode string literal (the blanks survive any editor)."""
    return "U&'" + "".join(f"\\{ord(c):04x}" for c in text) + "'"


def test_evidence_never_ships_a_file_from_outside_the_directory(uap, migrations_dir, tmp_path):
    """A linked .env beside the folder stops --evidence (exit 2); nothing of it is written."""
    folder = migrations_dir(numbered(1))
    assert uap(directory=folder).code == 0
    (tmp_path / "app.env").write_text("DB_PASSWORD=do-not-ship\n")
    (folder / "002_v1.2_leak.sql").symlink_to(tmp_path / "app.env")
    out = tmp_path / "evidence.zip"
    result = uap("--evidence", str(out), directory=folder)
    assert result.code == 2
    assert "002_v1.2_leak.sql: is a symbolic link to a file outside" in result.err
    assert "do-not-ship" not in result.out + result.err
    assert not out.exists() or b"do-not-ship" not in out.read_bytes()
