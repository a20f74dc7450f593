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
    if not author.spellings:
        return set()
    model = get_user_model()
    field = model.USERNAME_FIELD
    has_email = "email" in {f.name for f in model._meta.get_fields()}
    wanted = Q()
    for spelling in author.spellings:
        wanted |= Q(**{f"{field}__iexact": spelling})
        if has_email:
            wanted |= Q(email__iexact=spelling)
    try:
        return set(model.objects.filter(wanted).values_list(field, flat=True)[:100])
    except DatabaseError as exc:  # no auth tables on this database
        logger.warning("approvals: cannot read Django users (%s)", exc)
        return None


def is_author(author_text: str, username: str, email: str | None = "") -> bool:
    """True when the Author header names this user (username or e-mail, in any spelling)."""
    return Author.parse(author_text).names(username, email)
