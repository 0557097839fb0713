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

Memberships (``packet_mc_add``/``packet_mc_drop``/``packet_flush_mclist``): ``setsockopt(
SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct packet_mreq)`` with ``mr_type`` PACKET_MR_PROMISC,
PACKET_MR_ALLMULTI or PACKET_MR_MULTICAST drives the device's receive filters through the
netdev core (``dev_set_promiscuity``, ``dev_set_allmulti``, ``dev_mc_add``; the driver hears
of it through ``ndo_set_rx_mode``: on ixgb RCTL.UPE/MPE and the MTA), so the NIC really
receives frames it dropped before.  The same membership added twice is counted once by the
device (the socket keeps a count); dropping one that does not exist succeeds, as on Linux 6.x;
closing the socket drops each of its memberships.  An unknown ``mr_type`` is accepted and does
nothing, as ``packet_dev_mc`` does; a too-short value, a bad ifindex (ENODEV) or ``mr_alen`` >
6 (EINVAL) fail as Linux fails.  ``PACKET_STATISTICS`` returns ``struct tpacket_stats``
(``tp_packets`` counts frames queued plus frames dropped, ``tp_drops`` frames the full receive
buffer dropped) and resets both, as ``packet_getsockopt`` does; without a buffer length
Python reads the first field only (an int).

Deviations: PACKET_MR_UNICAST is EOPNOTSUPP (the netdev core has no secondary unicast
address list); PACKET_MR_MULTICAST with a unicast address is EINVAL (``dev_mc_add`` here
refuses it, Linux adds it); memberships are not dropped when their device is unregistered.
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from typing import Any, NamedTuple

from stack.bpf import BpfError, Filter, decode
from stack.core import (
    ETH_HLEN,
    PacketType,
    consume_skb,
    dev_mc_add,
    dev_mc_del,
    dev_queue_xmit,
    dev_set_allmulti,
    dev_set_promiscuity,
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
    PACKET_ADD_MEMBERSHIP,
    PACKET_DROP_MEMBERSHIP,
    PACKET_LOOPBACK,
    PACKET_MR_ALLMULTI,
    PACKET_MR_MULTICAST,
    PACKET_MR_PROMISC,
    PACKET_MR_UNICAST,
    PACKET_OUTGOING,
    PACKET_STATISTICS,
    SIOCINQ,
    SIOCOUTQ,
    SO_ATTACH_FILTER,
    SO_DETACH_FILTER,
    SOCK_DGRAM,
    SOCK_RAW,
    SOL_PACKET,
    SOL_SOCKET,
)

MAX_ADDR_LEN = 8
_PACKET_MREQ = struct.Struct("=iHH8s")  # struct packet_mreq
_TPACKET_STATS = struct.Struct("=II")  # struct tpacket_stats


class PacketMclist(NamedTuple):
    """``struct packet_mclist`` without its count (kept beside it): what a membership is."""

    ifindex: int
    type: int
    alen: int
    addr: bytes


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
        self.wmem_alloc = 0  # sk_wmem_alloc: truesize of sent frames not yet freed (SIOCOUTQ)
        self.drops = 0
        self.filtered = 0
        self.tp_packets = 0  # po->stats: frames queued (PACKET_STATISTICS adds the drops)
        self.tp_drops = 0
        self.mclist: dict[PacketMclist, int] = {}  # membership -> count
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
        if skb.data_len:  # a transmitted skb's page fragments follow its head
            frame += skb.frags_bytes()
        consume_skb(skb)
        if self.filter is not None:
            snaplen = self.filter.run(frame)  # run_filter: 0 drops, else the bytes to keep
            if not snaplen:
                self.filtered += 1
                return 0
            if snaplen < len(frame):
                frame = frame[:snaplen]
        if self.queued_bytes + len(frame) > self.sk_rcvbuf:
            self.drops += 1
            self.tp_drops += 1
            return 0
        self.tp_packets += 1
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
        skb.destructor = self._wfree  # skb_set_owner_w
        self.wmem_alloc += skb.truesize
        skb.priority = self.priority  # packet_snd: SO_PRIORITY and SO_MARK
        skb.mark = self.mark
        skb.protocol = int.from_bytes(frame[12:14], "big")
        dev_queue_xmit(skb)
        return len(frame)

    def _wfree(self, skb: Any) -> None:
        """sock_wfree: a sent frame was freed (sent by the driver, or dropped)."""
        self.wmem_alloc = max(self.wmem_alloc - skb.truesize, 0)

    def ioctl(self, cmd: int) -> int:
        """``packet_ioctl``: SIOCINQ the length of the next frame as recv would give it
        (link header included for SOCK_RAW, 0 for none), SIOCOUTQ the sent bytes not yet
        freed (``sk_wmem_alloc_get``); ENOTTY else."""
        if cmd == SIOCINQ:
            return len(self.queue[0][0]) if self.queue else 0
        if cmd == SIOCOUTQ:
            return self.wmem_alloc
        raise oserror(errno.ENOTTY)

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        if level == SOL_PACKET:
            if option == PACKET_ADD_MEMBERSHIP:
                self.mc_add(_as_mreq(value))
            elif option == PACKET_DROP_MEMBERSHIP:
                self.mc_drop(_as_mreq(value))
            else:
                raise oserror(errno.ENOPROTOOPT)
            return
        if level != SOL_SOCKET:
            raise oserror(errno.ENOPROTOOPT)
        if option == SO_ATTACH_FILTER:
            self.filter = _as_filter(value)
        elif option == SO_DETACH_FILTER:
            self.filter = None
        else:
            raise oserror(errno.ENOPROTOOPT)

    def getsockopt(self, level: int, option: int) -> Any:
        """``packet_getsockopt``: PACKET_STATISTICS, read and reset (see the docstring)."""
        if level != SOL_PACKET or option != PACKET_STATISTICS:
            raise oserror(errno.ENOPROTOOPT)
        drops = self.tp_drops
        stats = _TPACKET_STATS.pack(self.tp_packets + drops, drops)
        self.tp_packets = self.tp_drops = 0
        return stats

    # -- memberships (packet_mc_add, packet_mc_drop, packet_dev_mc) ------------------------
    def mc_add(self, mreq: PacketMclist) -> None:
        dev = self.net.kernel.dev_get_by_index(mreq.ifindex)
        if dev is None:
            raise oserror(errno.ENODEV)
        if mreq.alen > len(dev.dev_addr):
            raise oserror(errno.EINVAL)
        count = self.mclist.get(mreq)
        if count:
            self.mclist[mreq] = count + 1
            return
        ret = _dev_mc(dev, mreq, 1)
        if ret < 0:
            raise oserror(-ret)
        self.mclist[mreq] = 1

    def mc_drop(self, mreq: PacketMclist) -> None:
        count = self.mclist.get(mreq)
        if count is None:
            return  # Linux 6.x: dropping what is not there succeeds
        if count > 1:
            self.mclist[mreq] = count - 1
            return
        del self.mclist[mreq]
        dev = self.net.kernel.dev_get_by_index(mreq.ifindex)
        if dev is not None:
            _dev_mc(dev, mreq, -1)

    def _flush_mclist(self) -> None:
        """packet_flush_mclist: each membership undone once, whatever its count."""
        for mreq in list(self.mclist):
            dev = self.net.kernel.dev_get_by_index(mreq.ifindex)
            if dev is not None:
                _dev_mc(dev, mreq, -1)
        self.mclist.clear()

    def getsockname(self) -> Any:
        name = self.dev.name if self.dev is not None else ""
        mac = bytes(self.dev.dev_addr) if self.dev is not None else b""
        return (name, ntohs(self.ethertype), 0, ARPHRD_ETHER, mac)

    def close(self) -> None:
        if self._ptype is not None:
            self.net.kernel.dev_remove_pack(self._ptype)
            self._ptype = None
        self._flush_mclist()
        self.queue.clear()
        self.queued_bytes = 0
        super().close()


def _dev_mc(dev: Any, mreq: PacketMclist, what: int) -> int:
    """packet_dev_mc: apply (+1) or undo (-1) one membership on the device; 0 or -errno."""
    if mreq.type == PACKET_MR_MULTICAST:
        if mreq.alen != len(dev.dev_addr):
            return -errno.EINVAL
        addr = mreq.addr[: mreq.alen]
        return dev_mc_add(dev, addr) if what > 0 else dev_mc_del(dev, addr)
    if mreq.type == PACKET_MR_PROMISC:
        return dev_set_promiscuity(dev, what)
    if mreq.type == PACKET_MR_ALLMULTI:
        return dev_set_allmulti(dev, what)
    if mreq.type == PACKET_MR_UNICAST:
        return -errno.EOPNOTSUPP  # no unicast address list (see the module docstring)
    return 0


def _as_mreq(value: Any) -> PacketMclist:
    """``struct packet_mreq`` from the user's bytes; shorter is EINVAL (``packet_setsockopt``).
    The address is kept to ``mr_alen`` bytes, as ``packet_mc_add`` compares it."""
    if not isinstance(value, bytes | bytearray | memoryview) or len(value) < _PACKET_MREQ.size:
        raise oserror(errno.EINVAL)
    ifindex, mtype, alen, addr = _PACKET_MREQ.unpack_from(value)
    if alen > MAX_ADDR_LEN:
        raise oserror(errno.EINVAL)
    return PacketMclist(ifindex, mtype, alen, addr[:alen])


def _as_filter(value: Any) -> Filter:
    """SO_ATTACH_FILTER's value: a tcpdump expression, a Filter, a program, or its bytes.

    A program the checker refuses (or an expression that does not compile) is EINVAL, as
    ``sk_attach_filter`` -> ``bpf_check_classic`` says, not the checker's ``BpfError``."""
    if isinstance(value, Filter):
        return value
    try:
        if isinstance(value, str):
            return Filter(value)
        if isinstance(value, bytes | bytearray | memoryview):
            return Filter.from_program(decode(bytes(value)))
        if isinstance(value, list | tuple):
            return Filter.from_program(list(value))
    except BpfError as exc:
        raise OSError(errno.EINVAL, f"Invalid argument ({exc})") from None
    raise TypeError("SO_ATTACH_FILTER takes a tcpdump expression, a BPF program or its bytes")
