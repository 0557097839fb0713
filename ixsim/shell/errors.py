"""The debugger's user-facing error: one line, never a traceback.

Every mistake a user can make at the prompt or in a script (unknown host, register or
command, a bad number) is a :class:`ShellError`; the shell prints ``error: <message>`` and,
in script mode, stops with exit status 2.
"""

from __future__ import annotations


class ShellError(Exception):
    """A user error, printed as one line."""


class NotAvailable(ShellError):
    """A command whose layer (the IPv4 stack, sockets) is not attached to the host yet."""

    def __init__(self, what: str = "the IPv4 stack is not attached to this host") -> None:
        super().__init__(f"not available yet: {what}")
