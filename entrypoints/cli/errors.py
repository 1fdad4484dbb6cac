"""The one error a command raises to fail with a single line, instead of a traceback."""


class CommandFailed(Exception):
    """The command cannot do its work; the message says why, in words for the person who ran it."""
