"""``selectors`` over ixsim's epoll: stdlib-style code runs unchanged, blocking or in a task."""

from __future__ import annotations

import selectors
import socket

import pytest
from helpers.stack import two_hosts

from ixsim.world import World
from stack.socket.selectors import EVENT_READ, EVENT_WRITE, IxsimSelector, SelectorKey

US = 1_000
MS = 1_000_000


def echo_once(sel, listener, make_blocking_io=lambda s: None):
    """The stdlib docs' selectors echo server, serving one client until it closes."""
    served = []

    def accept(sock, mask):
        conn, _addr = sock.accept()
        conn.setblocking(False)
        sel.register(conn, selectors.EVENT_READ, read)

    def read(conn, mask):
        data = conn.recv(1000)
        if data:
            served.append(data)
            conn.send(data)
        else:
            sel.unregister(conn)
            conn.close()
            served.append(None)

    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, accept)
    while not served or served[-1] is not None:
        for key, mask in sel.select(timeout=5):
            key.data(key.fileobj, mask)
    sel.unregister(listener)
    return served


def _client_round(client, address):
    client.connect(address)
    client.sendall(b"ping")
    return client


def test_the_same_echo_code_serves_linux_sockets_and_ixsim_sockets():
    # ixsim: the selector blocks the world while waiting, the client lives in a task
    sched, a, b = two_hosts()
    listener = b.socket()
    listener.bind(("0.0.0.0", 7))
    listener.listen()
    got = []

    async def client():
        c = a.socket()
        await c.connect(("10.0.0.2", 7))
        await c.sendall(b"ping")
        got.append(await c.recv(10))
        c.close()

    a.spawn(client())
    with IxsimSelector(b.net) as sel:
        served = echo_once(sel, listener)
    assert served == [b"ping", None] and got == [b"ping"]
    # the stdlib's own selector, the same function, on this machine's loopback
    real = socket.socket()
    real.bind(("127.0.0.1", 0))
    real.listen()
    peer = socket.create_connection(real.getsockname())
    peer.sendall(b"ping")
    peer.shutdown(socket.SHUT_WR)
    with selectors.DefaultSelector() as sel:
        assert echo_once(sel, real) == [b"ping", None]
    assert peer.recv(10) == b"ping"
    peer.close()
    real.close()


def test_select_is_awaitable_in_a_task_and_maps_events_as_epollselector():
    sched, a, b = two_hosts()
    rx = b.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 53))
    sel = IxsimSelector(b.net)
    key = sel.register(rx, EVENT_READ | EVENT_WRITE, "udp")
    assert key == SelectorKey(rx, rx.fileno(), EVENT_READ | EVENT_WRITE, "udp")
    seen = []

    async def waiter():
        sel.modify(rx, EVENT_READ, "udp")
        seen.append((await sel.select(), sched.now))
        seen.append((await sel.select(0.001), sched.now))

    start = sched.now
    b.spawn(waiter())
    sched.run_for(1 * MS)
    tx = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.sendto(b"q", ("10.0.0.2", 53))
    sched.run_for(1 * MS)
    (first, t1), (second, t2) = seen
    assert first == [(sel.get_key(rx), EVENT_READ)] and t1 > start + 1 * MS
    assert second == [(sel.get_key(rx), EVENT_READ)]  # level-triggered: still unread
    rx.recv(10)
    assert sel.select(0) == []
    before = sched.now
    assert sel.select(0.0004) == [] and sched.now - before == 1 * MS  # rounded up to 1 ms
    sel.close()


def test_selector_errors_are_cpythons():
    sched, a, b = two_hosts()
    s = b.socket()
    sel = IxsimSelector(b.net)
    with pytest.raises(ValueError, match="Invalid events"):
        sel.register(s, 0)
    with pytest.raises(ValueError, match="Invalid events"):
        sel.register(s, 4)
    with pytest.raises(ValueError, match="Invalid file descriptor"):
        sel.register(-1, EVENT_READ)
    with pytest.raises(ValueError, match="Invalid file object"):
        sel.register(object(), EVENT_READ)
    sel.register(s, EVENT_WRITE)
    with pytest.raises(KeyError):
        sel.register(s.fileno(), EVENT_READ)  # the same fd
    assert sel.get_map()[s].fd == s.fileno() and len(sel.get_map()) == 1
    with pytest.raises(KeyError):
        sel.unregister(b.socket())
    s.close()
    assert sel.unregister(s).fd >= 0  # a closed socket can still be unregistered
    sel.close()
    with pytest.raises(RuntimeError, match="Selector is closed"):
        sel.get_key(s)
    # the same errors from the stdlib's selector
    real = selectors.DefaultSelector()
    with pytest.raises(ValueError, match="Invalid events"):
        real.register(socket.socket(), 4)
    with pytest.raises(ValueError, match="Invalid file descriptor"):
        real.register(-1, selectors.EVENT_READ)
    real.close()


def test_host_selector_is_a_base_selector():
    with World(seed=1) as w:
        h = w.host("h", "10.0.0.1/24")
        sel = h.selector()
        assert isinstance(sel, selectors.BaseSelector)
        s = h.socket()
        sel.register(s, selectors.EVENT_WRITE)
        # an unconnected TCP socket is writable-ish to epoll: EPOLLOUT|EPOLLHUP as Linux
        [(key, events)] = sel.select(0)
        assert key.fileobj is s and events == selectors.EVENT_WRITE
        sel.close()
