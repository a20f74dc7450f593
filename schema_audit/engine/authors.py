"""A file's `-- Author:` matched to Django users, for separation of duties under approvals.

The header names its author as a username, an e-mail, or `Name <e-mail>`; each spelling is
compared, without regard to case, with every user's username and e-mail, so `Alice Smith
<alice@x.test>` is the user whose e-mail is alice@x.test.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.db.models import Q
from django.db.models.functions import Lower

logger = logging.getLogger(__name__)

_NAME_EMAIL_RE = re.compile(r"^(?P<name>[^<>]*?)\s*<(?P<email>[^<>]+)>\s*$")


@dataclass(frozen=True)
class Author:
    """The spellings of one Author header: the whole text, its name part, its e-mail part."""

    text: str
    spellings: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Author:
        """`alice`, `alice@x.test` or `Alice Smith <alice@x.test>`, lower-cased."""
        whole = " ".join((text or "").split())
        found = _NAME_EMAIL_RE.match(whole)
        parts = {whole}
        if found:
            parts |= {found["name"], found["email"].strip()}
        return cls(whole, frozenset(p.lower() for p in parts if p))

    def names(self, username: str, email: str | None) -> bool:
        """True when this Author is spelled as the user's username or e-mail."""
        mine = {(username or "").strip().lower(), (email or "").strip().lower()} - {""}
        return bool(self.spellings & mine)


def matching_usernames(author: Author) -> set[str] | None:
    """Usernames of the Django users this Author names; None when users cannot be read."""
    return usernames_by_author([author])[author.text]


def usernames_by_author(authors: list[Author]) -> dict[str, set[str] | None]:
    """`{author text: usernames it names}` in one query; each value None if users are unread."""
    spellings = {spelling for author in authors for spelling in author.spellings}
    if not spellings:
        return {author.text: set() for author in authors}
    model = get_user_model()
    field = model.USERNAME_FIELD
    has_email = "email" in {f.name for f in model._meta.get_fields()}
    users = model.objects.annotate(lower_name=Lower(field))
    wanted = Q(lower_name__in=spellings)
    if has_email:
        users = users.annotate(lower_email=Lower("email"))
        wanted |= Q(lower_email__in=spellings)
    columns = (field, "lower_name", "lower_email") if has_email else (field, "lower_name")
    try:
        found = list(users.filter(wanted).values_list(*columns)[:10_000])
    except DatabaseError as exc:  # no auth tables on this database
        logger.warning("approvals: cannot read Django users (%s)", exc)
        return {author.text: None for author in authors}
    return {
        author.text: {row[0] for row in found if author.spellings & set(row[1:])}
        for author in authors
    }


def is_author(author_text: str, username: str, email: str | None = "") -> bool:
    """True when the Author header names this user (username or e-mail, in any spelling)."""
    return Author.parse(author_text).names(username, email)
