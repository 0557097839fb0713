"""The neutral surface a differential socket scenario is written against, and the registry.

A scenario is a plain function ``fn(net)`` written once; it runs unchanged against Linux's
sockets (two network namespaces joined by a veth pair, :mod:`tests.sockdiff.linux`) and
against ixsim's (two hosts on a cable, :mod:`tests.sockdiff.ixsim_net`).  Every observation
goes through :meth:`Net.note`, which normalises what legitimately differs between two runs
(ephemeral ports, socket objects, enum types), so two backends that behave alike produce
equal observation lists.

The surface (both backends implement it):

* ``net.socket(side, family, type, proto=0)``: a socket on host ``"a"`` (10.0.0.1) or
  ``"b"`` (10.0.0.2), both on one /24 link;
* ``net.addr(side)``; ``net.port(i)``: a port fixed for this scenario (the same on both
  backends, distinct per scenario so Linux's TIME_WAIT from one scenario never meets the next);
* ``net.settle(ms)``: let the network run (Linux: sleep; ixsim: ``World.run_for``);
* ``net.note(label, value)``; ``net.try_(label, fn, *args)`` records the result or
  ``("OSError", "ECONNREFUSED")`` (any other exception: its type name);
* ``net.poll(sock)``: the readiness mask as ``poll(2)`` reports it, as a ``"IN|OUT"`` string;
* ``net.epoll(side)``: an :class:`EpollView` (register a socket under a label; ``poll()``
  gives ``[(label, "IN|OUT"), ...]``, so fd numbers, which differ, never reach an observation);
* ``net.sockatmark(sock)``; ``net.sysctl(side, key, value)``.

Scenarios block only where the peer's answer is already there (a connect to a listening
peer, an accept after a connect, a recv after ``settle``); anything else is non-blocking.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EPHEMERAL = range(32768, 61000)  # net.ipv4.ip_local_port_range, Linux's default
PORT_BASE = 20000
PORTS_PER_SCENARIO = 8

# poll(2) bits (asm-generic/poll.h): the events every scenario asks for
POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
POLLRDHUP = 0x2000
POLL_ASKED = POLLIN | POLLPRI | POLLOUT | POLLRDHUP
POLL_NAMES = ((POLLIN, "IN"), (POLLPRI, "PRI"), (POLLOUT, "OUT"), (POLLERR, "ERR"),
              (POLLHUP, "HUP"), (POLLNVAL, "NVAL"), (POLLRDHUP, "RDHUP"))


def poll_text(mask: int) -> str:
    """``IN|OUT`` for a poll mask restricted to what was asked plus ERR/HUP/NVAL."""
    mask &= POLL_ASKED | POLLERR | POLLHUP | POLLNVAL
    return "|".join(name for bit, name in POLL_NAMES if mask & bit) or "0"


def _is_socket(value: Any) -> bool:
    return hasattr(value, "fileno") and hasattr(value, "getsockname") and hasattr(value, "recv")


def norm(value: Any) -> Any:
    """The comparable form of an observation: sockets become ``"<socket>"``, enums plain
    ints, ``(ip, port)`` with an ephemeral port becomes ``(ip, "ephemeral")``."""
    if _is_socket(value):
        return "<socket>"
    if isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return int(value.value)
    if isinstance(value, tuple | list):
        if (len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)
                and value[1] in EPHEMERAL):
            return (value[0], "ephemeral")
        return tuple(norm(v) for v in value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


def error_of(exc: BaseException) -> tuple[str, ...]:
    """An exception as an observation: ``("OSError", "EPIPE")`` for any OSError with an errno
    (the subclass is CPython's choice from the errno), the type name otherwise."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return ("OSError", errno.errorcode.get(exc.errno, str(exc.errno)))
    if isinstance(exc, TimeoutError):
        return ("TimeoutError",)
    return (type(exc).__name__,)


class EpollView:
    """An epoll instance seen through labels: ``register(sock, events, label)``, ``modify``,
    ``unregister``, ``poll()`` -> sorted ``[(label, mask text)]`` (timeout 0)."""

    def __init__(self, ep: Any, key_of: Callable[[Any], Any]) -> None:
        self.ep = ep
        self.key_of = key_of  # what this backend's epoll reports for a socket
        self.labels: dict[Any, str] = {}

    def register(self, sock: Any, events: int, label: str) -> None:
        self.ep.register(self.key_of(sock), events)
        self.labels[self.key_of(sock)] = label

    def modify(self, sock: Any, events: int) -> None:
        self.ep.modify(self.key_of(sock), events)

    def unregister(self, sock: Any) -> None:
        self.ep.unregister(self.key_of(sock))

    def poll(self) -> list[tuple[str, str]]:
        out = []
        for key, mask in self.ep.poll(0):
            if not isinstance(key, int):
                key = self.key_of(key)
            out.append((self.labels.get(key, "?"), poll_text(mask)))
        return sorted(out)


class Net:
    """What a scenario sees; the backends fill in the transport."""

    ADDRS = {"a": "10.0.0.1", "b": "10.0.0.2"}
    backend = "?"

    def __init__(self, index: int = 0) -> None:
        self.observations: list[tuple[str, Any]] = []
        self.index = index
        self._socks: list[Any] = []

    # -- provided by the backends -----------------------------------------------------------
    def _socket(self, side: str, family: int, type: int, proto: int) -> Any:
        raise NotImplementedError

    def settle(self, ms: float = 5) -> None:
        raise NotImplementedError

    def _poll(self, sock: Any) -> int:
        raise NotImplementedError

    def sockatmark(self, sock: Any) -> int:
        raise NotImplementedError

    def epoll(self, side: str) -> EpollView:
        raise NotImplementedError

    def sysctl(self, side: str, key: str, value: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass
        self._socks.clear()

    # -- common -----------------------------------------------------------------------------
    def socket(self, side: str, family: int, type: int, proto: int = 0) -> Any:
        if side not in self.ADDRS:
            raise ValueError(f"side is 'a' or 'b', not {side!r}")
        sock = self._socket(side, family, type, proto)
        self._socks.append(sock)
        return sock

    def addr(self, side: str) -> str:
        return self.ADDRS[side]

    def port(self, i: int = 0) -> int:
        if not 0 <= i < PORTS_PER_SCENARIO:
            raise ValueError(f"a scenario has ports 0..{PORTS_PER_SCENARIO - 1}")
        return PORT_BASE + self.index * PORTS_PER_SCENARIO + i

    def note(self, label: str, value: Any) -> None:
        self.observations.append((label, norm(value)))

    def try_(self, label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn``; note its result, or its error as :func:`error_of` spells it.  Returns
        the result (None after an error)."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every error is an observation
            self.note(label, error_of(exc))
            return None
        self.note(label, result)
        return result

    def poll(self, sock: Any) -> str:
        return poll_text(self._poll(sock))

    def note_poll(self, label: str, sock: Any) -> None:
        self.note(label, self.poll(sock))

    def note_port(self, label: str, port: int) -> None:
        self.note(label, "ephemeral" if port in EPHEMERAL else port)


@dataclass
class Scenario:
    name: str
    fn: Callable[[Net], None]
    index: int


SCENARIOS: list[Scenario] = []


def scenario(fn: Callable[[Net], None]) -> Callable[[Net], None]:
    """Register a scenario.  Its index in registration order fixes its ports, so they never
    depend on ``-k``; a difference known today goes in ``tests/sockdiff/known.py``."""
    name = fn.__name__
    if any(s.name == name for s in SCENARIOS):
        raise ValueError(f"scenario {name} registered twice")
    SCENARIOS.append(Scenario(name, fn, len(SCENARIOS)))
    return fn
