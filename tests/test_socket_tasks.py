"""The BSD layer inside tasks: the same method names return awaitable Futures.

Against the fakes of test_socket_fakes.py.  A task's blocking call parks a waiter on the Sock's
wait queue and is retried, in its own event, after each relevant wake-up.
"""

from __future__ import annotations

import errno

import pytest
from helpers.fakes import connected_pair, two_hosts
from helpers.units import US

import stack.socket as so
from ixsim.sched import Deadlock, Future


def test_echo_server_task_with_a_blocking_client_outside():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    srv = b.stream()
    srv.bind(("", 7))
    srv.listen()

    async def echo_once():
        conn, peer = await srv.accept()
        data = await conn.recv(5)
        await conn.sendall(data)
        conn.close()
        return peer, data

    task = sched.spawn(echo_once())
    cli = a.stream()
    cli.connect(("10.0.0.2", 7))  # runs the world, which runs the task
    cli.sendall(b"hello")
    assert cli.recv(5) == b"hello"
    assert cli.recv(5) == b""
    assert sched.run_until(task.done)
    assert task.result() == (("10.0.0.1", 40000), b"hello")


def test_calls_inside_a_task_return_futures_even_when_ready():
    fabric, cli, conn, _ = connected_pair()
    sched = fabric.sched
    cli.sendall(b"ready")
    fabric.sched.run_for(100 * US)
    seen = []

    async def body():
        fut = conn.recv(5)
        seen.append(isinstance(fut, Future) and fut.done())
        seen.append(await fut)
        seen.append(conn.getsockname())  # never-sleeping calls stay synchronous

    sched.spawn(body())
    sched.run_for(0)
    assert seen == [True, b"ready", ("10.0.0.2", 7)]


def test_both_ends_as_tasks_and_many_clients():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    srv = b.stream()
    srv.bind(("", 7))
    srv.listen(64)

    async def handle(conn):
        while data := await conn.recv(1000):
            await conn.sendall(data.upper())
        conn.close()

    async def server(n):
        for _ in range(n):
            conn, _ = await srv.accept()
            sched.spawn(handle(conn))

    async def client(i):
        s = a.stream()
        await s.connect(("10.0.0.2", 7))
        msg = f"client {i}".encode()
        await s.sendall(msg)
        s.shutdown(so.SHUT_WR)
        out = b""
        while chunk := await s.recv(100):
            out += chunk
        s.close()
        return out

    n = 40
    sched.spawn(server(n))
    clients = [sched.spawn(client(i)) for i in range(n)]
    assert sched.run_until(lambda: all(t.done() for t in clients))
    assert [t.result() for t in clients] == [f"CLIENT {i}".encode() for i in range(n)]
    assert not sched.unhandled


def test_errors_and_timeouts_arrive_in_the_task():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    results = {}

    async def refused():
        try:
            await a.stream().connect(("10.0.0.2", 9))
        except ConnectionRefusedError as exc:
            results["refused"] = exc.errno
        results["connect_ex"] = await a.stream().connect_ex(("10.0.0.2", 9))

    sched.spawn(refused())
    sched.run_for(1_000 * US)
    assert results == {"refused": errno.ECONNREFUSED, "connect_ex": errno.ECONNREFUSED}

    _, cli, conn, _ = connected_pair()
    sched = conn.sched
    conn.settimeout(0.003)

    async def times_out():
        t0 = sched.now
        try:
            await conn.recv(10)
        except TimeoutError as exc:
            return str(exc), sched.now - t0

    task = sched.spawn(times_out())
    assert sched.run_until(task.done)
    assert task.result() == ("timed out", 3_000_000)


def test_nonblocking_sockets_stay_synchronous_inside_tasks():
    _, cli, conn, _ = connected_pair()
    sched = conn.sched
    conn.setblocking(False)
    out = []

    async def body():
        try:
            conn.recv(10)
        except BlockingIOError as exc:
            out.append(exc.errno)
        out.append(cli.send(b"x") if not cli.getblocking() else await cli.send(b"x"))

    sched.spawn(body())
    sched.run_for(100 * US)
    assert out == [errno.EAGAIN, 1]
    assert conn.recv(10) == b"x"


def test_a_cancelled_task_does_not_eat_the_data():
    _, cli, conn, _ = connected_pair()
    sched = conn.sched

    async def reader():
        return await conn.recv(10)

    task = sched.spawn(reader())
    sched.run_for(1 * US)
    assert len(conn.sk.wq) == 1  # parked on the wait queue
    task.cancel()
    sched.run_for(1 * US)
    cli.sendall(b"for the next reader")
    assert conn.recv(100) == b"for the next reader"
    sched.run_for(1 * US)  # the stale waiter's retry finds its task done and leaves
    assert conn.sk.wq == []


def test_send_waits_for_room_inside_a_task():
    _, cli, conn, _ = connected_pair(capacity=100)
    sched = conn.sched
    data = bytes(range(250)) * 4

    async def sender():
        await cli.sendall(data)
        cli.shutdown(so.SHUT_WR)

    async def receiver():
        got = bytearray()
        buf = bytearray(64)
        while n := await conn.recv_into(buf):
            got += buf[:n]
        return bytes(got)

    sched.spawn(sender())
    task = sched.spawn(receiver())
    assert sched.run_until(task.done)
    assert task.result() == data


def test_closing_a_socket_fails_the_waiting_task_with_ebadf():
    _, cli, conn, _ = connected_pair()
    sched = conn.sched

    async def reader():
        try:
            await conn.recv(10)
        except OSError as exc:
            return exc.errno

    task = sched.spawn(reader())
    sched.run_for(1 * US)
    conn.close()
    assert sched.run_until(task.done, timeout=1_000_000)
    assert task.result() == errno.EBADF


def test_tasks_see_deadlock_free_waiting_when_nothing_happens():
    _, cli, conn, _ = connected_pair()
    sched = conn.sched

    async def reader():
        return await conn.recv(10)

    task = sched.spawn(reader())
    sched.run_for(1_000 * US)  # the task waits; the world is idle, not deadlocked
    assert not task.done()
    with pytest.raises(Deadlock, match="waiting for the reader"):
        sched.run_until(task.done, what="the reader")
