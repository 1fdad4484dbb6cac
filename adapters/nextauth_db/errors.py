"""What can go wrong with database sessions, apart from the store not answering a lookup.

A lookup the store cannot answer raises the domain's ``SessionStoreUnavailable``; these are about
the configuration, found at start.
"""


class DatabaseSessionConfigError(ValueError):
    """The settings cannot work; the message names the variable to fix."""


class SessionStoreMisconfigured(Exception):
    """The session database answered, and refused: wrong credentials or database, a missing table or
    column, or no ``SELECT`` grant. The message has the server's words, without the URL's secrets;
    ``reason`` is short, with the error code only, safe to show anyone."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
