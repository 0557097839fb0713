"""epoll over the fake Socks: ctl errors, LT/ET/ONESHOT/EXCLUSIVE, blocking and task waits,
and a ready list fed by wake-ups (a wait never scans idle sockets)."""

from __future__ import annotations

import errno

import pytest
from helpers.fakes import connected_pair, two_hosts
from helpers.units import US

import stack.socket as so
from ixsim.sched import Deadlock
from stack.socket import (
    EPOLL_CTL_ADD,
    EPOLL_CTL_DEL,
    EPOLL_CTL_MOD,
    EPOLLERR,
    EPOLLET,
    EPOLLEXCLUSIVE,
    EPOLLHUP,
    EPOLLIN,
    EPOLLONESHOT,
    EPOLLOUT,
    EPOLLRDHUP,
    epoll_create,
)


def settle(sock, t=100 * US):
    sock.sched.run_for(t)


def test_level_triggered_reports_until_drained():
    _, cli, conn, _ = connected_pair()
    ep = epoll_create(conn.net)
    ep.register(conn, EPOLLIN)
    assert ep.poll(0) == []
    cli.sendall(b"abcdef")
    settle(conn)
    assert ep.poll(0) == [(conn.fileno(), EPOLLIN)]
    assert ep.poll(0) == [(conn.fileno(), EPOLLIN)]  # still unread: reported again
    conn.recv(3)
    assert ep.poll(0) == [(conn.fileno(), EPOLLIN)]
    conn.recv(3)
    assert ep.poll(0) == []


def test_register_by_fd_reports_the_fd_and_epoll_has_its_own_fd():
    _, cli, conn, srv = connected_pair()
    ep = epoll_create(conn.net)
    assert ep.fileno() == 5  # host b: listener 3, conn 4, epoll 5
    ep.register(conn.fileno(), EPOLLIN | EPOLLOUT)
    assert ep.poll(0) == [(4, EPOLLOUT)]
    ep.modify(conn, EPOLLIN)  # the Socket and its fd name the same registration
    assert ep.poll(0) == []
    ep.unregister(4)
    assert len(ep) == 0
    ep.close()
    assert ep.closed and 5 not in conn.net.fdtable
    with pytest.raises(ValueError, match="closed epoll"):
        ep.fileno()  # as select.epoll
    with pytest.raises(ValueError):
        ep.poll(0)


def test_ctl_errors_are_linuxs():
    _, cli, conn, srv = connected_pair()
    ep = epoll_create()
    with pytest.raises(OSError) as info:
        ep.register(99)  # no host known yet: an fd cannot be resolved
    assert info.value.errno == errno.EBADF
    ep.register(conn, EPOLLIN)
    with pytest.raises(FileExistsError):
        ep.register(conn, EPOLLIN)
    with pytest.raises(FileExistsError):
        ep.ctl(EPOLL_CTL_ADD, conn.fileno(), EPOLLIN)
    with pytest.raises(FileNotFoundError):
        ep.modify(srv, EPOLLIN)
    with pytest.raises(FileNotFoundError):
        ep.ctl(EPOLL_CTL_DEL, srv)
    with pytest.raises(OSError) as info:
        ep.register(99)
    assert info.value.errno == errno.EBADF
    with pytest.raises(OSError) as info:
        ep.register(srv, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError) as info:
        ep.register(srv, EPOLLIN | EPOLLEXCLUSIVE | EPOLLRDHUP)
    assert info.value.errno == errno.EINVAL
    ep.register(srv, EPOLLIN | EPOLLEXCLUSIVE)
    with pytest.raises(OSError) as info:
        ep.modify(srv, EPOLLIN)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError) as info:
        ep.ctl(9, conn, EPOLLIN)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(OSError) as info:
        ep.register(ep.fileno(), EPOLLIN)  # nested epoll: not supported
    assert info.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        ep.register("conn")
    cli.close()
    with pytest.raises(OSError) as info:
        ep.register(cli)
    assert info.value.errno == errno.EBADF


def test_edge_triggered_reports_once_per_wakeup():
    _, cli, conn, _ = connected_pair()
    ep = epoll_create(conn.net)
    ep.register(conn, EPOLLIN | EPOLLET)
    cli.sendall(b"one")
    settle(conn)
    assert ep.poll(0) == [(conn.fileno(), EPOLLIN)]
    assert ep.poll(0) == []  # unread, but no new edge
    cli.sendall(b"two")
    settle(conn)
    assert ep.poll(0) == [(conn.fileno(), EPOLLIN)]  # new data is a new edge
    assert conn.recv(10) == b"onetwo"
    assert ep.poll(0) == []


def test_oneshot_disarms_until_modify():
    _, cli, conn, _ = connected_pair()
    ep = epoll_create(conn.net)
    ep.register(conn, EPOLLIN | EPOLLONESHOT)
    cli.sendall(b"x")
    settle(conn)
    assert ep.poll(0) == [(conn.fileno(), EPOLLIN)]
    cli.sendall(b"y")
    settle(conn)
    assert ep.poll(0) == []  # disarmed: even a new wake-up is ignored
    ep.ctl(EPOLL_CTL_MOD, conn, EPOLLIN | EPOLLONESHOT)  # re-arm: ready now, so reported
    assert ep.poll(0) == [(conn.fileno(), EPOLLIN)]
    assert ep.poll(0) == []


def test_err_and_hup_are_always_reported_and_rdhup_on_request():
    _, cli, conn, _ = connected_pair()
    ep = epoll_create(conn.net)
    ep.register(conn, EPOLLRDHUP)
    cli.shutdown(so.SHUT_WR)
    settle(conn)
    assert ep.poll(0) == [(conn.fileno(), EPOLLRDHUP)]
    ep2 = epoll_create(cli.net)
    ep2.register(cli, 0)  # nothing asked for...
    conn.sk.rx += b"unread"  # ...but a reset is still reported
    conn.close()
    settle(cli)
    assert ep2.poll(0) == [(cli.fileno(), EPOLLERR | EPOLLHUP)]


def test_nonblocking_connect_completion_shows_as_epollout():
    fabric, a, b = two_hosts()
    srv = b.stream()
    srv.bind(("", 80))
    srv.listen()
    cli = a.stream()
    cli.setblocking(False)
    assert cli.connect_ex(("10.0.0.2", 80)) == errno.EINPROGRESS
    ep = epoll_create(a)
    ep.register(cli, EPOLLOUT)
    assert ep.poll(0) == []
    assert ep.poll(timeout=1.0) == [(cli.fileno(), EPOLLOUT)]
    assert fabric.sched.now == 20 * US  # ran the world exactly until the handshake
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_ERROR) == 0


def test_blocking_poll_runs_the_world_times_out_and_reports_deadlock():
    _, cli, conn, srv = connected_pair()
    sched = conn.sched
    ep = epoll_create(conn.net)
    ep.register(conn, EPOLLIN)
    ep.register(srv, EPOLLIN)
    sched.call_later(500 * US, cli.sk.sendmsg, b"ping")
    t0 = sched.now
    assert ep.poll() == [(conn.fileno(), EPOLLIN)]
    assert sched.now - t0 == 510 * US
    conn.recv(10)
    sched.call_later(10_000 * US, lambda: None)
    t0 = sched.now
    assert ep.poll(timeout=0.001) == []
    assert sched.now - t0 == 1_000_000
    with pytest.raises(Deadlock, match=r"epoll_wait on epoll fd 5 watching 2 sockets "
                                       r"\(fd 4 EPOLLIN\|EPOLLERR\|EPOLLHUP, fd 3 EPOLLIN"):
        ep.poll()


def test_maxevents_leaves_the_rest_for_the_next_wait_in_order():
    fabric, a, b = two_hosts()
    srv = b.stream()
    srv.bind(("", 7))
    srv.listen()
    clients = [a.stream() for _ in range(5)]
    for c in clients:
        c.connect(("10.0.0.2", 7))
    conns = [srv.accept()[0] for _ in clients]
    ep = epoll_create(b)
    for c in conns:
        ep.register(c, EPOLLIN | EPOLLET)
    for c in clients:
        c.sendall(b"x")
    fabric.sched.run_for(100 * US)
    first = ep.poll(0, maxevents=2)
    second = ep.poll(0, maxevents=2)
    third = ep.poll(0, maxevents=2)
    assert [fd for fd, _ in first + second + third] == [c.fileno() for c in conns]
    assert ep.poll(0) == []
    with pytest.raises(ValueError):
        ep.poll(0, maxevents=0)


def test_the_ready_list_is_fed_by_wakeups_not_by_scanning():
    fabric, a, b = two_hosts()
    srv = b.stream()
    srv.bind(("", 7))
    srv.listen(200)
    clients = [a.stream() for _ in range(100)]
    for c in clients:
        c.connect(("10.0.0.2", 7))
    conns = [srv.accept()[0] for _ in clients]
    ep = epoll_create(b)
    for c in conns:
        ep.register(c, EPOLLIN)
    polls = []
    for c in conns:
        orig = c.sk.poll
        c.sk.poll = lambda orig=orig, c=c: (polls.append(c), orig())[1]
    clients[42].sendall(b"only me")
    fabric.sched.run_for(100 * US)
    assert ep.poll(0) == [(conns[42].fileno(), EPOLLIN)]
    assert ep.poll(0) == [(conns[42].fileno(), EPOLLIN)]
    conns[42].recv(100)
    assert ep.poll(0) == []
    # each wait looked at the one socket on the ready list, never at the 99 idle ones
    assert {id(c) for c in polls} == {id(conns[42])}


def test_closing_a_socket_removes_it_from_every_epoll():
    _, cli, conn, _ = connected_pair()
    ep1, ep2 = epoll_create(conn.net), epoll_create(conn.net)
    ep1.register(conn, EPOLLIN)
    ep2.register(conn, EPOLLIN | EPOLLEXCLUSIVE)
    assert len(conn.sk.wq) == 2
    cli.sendall(b"x")
    settle(conn)
    conn.close()
    assert len(ep1) == 0 and len(ep2) == 0 and conn.sk.wq == []
    assert ep1.poll(0) == [] and ep2.poll(0) == []


def test_poll_inside_tasks_and_task_timeouts():
    _, cli, conn, _ = connected_pair()
    sched = conn.sched
    ep = epoll_create(conn.net)
    ep.register(conn, EPOLLIN)

    async def waiter():
        t0 = sched.now
        none = await ep.poll(timeout=0.002)
        waited = sched.now - t0
        events = await ep.poll()
        return none, waited, events, sched.now - t0

    task = sched.spawn(waiter())
    sched.call_later(5_000 * US, cli.sk.sendmsg, b"hi")
    assert sched.run_until(task.done)
    assert task.result() == ([], 2_000_000, [(conn.fileno(), EPOLLIN)], 5_010 * US)


def _waiters_on_one_listener(exclusive: bool):
    fabric, a, b = two_hosts()
    sched = fabric.sched
    srv = b.stream()
    srv.bind(("", 7))
    srv.listen()
    srv.setblocking(False)
    woken = []

    async def worker(name):
        ep = epoll_create(b)
        ep.register(srv, EPOLLIN | (EPOLLEXCLUSIVE if exclusive else 0))
        events = await ep.poll()
        woken.append((name, events[0][1]))

    for name in "ABC":
        sched.spawn(worker(name))
    sched.run_for(1 * US)
    c = a.stream()
    c.setblocking(False)
    c.connect_ex(("10.0.0.2", 7))
    sched.run_for(1_000 * US)
    return woken


def test_epollexclusive_wakes_one_epoll_of_several():
    assert _waiters_on_one_listener(exclusive=False) == [
        ("A", EPOLLIN), ("B", EPOLLIN), ("C", EPOLLIN)]  # the thundering herd
    assert _waiters_on_one_listener(exclusive=True) == [("A", EPOLLIN)]


def test_exclusive_passes_over_an_epoll_with_no_waiter():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    srv = b.stream()
    srv.bind(("", 7))
    srv.listen()
    idle, busy = epoll_create(b), epoll_create(b)
    idle.register(srv, EPOLLIN | EPOLLEXCLUSIVE)  # nobody waits on this one
    busy.register(srv, EPOLLIN | EPOLLEXCLUSIVE)

    async def worker():
        return await busy.poll()

    task = sched.spawn(worker())
    sched.run_for(1 * US)
    a.stream().connect_ex(("10.0.0.2", 7))
    assert sched.run_until(task.done)
    assert task.result() == [(srv.fileno(), EPOLLIN)]
    # Linux queues the event on the waiter-less epoll it passed over, without waking it
    assert idle.poll(0) == [(srv.fileno(), EPOLLIN)]


def test_blocking_epoll_and_hup_after_close_of_peer():
    _, cli, conn, _ = connected_pair()
    ep = epoll_create(cli.net)
    ep.register(cli, EPOLLIN | EPOLLRDHUP)
    conn.close()
    assert ep.poll() == [(cli.fileno(), EPOLLIN | EPOLLRDHUP)]
    assert cli.recv(10) == b""
    assert not cli.poll() & EPOLLHUP
