"""Packet sockets (Linux's ``net/packet/af_packet.c``): raw frames in and out, BPF filters.

``socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL))`` sees every frame of every interface (or
of the one it is bound to) in both directions, as tcpdump's socket does, through a packet tap
(``PacketType`` with ``af_packet_priv`` so it never sees its own transmissions).  A classic-BPF
filter attached with ``SO_ATTACH_FILTER`` runs before a frame is queued, exactly where Linux
runs ``sk_filter``: a rejected frame costs no buffer space, and the program's return value is
the snap length (``ret #20`` queues the first 20 bytes).  Copies the stack loops back to
itself (``PACKET_LOOPBACK``) are dropped before anything else, as ``packet_rcv`` does.
``SOCK_DGRAM`` delivers the payload after the Ethernet header.  Addresses are Python's
AF_PACKET tuples: ``(ifname, proto, pkttype, hatype, addr)`` from ``recvfrom`` and
``(ifname, proto)`` for ``bind``/``sendto``.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import Any

from stack.bpf import Filter, decode
from stack.core import (
    ETH_HLEN,
    PacketType,
    consume_skb,
    dev_queue_xmit,
    netdev_alloc_skb,
)
from stack.sock import EPOLLIN, EPOLLOUT, Sock, eagain, oserror
from stack.uapi import (
    AF_PACKET,
    ARPHRD_ETHER,
    MSG_DONTWAIT,
    MSG_ERRQUEUE,
    MSG_PEEK,
    MSG_TRUNC,
    PACKET_LOOPBACK,
    PACKET_OUTGOING,
    SO_ATTACH_FILTER,
    SO_DETACH_FILTER,
    SOCK_DGRAM,
    SOCK_RAW,
    SOL_SOCKET,
)


def ntohs(value: int) -> int:
    return ((value & 0xFF) << 8) | (value >> 8)


class PacketSock(Sock):
    """One AF_PACKET socket; ``proto`` is in network byte order, as ``socket()`` takes it."""

    family = AF_PACKET

    def __init__(self, net: Any, sock_type: int = SOCK_RAW, proto: int = 0) -> None:
        super().__init__(net)
        self.type = sock_type
        self.protocol = proto
        self.ethertype = ntohs(proto)
        self.dev: Any = None
        self.filter: Filter | None = None
        self.queue: deque[tuple[bytes, tuple[str, int, int, int, bytes]]] = deque()
        self.queued_bytes = 0
        self.drops = 0
        self.filtered = 0
        self._ptype: PacketType | None = None
        if self.ethertype:
            self._hook()

    # -- receive (the tap) -----------------------------------------------------------------
    def _hook(self) -> None:
        if self._ptype is not None:
            self.net.kernel.dev_remove_pack(self._ptype)
        self._ptype = PacketType(self.ethertype, self._rcv, dev=self.dev, af_packet_priv=self)
        self.net.kernel.dev_add_pack(self._ptype)

    def _rcv(self, skb: Any, dev: Any, pt: Any, orig: Any) -> int:
        pkttype = skb.pkt_type
        if pkttype == PACKET_LOOPBACK:  # packet_rcv: our own looped-back copies are dropped
            consume_skb(skb)
            return 0
        start = skb.mac_header if skb.mac_header >= 0 else skb.data
        frame = bytes(skb.head[start : skb.tail])
        consume_skb(skb)
        if self.filter is not None:
            snaplen = self.filter.run(frame)  # run_filter: 0 drops, else the bytes to keep
            if not snaplen:
                self.filtered += 1
                return 0
            if snaplen < len(frame):
                frame = frame[:snaplen]
        if self.queued_bytes + len(frame) > self.sk_rcvbuf:
            self.drops += 1  # Linux: tp_drops, seen in PACKET_STATISTICS
            return 0
        proto = int.from_bytes(frame[12:14], "big") if len(frame) >= ETH_HLEN else 0
        addr = (dev.name, proto, pkttype, ARPHRD_ETHER,
                frame[6:12] if pkttype != PACKET_OUTGOING else bytes(dev.dev_addr))
        data = frame[ETH_HLEN:] if self.type == SOCK_DGRAM else frame
        self.queue.append((data, addr))
        self.queued_bytes += len(frame)
        self.wake(EPOLLIN)
        return 0

    # -- operations ------------------------------------------------------------------------
    def poll(self) -> int:
        return (EPOLLIN if self.queue else 0) | EPOLLOUT

    def _dev_named(self, ifname: str) -> Any:
        dev = self.net.kernel.dev_get_by_name(ifname) if ifname else None
        if ifname and dev is None:
            raise oserror(errno.ENODEV, f"no such device {ifname!r}")
        return dev

    def bind(self, ifname: Any, proto: Any = None) -> None:
        self.dev = self._dev_named(str(ifname))
        if proto is not None:
            self.protocol = int(proto)
            self.ethertype = ntohs(self.protocol)
        if self.ethertype:
            self._hook()

    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        """``packet_recvmsg``: other flags than PEEK/DONTWAIT/TRUNC/ERRQUEUE are EINVAL;
        MSG_TRUNC returns the frame's real length (what did not fit is not copied)."""
        if flags & ~(MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC | MSG_ERRQUEUE):
            raise oserror(errno.EINVAL)
        if flags & MSG_ERRQUEUE or not self.queue:  # the error queue is always empty here
            raise eagain()
        peek = flags & MSG_PEEK
        data, addr = self.queue[0] if peek else self.queue.popleft()
        if not peek:
            self.queued_bytes -= len(data) + (ETH_HLEN if self.type == SOCK_DGRAM else 0)
        if flags & MSG_TRUNC:
            return data[: max(bufsize, 0)].ljust(len(data), b"\0"), addr
        return data[:bufsize], addr

    def sendmsg(self, data: bytes | memoryview, flags: int = 0, addr: Any = None) -> int:
        dev = self._dev_named(str(addr[0])) if addr else self.dev
        if dev is None:
            raise oserror(errno.ENXIO, "packet socket not bound to an interface")
        frame = bytes(data)
        if self.type == SOCK_DGRAM:
            raise oserror(errno.EOPNOTSUPP, "SOCK_DGRAM send needs a link address (not modelled)")
        if len(frame) < ETH_HLEN or len(frame) > dev.mtu + ETH_HLEN + 4:
            raise oserror(errno.EMSGSIZE if len(frame) > ETH_HLEN else errno.EINVAL)
        skb = netdev_alloc_skb(dev, len(frame))
        skb.put_data(frame)
        skb.dev = dev
        skb.sk = self
        skb.priority = self.priority  # packet_snd: SO_PRIORITY and SO_MARK
        skb.mark = self.mark
        skb.protocol = int.from_bytes(frame[12:14], "big")
        dev_queue_xmit(skb)
        return len(frame)

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        if level != SOL_SOCKET:
            raise oserror(errno.ENOPROTOOPT)
        if option == SO_ATTACH_FILTER:
            self.filter = _as_filter(value)
        elif option == SO_DETACH_FILTER:
            self.filter = None
        else:
            raise oserror(errno.ENOPROTOOPT)

    def getsockname(self) -> Any:
        name = self.dev.name if self.dev is not None else ""
        mac = bytes(self.dev.dev_addr) if self.dev is not None else b""
        return (name, ntohs(self.ethertype), 0, ARPHRD_ETHER, mac)

    def close(self) -> None:
        if self._ptype is not None:
            self.net.kernel.dev_remove_pack(self._ptype)
            self._ptype = None
        self.queue.clear()
        self.queued_bytes = 0
        super().close()


def _as_filter(value: Any) -> Filter:
    """SO_ATTACH_FILTER's value: a tcpdump expression, a Filter, a program, or its bytes."""
    if isinstance(value, Filter):
        return value
    if isinstance(value, str):
        return Filter(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return Filter.from_program(decode(bytes(value)))
    if isinstance(value, list | tuple):
        return Filter.from_program(list(value))
    raise TypeError("SO_ATTACH_FILTER takes a tcpdump expression, a BPF program or its bytes")
