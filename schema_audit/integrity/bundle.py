"""Reading an evidence bundle as hostile input: bounded, streamed, only what the manifest lists.

A zip can claim anything: duplicate names (zip tools disagree on which copy is shown), members
that expand a thousandfold, encrypted or unknown compression, a manifest that is not JSON. Each
is refused with a one-line reason (InvalidBundle, exit 2) or reported as a problem, never read
into memory beyond the caps below.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from schema_audit.exceptions import InvalidBundle

MANIFEST = "manifest.json"
MAX_MEMBERS = 100_000  # a real bundle holds a few members per migration file
MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # names and hashes only
# Whatever the manifest says: no member is hashed or kept beyond this (a 50 MB migration's
# SQL appears in its file and in events.json, JSON-escaped).
MAX_MEMBER_BYTES = 256 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
_SUPPORTED = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# What a damaged member raises while it is decompressed.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError)


@dataclass
class Bundle:
    """The manifest and every member whose bytes match it; `problems` say what did not."""

    manifest: dict
    manifest_sha256: str
    members: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read(source: str | Path | BinaryIO) -> Bundle:
    """Open and check a bundle; InvalidBundle when it cannot be trusted at all."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise InvalidBundle(f"not a readable evidence bundle (zip): {exc}", source) from exc
    with archive:
        infos = _check_entries(archive.infolist(), source)
        manifest_bytes = _manifest_bytes(archive, infos, source)
        manifest = _parse_manifest(manifest_bytes, source)
        bundle = Bundle(manifest, hashlib.sha256(manifest_bytes).hexdigest())
        for name in sorted(infos):
            if name != MANIFEST and name not in manifest["files"]:
                # Not read at all: an unlisted member can be of any size.
                bundle.problems.append(f"{name}: not listed in the manifest (added); not read")
        for name, digest in sorted(manifest["files"].items()):
            _load_listed(archive, infos.get(name), name, digest, manifest, bundle, source)
    return bundle


def _check_entries(infos: list[zipfile.ZipInfo], source) -> dict[str, zipfile.ZipInfo]:
    if len(infos) > MAX_MEMBERS:
        raise InvalidBundle(f"{len(infos):,} members, over the {MAX_MEMBERS:,} allowed", source)
    twice = sorted(name for name, count in Counter(i.filename for i in infos).items() if count > 1)
    if twice:
        raise InvalidBundle(
            f"member {twice[0]!r} appears more than once; zip tools disagree on which copy "
            "they show, so the bundle cannot be verified",
            source,
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise InvalidBundle(f"member {info.filename!r} is encrypted", source)
        if info.compress_type not in _SUPPORTED:
            raise InvalidBundle(
                f"member {info.filename!r} uses compression method {info.compress_type}; "
                "bundles use stored or deflate",
                source,
            )
    return {info.filename: info for info in infos}


def _manifest_bytes(archive: zipfile.ZipFile, infos: dict, source) -> bytes:
    info = infos.get(MANIFEST)
    if info is None:
        raise InvalidBundle(f"not an evidence bundle: no {MANIFEST}", source)
    data = _stream(archive, info, MAX_MANIFEST_BYTES, source, keep=True)[2]
    if data is None:
        raise InvalidBundle(f"{MANIFEST} is over {MAX_MANIFEST_BYTES:,} bytes", source)
    return data


def _parse_manifest(data: bytes, source) -> dict:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidBundle(f"{MANIFEST} is not UTF-8 (byte {exc.start})", source) from exc
    except ValueError as exc:
        raise InvalidBundle(f"{MANIFEST} is not JSON: {exc}", source) from exc
    reason = _manifest_shape_problem(manifest)
    if reason:
        raise InvalidBundle(f"{MANIFEST} {reason}", source)
    return manifest


def _manifest_shape_problem(manifest: object) -> str | None:
    """Why the manifest is not `{format, files: {name: sha256}, sizes?: {name: bytes}}`."""
    if not isinstance(manifest, dict):
        return f"is a JSON {type(manifest).__name__}, not an object"
    if not isinstance(manifest.get("format"), str):
        return "has no format"
    files = manifest.get("files")
    if not isinstance(files, dict):
        return "has no files object"
    for name, digest in files.items():
        if name == MANIFEST or not isinstance(digest, str) or not _SHA256_RE.match(digest):
            return f"lists {name!r} without a SHA-256"
    sizes = manifest.get("sizes", {})
    if not isinstance(sizes, dict) or not all(
        type(size) is int and size >= 0 for size in sizes.values()
    ):
        return "has sizes that are not byte counts"
    if not isinstance(manifest.get("created_at", ""), (str, type(None))):
        return "has a created_at that is not text"
    return None


def _load_listed(archive, info, name: str, digest: str, manifest: dict, bundle, source) -> None:
    """Hash a listed member as a stream; keep its bytes only when they match the manifest."""
    if info is None:
        bundle.problems.append(f"{name}: listed in the manifest but missing")
        return
    declared = manifest.get("sizes", {}).get(name)
    limit = MAX_MEMBER_BYTES if declared is None else min(declared, MAX_MEMBER_BYTES)
    if info.file_size > limit:
        bundle.problems.append(f"{name}: {_too_big(info.file_size, declared)}; not read")
        return
    actual, size, _ = _stream(archive, info, limit, source, keep=False)
    if actual is None:
        bundle.problems.append(f"{name}: expands beyond {limit:,} bytes; not read")
    elif actual != digest:
        bundle.problems.append(f"{name}: SHA-256 differs from the manifest (modified)")
    else:
        # Read a second time only once the stream proved to be what the manifest vouches for.
        bundle.members[name] = _stream(archive, info, limit, source, keep=True)[2]


def _too_big(size: int, declared: int | None) -> str:
    if declared is not None and size > declared:
        return f"{size:,} bytes, but the manifest says {declared:,} (modified)"
    return f"{size:,} bytes, over the {MAX_MEMBER_BYTES:,} a member may have"


def _stream(archive, info, limit: int, source, *, keep: bool):
    """`(sha256, size, bytes or None)` of a member read in chunks; `(None, size, None)` once it
    exceeds `limit`, whatever its header claimed."""
    digest, size, parts = hashlib.sha256(), 0, []
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    return None, size, None
                digest.update(chunk)
                if keep:
                    parts.append(chunk)
    except _READ_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise InvalidBundle(f"member {info.filename!r} cannot be read: {reason}", source) from exc
    return digest.hexdigest(), size, b"".join(parts) if keep else None
