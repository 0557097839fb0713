"""The user side of sockets: the BSD API (``Socket``), epoll and per-host fd numbers.

Linux's ``net/socket.c``, ``net/ipv4/af_inet.c`` and ``fs/eventpoll.c`` over the kernel-side
``stack.sock.Sock`` (docs/stack-architecture.md)::

    from stack.socket import socket_create, epoll_create, AF_INET, SOCK_STREAM, EPOLLIN

    srv = socket_create(net, AF_INET, SOCK_STREAM)
    srv.bind(("0.0.0.0", 7)); srv.listen()
    conn, peer = srv.accept()            # runs the world; ``await srv.accept()`` in a task
    ep = epoll_create(net); ep.register(conn, EPOLLIN)
    ep.poll(timeout=1.0)                 # [(conn.fileno(), EPOLLIN)], as select.epoll
    tcp_info(conn).rtt                   # the decoded TCP_INFO
"""

from stack.af_inet import INETSW
from stack.socket.create import socket_create
from stack.socket.epoll import Epoll, epoll_create
from stack.socket.fdtable import FdTable, fdtable_of
from stack.socket.selectors import IxsimSelector
from stack.socket.socket import Socket, tcp_info
from stack.uapi import *  # noqa: F403 - the API's numbers, as ``socket.*``
from stack.uapi import __all__ as _constants

__all__ = [*_constants, "Epoll", "epoll_create", "FdTable", "fdtable_of", "INETSW",
           "IxsimSelector", "Socket", "socket_create", "tcp_info"]
