"""The in-memory Sock fakes (``helpers.fakes``) behave as the Sock contract says."""

from __future__ import annotations

import pytest
from helpers.fakes import ANY, PipeSock, connected_pair, two_hosts
from helpers.units import US

from stack.sock import EPOLLIN, EPOLLOUT, EPOLLRDHUP


# -- the fakes behave like the contract says -----------------------------------------------
def test_pipe_fake_delivers_after_the_delay_and_wakes():
    fabric, a, b = two_hosts(delay=5 * US)
    lst = PipeSock(b)
    lst.bind(ANY, 7)
    lst.listen(4)
    cli = PipeSock(a)
    woken: list[int] = []
    lst.wq.append(lambda sk, ev: woken.append(ev))
    with pytest.raises(BlockingIOError):
        cli.connect(b.addr, 7)
    fabric.sched.run_for(5 * US)
    assert woken == [EPOLLIN] and lst.poll() == EPOLLIN
    child = lst.accept()
    fabric.sched.run_for(5 * US)
    assert cli.poll() & EPOLLOUT
    assert cli.sendmsg(b"abc") == 3
    with pytest.raises(BlockingIOError):
        child.recvmsg(10)
    fabric.sched.run_for(5 * US)
    assert child.recvmsg(10) == (b"abc", None)


def test_pipe_fake_window_and_fin():
    fabric, cli, conn, _ = connected_pair(capacity=8)
    assert cli.sk.sendmsg(b"0123456789") == 8
    with pytest.raises(BlockingIOError):
        cli.sk.sendmsg(b"x")
    cli.sk.shutdown(1)
    fabric.sched.run_for(100 * US)
    assert conn.sk.recvmsg(100)[0] == b"01234567"
    assert conn.sk.recvmsg(100)[0] == b""
    assert conn.sk.poll() & EPOLLRDHUP
