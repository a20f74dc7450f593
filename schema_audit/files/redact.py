"""Password literals in SQL and in header text, masked.

Every writer of stored or shown SQL uses `redact`: the event log's sql_text and the ledger's
rollback_sql and header fields, the admin's pages and CSV exports, the approve page, the
evidence bundle. PostgreSQL's own scanner (pglast) finds each literal that is a password:
after the PASSWORD keyword (comments between them are skipped), after an option named like
`password` (`OPTIONS (sslpassword '...')`), an argument of `format()` whose format string puts
it after PASSWORD, inside dollar-quoted bodies (DO blocks, functions) and inside `--` comment
runs (a header's Rollback, continued over lines). Only text the scanner cannot read (an
unterminated literal, prose with an apostrophe) falls back to a pattern. Checksums stay over
the file as written.
"""

from __future__ import annotations

import re

MASK = "'********'"
INNER_MASK = "********"  # a secret inside a string literal
_INNER_MASKED_RE = re.compile(r"password\s*(?:=\s*)?\*{8}|://[^:/@\s']*:\*{8}@", re.IGNORECASE)
# A libpq connection string inside a literal (CREATE SUBSCRIPTION ... CONNECTION, dblink):
# `password=...` (quoted with doubled quotes, or up to a space) and the URI's `user:secret@`.
_CONNINFO_RES = (
    re.compile(r"\bpassword\s*=\s*(''(?:[^']|'''')*''|[^\s']+)", re.IGNORECASE),
    re.compile(r"postgres(?:ql)?://[^:/@\s']*:([^@\s']+)@", re.IGNORECASE),
)
# Text longer than this is scanned statement by statement (_by_statement).
SCAN_WHOLE_MAX_CHARS = 1024 * 1024
_STRING_TOKENS = {"SCONST", "USCONST"}
_COMMENT_TOKENS = {"SQL_COMMENT", "C_COMMENT"}
# When the scanner fails (an unterminated literal): PASSWORD, then a literal to its end.
_FALLBACK_RE = re.compile(
    r"(\bpassword\s+)(?:E?'(?:[^'\\]|''|\\.)*'?|\$(\w*)\$.*?(?:\$\2\$|\Z))",
    re.IGNORECASE | re.DOTALL,
)
# One format() specifier: %[n$][flags][width]type (PostgreSQL's own grammar).
_FORMAT_SPEC_RE = re.compile(r"%(?:(\d+)\$)?-?(?:\d+|\*(?:\d+\$)?)?([sIL%])")


def secret_spans(sql: str) -> list[tuple[int, int]]:
    """`(start, end)` character offsets of every password literal in `sql`."""
    # C scans; a case-blind regex is 8 times slower. "://" finds connection URIs.
    if "password" not in sql.casefold() and "://" not in sql:
        return []
    if len(sql) > SCAN_WHOLE_MAX_CHARS:
        return _by_statement(sql)
    return _token_spans(sql)


def _by_statement(sql: str) -> list[tuple[int, int]]:
    """Big text, one statement at a time: a token list of a 100 MB file would take gigabytes,
    and only the statements that mention a password are scanned."""
    from pglast import parser

    try:
        pieces = parser.split(sql, with_parser=False, only_slices=True)
    except parser.ParseError:
        return _by_pattern(sql, 0, len(sql))
    spans, last = [], 0
    for piece in [*pieces, slice(len(sql), len(sql))]:
        for start, stop in ((last, piece.start), (piece.start, piece.stop)):
            part = sql[start:stop]
            if "password" in part.casefold() or "://" in part:
                spans += _shifted(_token_spans(part), start)
        last = piece.stop
    return spans


def _token_spans(sql: str) -> list[tuple[int, int]]:
    from pglast import parser  # deferred: most text has no PASSWORD and never pays for it

    try:
        tokens = parser.scan(sql)
    except parser.ParseError:
        return _by_pattern(sql, 0, len(sql))
    spans = _in_comments(sql, tokens)
    code = [token for token in tokens if token.name not in _COMMENT_TOKENS]
    for index, token in enumerate(code):
        if token.name not in _STRING_TOKENS:
            continue
        text = sql[token.start : token.end + 1]
        if index and _names_password(sql, code[index - 1]):
            spans.append((token.start, token.end + 1))
        elif text.startswith("$"):
            spans += _inside_dollar_quotes(text, token.start)
        else:
            spans += _conninfo(text, token.start)
            if "password" in text.casefold():
                spans += _inside_literal(sql, code, index)
        if index > 1 and code[index - 1].name == "ASCII_40" and _is_format(sql, code[index - 2]):
            spans += _format_arguments(sql, code, index)
    return spans


def _conninfo(text: str, offset: int) -> list[tuple[int, int]]:
    """The secrets of a connection string written in the literal `text` (at `offset`)."""
    return [
        InnerSpan((offset + found.start(1), offset + found.end(1)))
        for pattern in _CONNINFO_RES
        for found in pattern.finditer(text)
        if found.group(1).strip("'") != INNER_MASK
    ]


def _names_password(sql: str, token) -> bool:
    """The PASSWORD keyword, or an option name such as "password" or sslpassword."""
    if token.name == "PASSWORD":
        return True
    return token.name == "IDENT" and "password" in sql[token.start : token.end + 1].casefold()


def _is_format(sql: str, token) -> bool:
    return sql[token.start : token.end + 1].strip('"').casefold() == "format"


def _format_arguments(sql: str, code: list, index: int) -> list[tuple[int, int]]:
    """Literals passed to format() for a specifier that follows PASSWORD in its format string."""
    template = _literal_value(sql[code[index].start : code[index].end + 1])
    secret_args = _password_specifiers(template)
    if not secret_args:
        return []
    spans, depth, argument = [], 0, 0
    for token in code[index + 1 :]:
        if token.name == "ASCII_40":
            depth += 1
        elif token.name == "ASCII_41":
            if depth == 0:
                break
            depth -= 1
        elif token.name == "ASCII_44" and depth == 0:
            argument += 1
        elif token.name in _STRING_TOKENS and argument in secret_args:
            spans.append((token.start, token.end + 1))
    return spans


def _password_specifiers(template: str) -> set[int]:
    """1-based argument numbers (after the format string) that a `PASSWORD %L` consumes."""
    found, following, previous_end = set(), 0, 0
    for match in _FORMAT_SPEC_RE.finditer(template):
        if match.group(2) == "%":
            previous_end = match.end()
            continue
        if "*" in match.group(0) and "$" not in match.group(0).split("*", 1)[1]:
            following += 1  # a `*` width takes the next argument
        number = int(match.group(1)) if match.group(1) else following + 1
        following = number
        before = template[previous_end : match.start()].rstrip(" \t\r\n'\"")
        if before.casefold().endswith("password"):
            found.add(number)
        previous_end = match.end()
    return found


def _inside_literal(sql: str, code: list, index: int) -> list[tuple[int, int]]:
    """SQL built in a string literal: an EXECUTE'd `ALTER ROLE a PASSWORD` with its literal
    (masked from after PASSWORD to the literal's end), or a literal ending in PASSWORD that is
    concatenated with the secret (`|| 'x'`, or `|| quote_literal('x')`)."""
    token = code[index]
    text = sql[token.start : token.end + 1]
    if "'" not in text or text[0] not in "'eEnN":
        return []
    value = _literal_value(text)
    if value.rstrip().casefold().endswith("password"):
        return _concatenated_after(sql, code, index)
    if not _scanned_or_pattern(value):
        return []
    at = text.casefold().index("password") + len("password")
    at += len(text[at:]) - len(text[at:].lstrip())
    return [InnerSpan((token.start + at, token.end))]


def _concatenated_after(sql: str, code: list, index: int) -> list[tuple[int, int]]:
    """The literals of the operand that follows `||` after code[index]."""
    if index + 1 >= len(code) or sql[code[index + 1].start : code[index + 1].end + 1] != "||":
        return []
    spans, depth = [], 0
    for token in code[index + 2 :]:
        if token.name == "ASCII_40":
            depth += 1
        elif token.name == "ASCII_41":
            depth -= 1
        elif token.name in _STRING_TOKENS:
            spans.append((token.start, token.end + 1))
        if depth <= 0 and token.name not in ("ASCII_40", "ASCII_46"):
            if not _is_call_name(sql, token):
                break
    return spans


def _is_call_name(sql: str, token) -> bool:
    """An identifier or keyword that may name the function of a call (`quote_literal(`)."""
    return token.name not in _STRING_TOKENS and sql[token.start : token.end + 1].isidentifier()


class InnerSpan(tuple):
    """A secret inside a string literal: masked without quotes of its own (INNER_MASK)."""


def _shifted(spans: list, offset: int) -> list:
    """`spans` moved by `offset`, each keeping its kind."""
    return [type(span)((span[0] + offset, span[1] + offset)) for span in spans]


def _literal_value(text: str) -> str:
    if text.startswith("$"):
        tag_end = text.index("$", 1) + 1
        return text[tag_end : len(text) - tag_end]
    value = text[text.index("'") + 1 : -1]
    if text[0] in "eE":  # backslash escapes, as far as quotes go
        value = value.replace("\\\\", "\x00").replace("\\'", "'").replace("\x00", "\\")
    return value.replace("''", "'")


def _in_comments(sql: str, tokens: list) -> list[tuple[int, int]]:
    """Secrets in comments: each run of `--` lines read as one text, `--` blanked in place."""
    spans, run = [], []
    for token in [*tokens, None]:
        if token is not None and token.name == "SQL_COMMENT" and "\n" not in _gap(sql, run, token):
            run.append(token)
            continue
        if run:
            spans += _comment_secrets(sql, run[0].start, run[-1].end + 1)
        run = [token] if token is not None and token.name == "SQL_COMMENT" else []
        if token is not None and token.name == "C_COMMENT":
            spans += _comment_secrets(sql, token.start, token.end + 1)
    return spans


def _gap(sql: str, run: list, token) -> str:
    """What lies between the run's last comment and `token` beyond one line break."""
    if not run:
        return ""
    return sql[run[-1].end + 1 : token.start].replace("\n", "", 1).strip(" \t\r")


def _comment_secrets(sql: str, start: int, end: int) -> list[tuple[int, int]]:
    text = sql[start:end]
    if "password" not in text.casefold():
        return []
    # Same length, same offsets: only the comment markers become blanks.
    if text.startswith("/*"):
        body = "  " + text[2:-2] + "  "
    else:
        body = "\n".join(
            line.replace("--", "  ", 1) if line.lstrip().startswith("--") else line
            for line in text.split("\n")
        )
    return _shifted(_scanned_or_pattern(body), start)


def _scanned_or_pattern(text: str) -> list[tuple[int, int]]:
    from pglast import parser

    try:
        parser.scan(text)
    except parser.ParseError:  # prose (`don't`): the pattern reads it
        return _by_pattern(text, 0, len(text))
    return secret_spans(text)


def _by_pattern(sql: str, start: int, end: int) -> list[tuple[int, int]]:
    if "password" not in sql[start:end].casefold():
        return []
    return [(m.end(1), min(m.end(), end)) for m in _FALLBACK_RE.finditer(sql, start, end)]


def _inside_dollar_quotes(text: str, offset: int) -> list[tuple[int, int]]:
    tag_end = text.index("$", 1) + 1
    body = text[tag_end : len(text) - tag_end]
    return _shifted(secret_spans(body), offset + tag_end)


def redact(sql: str | None) -> str | None:
    """`sql` with each password literal replaced by MASK; None stays None."""
    if not sql:
        return sql
    spans = secret_spans(sql)
    if not spans:
        return sql
    parts, last = [], 0
    for span in sorted(spans):
        start, end = span
        if start < last:
            continue
        # Inside a literal (SQL built in a string) the mask carries no quotes of its own, so
        # the text stays one literal and masking it again changes nothing.
        parts += [sql[last:start], INNER_MASK if isinstance(span, InnerSpan) else MASK]
        last = end
    return "".join(parts + [sql[last:]])


def redact_value(value: object) -> object:
    """`value` redacted when it is text; any other cell value (a number, a date) as it is."""
    return redact(value) if isinstance(value, str) else value


def has_masked_secret(sql: str | None) -> bool:
    """True if `sql` is a redacted copy: a password literal that is MASK, or INNER_MASK."""
    if not sql:
        return False
    if any(sql[a:b] == MASK for a, b in secret_spans(sql)):
        return True
    # INNER_MASK leaves no literal for the scanner to find: look for the mask's own shape.
    return _INNER_MASKED_RE.search(sql) is not None
