"""When NATS refuses eventgate itself rather than its events: its credentials, or its permissions.

nats-py reports either as an error of the connection (``Authorization Violation`` while connecting,
``Permissions Violation for Publish to ...`` while connected), never as the answer to a message: a
message the account may not publish is dropped, and no acknowledgement comes.
"""

CREDENTIALS_REJECTED = "credentials rejected"
PERMISSION_DENIED = "permission denied"

_CREDENTIAL_ERRORS = (
    "authorization violation",
    "authorization failed",
    "authentication expired",
    "authentication revoked",
)
_PERMISSION_ERRORS = ("permissions violation",)
_CHECK = {
    CREDENTIALS_REJECTED: "check EVENTGATE_NATS_TOKEN, EVENTGATE_NATS_USER and EVENTGATE_NATS_PASSWORD, "
    "EVENTGATE_NATS_NKEY_SEED_FILE or EVENTGATE_NATS_CREDENTIALS_FILE",
    PERMISSION_DENIED: "check what the NATS account may publish and subscribe to",
}


def refusal_cause(error: BaseException) -> str | None:
    """The cause when ``error`` says NATS refuses eventgate itself; ``None`` for any other error."""
    said = str(error).lower()
    if any(words in said for words in _CREDENTIAL_ERRORS):
        return CREDENTIALS_REJECTED
    if any(words in said for words in _PERMISSION_ERRORS):
        return PERMISSION_DENIED
    return None


def what_to_check(cause: str) -> str:
    return _CHECK[cause]
