"""The one pattern for ids that reach a database field path, a file path, an email header
or a Message-ID: organisation, seller and reference ids taken from tokens and requests.

``ID_PATTERN``: a letter or digit, then up to 127 letters, digits, ``_`` or ``-``. No dot
(a MongoDB field path separator), no slash (a file path), no ``:``/``@``/space/CR/LF (an
email header or Message-ID), no ``$`` (a MongoDB operator).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
ID_RE = re.compile(ID_PATTERN)

#: An id as a request model field or path parameter type.
SafeId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


def is_safe_id(value: object) -> bool:
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None
