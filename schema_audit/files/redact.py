"""Password literals in SQL (`CREATE/ALTER ROLE/USER ... PASSWORD '...'`), masked.

Every writer of stored or shown SQL uses `redact`: the event log's sql_text and the ledger's
rollback_sql, the admin's pages, the evidence bundle. PostgreSQL's own scanner (pglast) finds
each literal that follows the PASSWORD keyword, also inside dollar-quoted bodies (DO blocks,
functions); comments (a header's Rollback) and unscannable text use a pattern. Checksums
stay over the file as written.
"""

from __future__ import annotations

import re

MASK = "'********'"
_STRING_TOKENS = {"SCONST", "USCONST"}
_COMMENT_TOKENS = {"SQL_COMMENT", "C_COMMENT"}
# When the scanner fails (an unterminated literal): PASSWORD, then a literal to its end.
_FALLBACK_RE = re.compile(
    r"(\bpassword\s+)(?:E?'(?:[^'\\]|''|\\.)*'?|\$(\w*)\$.*?(?:\$\2\$|\Z))",
    re.IGNORECASE | re.DOTALL,
)


def secret_spans(sql: str) -> list[tuple[int, int]]:
    """`(start, end)` character offsets of every password literal in `sql`."""
    if "password" not in sql.casefold():  # a C scan; a case-blind regex is 8 times slower
        return []
    from pglast import parser  # deferred: most text has no PASSWORD and never pays for it

    try:
        tokens = parser.scan(sql)
    except parser.ParseError:
        return _by_pattern(sql, 0, len(sql))
    spans = []
    for previous, token in zip([None, *tokens], tokens, strict=False):
        if token.name in _COMMENT_TOKENS:  # a header's `-- Rollback: ALTER ROLE ... PASSWORD`
            spans += _by_pattern(sql, token.start, token.end + 1)
        if token.name not in _STRING_TOKENS:
            continue
        text = sql[token.start : token.end + 1]
        if previous is not None and previous.name == "PASSWORD":
            spans.append((token.start, token.end + 1))
        elif text.startswith("$"):
            spans += _inside_dollar_quotes(text, token.start)
    return spans


def _by_pattern(sql: str, start: int, end: int) -> list[tuple[int, int]]:
    if "password" not in sql[start:end].casefold():
        return []
    return [(m.end(1), min(m.end(), end)) for m in _FALLBACK_RE.finditer(sql, start, end)]


def _inside_dollar_quotes(text: str, offset: int) -> list[tuple[int, int]]:
    tag_end = text.index("$", 1) + 1
    body = text[tag_end : len(text) - tag_end]
    return [(offset + tag_end + a, offset + tag_end + b) for a, b in secret_spans(body)]


def redact(sql: str | None) -> str | None:
    """`sql` with each password literal replaced by MASK; None stays None."""
    if not sql:
        return sql
    spans = secret_spans(sql)
    if not spans:
        return sql
    parts, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        parts += [sql[last:start], MASK]
        last = end
    return "".join(parts + [sql[last:]])
