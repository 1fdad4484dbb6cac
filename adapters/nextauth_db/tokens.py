"""Which cookie values can be session tokens at all, so that others are refused without a query.

Both libraries make a session token with ``generateSessionToken``: @auth/core's default is
``crypto.randomUUID()``; next-auth v4's is the same, or ``randomBytes(32).toString("hex")`` where
Node lacks ``randomUUID``. An app may give its own; ``custom`` then admits any token of visible
ASCII characters that a database column could hold. Neither admits a NUL, which PostgreSQL would
refuse with an error rather than an answer.
"""

import re
from collections.abc import Callable, Mapping

from adapters.nextauth_db.settings import TokenFormat

MAX_CUSTOM_TOKEN_LENGTH = 4096
"""One cookie's worth: a browser keeps no larger cookie."""

_LIBRARY = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}|[0-9a-f]{64}", re.ASCII
)
_CUSTOM = re.compile(rf"[\x21-\x7e]{{1,{MAX_CUSTOM_TOKEN_LENGTH}}}", re.ASCII)

TOKEN_SHAPES: Mapping[TokenFormat, Callable[[str], object]] = {
    "library": _LIBRARY.fullmatch,
    "custom": _CUSTOM.fullmatch,
}
"""For each format, a test that is truthy for a value that may be a session token."""
