"""Schema fingerprint: SHA-256 over a canonical description of the live schema (pg_catalog)."""

from __future__ import annotations

import hashlib
import json
import logging

import psycopg

from schema_audit.db import names
from schema_audit.ledger import store

logger = logging.getLogger(__name__)

# Every user schema; PostgreSQL's own and other sessions' temporary schemas are not the app's.
_SCHEMAS = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
"""
# Objects created by CREATE EXTENSION are described by the extension's name and version.
_NOT_EXTENSION = """
    NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = {catalog}::regclass
                AND e.objid = {oid} AND e.deptype = 'e')
"""
# The app's own objects are left out by schema and name: only those in the ledger's schema
# (%(ledger)s, its oid), so a same-named table or function elsewhere is described like any other.
_OURS = "({namespace} = %(ledger)s AND {name} = ANY(%(tracking)s))"
_REL_OK = (
    f"{_SCHEMAS} AND NOT {_OURS.format(namespace='c.relnamespace', name='c.relname')} AND "
    + _NOT_EXTENSION.format(catalog="'pg_class'", oid="c.oid")
)

_QUERIES = {
    # A ledger schema of its own (UAP_LEDGER_SCHEMA) is the app's, not the application's.
    "schemas": f"""
        SELECT n.nspname, '{{}}'::jsonb FROM pg_namespace n WHERE {_SCHEMAS}
          AND NOT (n.oid = %(ledger)s AND n.nspname <> 'public')
          AND {_NOT_EXTENSION.format(catalog="'pg_namespace'", oid="n.oid")}""",
    "extensions": """
        SELECT x.extname, jsonb_build_object('version', x.extversion, 'schema', n.nspname)
        FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace""",
    "tables": f"""
        SELECT n.nspname || '.' || c.relname, jsonb_build_object(
            'kind', c.relkind, 'row_security', c.relrowsecurity,
            'partition_key', pg_get_partkeydef(c.oid),
            'columns', (SELECT jsonb_object_agg(a.attname, jsonb_build_object(
                    'position', a.rank, 'type', format_type(a.atttypid, a.atttypmod),
                    'not_null', a.attnotnull, 'identity', a.attidentity,
                    'generated', a.attgenerated, 'collation', a.collname,
                    'default', pg_get_expr(d.adbin, d.adrelid)))
                FROM (SELECT a.*, co.collname,
                             rank() OVER (ORDER BY a.attnum) AS rank
                      FROM pg_attribute a
                      LEFT JOIN pg_collation co
                        ON co.oid = a.attcollation AND a.attcollation <> 100
                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) a
                LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'f') AND {_REL_OK}""",
    "constraints": f"""
        SELECT n.nspname || '.' || coalesce(c.relname, t.typname) || '.' || k.conname,
               jsonb_build_object('type', k.contype, 'definition', pg_get_constraintdef(k.oid))
        FROM pg_constraint k
        JOIN pg_namespace n ON n.oid = k.connamespace
        LEFT JOIN pg_class c ON c.oid = k.conrelid
        LEFT JOIN pg_type t ON t.oid = k.contypid
        WHERE (c.oid IS NULL OR {_REL_OK}) AND {_SCHEMAS}
          AND NOT coalesce({_OURS.format(namespace="t.typnamespace", name="t.typname")}, false)""",
    "indexes": f"""
        SELECT n.nspname || '.' || i.relname,
               jsonb_build_object('definition', pg_get_indexdef(x.indexrelid))
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class c ON c.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE {_REL_OK}""",
    "views": f"""
        SELECT n.nspname || '.' || c.relname,
               jsonb_build_object('kind', c.relkind, 'definition', pg_get_viewdef(c.oid))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND {_REL_OK}""",
    "sequences": f"""
        SELECT n.nspname || '.' || c.relname, jsonb_build_object(
            'type', format_type(s.seqtypid, NULL), 'start', s.seqstart,
            'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax,
            'cache', s.seqcache, 'cycle', s.seqcycle)
        FROM pg_sequence s
        JOIN pg_class c ON c.oid = s.seqrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_REL_OK} AND NOT EXISTS (
            SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
            AND d.objid = c.oid AND d.deptype = 'i')""",
    "functions": f"""
        SELECT n.nspname || '.' || p.proname || '(' ||
               pg_get_function_identity_arguments(p.oid) || ')',
               jsonb_build_object('kind', p.prokind, 'definition',
                   CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {_SCHEMAS}
          -- The app's functions take no arguments: an overload of their name is not theirs.
          AND NOT ({_OURS.format(namespace="p.pronamespace", name="p.proname")}
                   AND p.pronargs = 0)
          AND {_NOT_EXTENSION.format(catalog="'pg_proc'", oid="p.oid")}""",
    "triggers": f"""
        SELECT n.nspname || '.' || c.relname || '.' || t.tgname, jsonb_build_object(
            'definition', pg_get_triggerdef(t.oid), 'enabled', t.tgenabled)
        FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND {_REL_OK}""",
    "policies": f"""
        SELECT n.nspname || '.' || c.relname || '.' || p.polname, jsonb_build_object(
            'command', p.polcmd, 'permissive', p.polpermissive,
            'roles', (SELECT array_agg(r ORDER BY r) FROM unnest(p.polroles::regrole[]) r),
            'using', pg_get_expr(p.polqual, p.polrelid),
            'check', pg_get_expr(p.polwithcheck, p.polrelid))
        FROM pg_policy p
        JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_REL_OK}""",
    "types": f"""
        SELECT n.nspname || '.' || t.typname, jsonb_build_object(
            'kind', t.typtype,
            'labels', (SELECT jsonb_agg(e.enumlabel ORDER BY e.enumsortorder)
                       FROM pg_enum e WHERE e.enumtypid = t.oid),
            'base', CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
            'not_null', t.typnotnull, 'default', t.typdefault,
            'attributes', (SELECT jsonb_agg(jsonb_build_array(
                               a.attname, format_type(a.atttypid, a.atttypmod))
                           ORDER BY a.attnum)
                           FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
                             AND NOT a.attisdropped))
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typtype IN ('e', 'd', 'c', 'r', 'm') AND {_SCHEMAS}
          AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
          AND NOT {_OURS.format(namespace="t.typnamespace", name="t.typname")}
          AND {_NOT_EXTENSION.format(catalog="'pg_type'", oid="t.oid")}""",
    # Event triggers have no schema: the app's are those of its name calling its function.
    "event_triggers": f"""
        SELECT e.evtname, jsonb_build_object('event', e.evtevent, 'enabled', e.evtenabled,
            'function', e.evtfoid::regprocedure::text, 'tags', e.evttags)
        FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid
        WHERE NOT (e.evtname = ANY(%(tracking)s) AND p.pronargs = 0
                   AND {_OURS.format(namespace="p.pronamespace", name="p.proname")})""",
}
KINDS = tuple(_QUERIES)
# The ledger's schema (UAP_LEDGER_SCHEMA), 0 before it exists.
_LEDGER_SCHEMA_SQL = (
    "SELECT coalesce((SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = %s), 0)"
)


def describe(conn: psycopg.Connection) -> dict[str, dict[str, dict]]:
    """The canonical description: {kind: {qualified name: attributes}} of every schema object."""
    tracking = list(store.TRACKING_OBJECTS)
    with conn.transaction():
        ledger = conn.execute(_LEDGER_SCHEMA_SQL, (names.ledger_schema(),)).fetchone()[0]
        # Fully qualified names in every definition, whatever the caller's search_path; the
        # setting is restored because the runner's transaction continues after this.
        saved = conn.execute("SELECT current_setting('search_path')").fetchone()[0]
        conn.execute("SELECT set_config('search_path', 'pg_catalog', true)")
        description = {
            kind: dict(conn.execute(query, {"tracking": tracking, "ledger": ledger}).fetchall())
            for kind, query in _QUERIES.items()
        }
        # On an error the savepoint's rollback restores the setting instead.
        conn.execute("SELECT set_config('search_path', %s, true)", (saved,))
    return description


def canonical(description: dict) -> str:
    """The description as canonical JSON text: the exact bytes the fingerprint hashes."""
    return json.dumps(description, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(text: str) -> str:
    """SHA-256 hex of a canonical description."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def take(conn: psycopg.Connection) -> tuple[str, str]:
    """(fingerprint, canonical description) of the schema as `conn` sees it now."""
    text = canonical(describe(conn))
    return digest(text), text


def take_for_event(conn: psycopg.Connection) -> tuple[str | None, str | None]:
    """Like `take`, but a catalog error is logged and gives (None, None): the fingerprint is
    evidence about a migration and must never be the reason it fails."""
    try:
        return take(conn)
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        logger.warning("schema fingerprint not taken: %s", exc)
        return None, None


def diff(old: dict, new: dict) -> list[dict]:
    """What changed between two descriptions: [{kind, name, change, details}], sorted."""
    changes = []
    for kind in sorted(set(old) | set(new)):
        before, after = old.get(kind, {}), new.get(kind, {})
        for name in sorted(set(before) | set(after)):
            if name not in after:
                changes.append({"kind": kind, "name": name, "change": "removed", "details": []})
            elif name not in before:
                changes.append({"kind": kind, "name": name, "change": "added", "details": []})
            elif before[name] != after[name]:
                details = _attribute_changes(before[name], after[name])
                changes.append(
                    {"kind": kind, "name": name, "change": "altered", "details": details}
                )
    return changes


def _attribute_changes(before: dict, after: dict, prefix: str = "") -> list[str]:
    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            lines.extend(_attribute_changes(old, new, f"{prefix}{key} "))
        elif old is None and isinstance(new, dict):
            lines.append(f"{prefix}{key} added")
        elif new is None and isinstance(old, dict):
            lines.append(f"{prefix}{key} removed")
        else:
            lines.append(f"{prefix}{key}: {_short(old)} -> {_short(new)}")
    return lines


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:117] + "..."
