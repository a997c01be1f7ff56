"""The one pattern for ids that reach a database field path, a file path, an email header
or a Message-ID: organisation, seller and reference ids taken from tokens and requests.

``ID_PATTERN``: a letter or digit, then up to 127 letters, digits, ``_`` or ``-``. No dot
(a MongoDB field path separator), no slash (a file path), no ``:``/``@``/space/CR/LF (an
email header or Message-ID), no ``$`` (a MongoDB operator).
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Path, Query
from pydantic import StringConstraints

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
ID_RE = re.compile(ID_PATTERN)

#: An id as a request model field or path parameter type.
SafeId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

#: ``organisation_id`` as a path parameter: the OpenAPI document carries the pattern that
#: ``auth.organisation_in_scope`` enforces, and FastAPI refuses others (422) before it.
OrganisationPath = Annotated[str, Path(pattern=ID_PATTERN, description="The organisation (tenant)")]

#: ``organisation_id`` as an optional query parameter (default: the token's organisation).
OrganisationQuery = Annotated[
    str | None,
    Query(pattern=ID_PATTERN, description="The organisation (tenant); default: the token's"),
]


def is_safe_id(value: object) -> bool:
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def allowed_url(url: str, *, allow_http: bool = False) -> bool:
    """A URL that may reach a customer (an email link) or be fetched: ``https`` with a
    host (``http`` too when ``allow_http``: the local profile), no control characters or
    spaces. ``javascript:``, ``data:``, ``file:`` and relative URLs are not."""
    if _CONTROL.search(url) or " " in url:
        return False
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return bool(parts.netloc) and (scheme == "https" or (allow_http and scheme == "http"))


def header_safe(value: str) -> str:
    """A value fit for an email header: CR, LF and other control characters become
    spaces, so a value can never start a header of its own."""
    return _CONTROL.sub(" ", value)
