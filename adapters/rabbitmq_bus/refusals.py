"""When RabbitMQ refuses eventgate itself rather than its events: its credentials, or its permissions.

A wrong user or password is refused at login (``ACCESS_REFUSED``); a user without access to the
virtual host is refused when it opens it (the broker closes the connection instead of opening it);
a user without the right to declare, or to write to, the exchange or queue has its channel closed
with ``403 ACCESS_REFUSED``.
"""

from aiormq.exceptions import (
    AuthenticationError,
    ChannelAccessRefused,
    ConnectionNotAllowed,
    InvalidFrameError,
    ProbableAuthenticationError,
)

from adapters.rabbitmq_bus.channel import ChannelLost

CREDENTIALS_REJECTED = "credentials rejected"
PERMISSION_DENIED = "permission denied"

_CHECK = {
    CREDENTIALS_REJECTED: "check the user and password in EVENTGATE_RABBITMQ_URL",
    PERMISSION_DENIED: "check the virtual host in EVENTGATE_RABBITMQ_URL and the user's configure and write "
    "permissions on it",
}


def refusal_cause(error: BaseException) -> str | None:
    """The cause when ``error`` says RabbitMQ refuses eventgate itself; ``None`` for any other error."""
    if isinstance(error, ProbableAuthenticationError | AuthenticationError):
        return CREDENTIALS_REJECTED
    if isinstance(error, ChannelAccessRefused | ConnectionNotAllowed):
        return PERMISSION_DENIED
    if isinstance(error, ChannelLost) and error.outcome.denied:
        return PERMISSION_DENIED
    if isinstance(error, InvalidFrameError) and "Connection.Close" in str(error):
        return PERMISSION_DENIED  # aiormq's words when the broker closes instead of opening the vhost
    return None


def what_to_check(cause: str) -> str:
    return _CHECK[cause]
