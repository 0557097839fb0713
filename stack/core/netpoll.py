"""netpoll: sending UDP from any context, straight to the driver (Linux net/core/netpoll.c).

A client (netconsole, stack/netconsole.py) fills a :class:`Netpoll` (device, addresses,
ports, the peer's MAC) and calls :func:`netpoll_setup`; :func:`netpoll_send_udp` then builds
a whole frame itself (Ethernet, IPv4 and UDP headers, the UDP checksum in software: no
socket, no routing, no neighbour lookup, no qdisc) and hands it to
:func:`netpoll_send_skb`, which calls the device's ``ndo_start_xmit`` directly:

* if nothing is queued yet and the driver's queue is awake, the frame goes to
  ``ndo_start_xmit``; when the queue is stopped (or the driver answers NETDEV_TX_BUSY) the
  NIC is polled once (:func:`netpoll_poll_dev`: every NAPI instance's poll with a budget of
  0, which cleans the TX ring only) and the transmit is retried;
* a frame that still could not go is queued on the device's ``npinfo.txq`` and the TX work
  (:func:`queue_process`) is scheduled at once; the work sends from the head of the queue,
  and when the queue is stopped or the driver refuses it puts the frame back at the head
  (``skb_queue_head``) and runs again after HZ/10 (100 ms).  Frames for a device that is
  gone or down are dropped there.

Packet taps (``ptype_all``) do not see netpoll frames, as on Linux (``netpoll_start_xmit``
skips ``dev_queue_xmit_nit``).

Deviations, said out loud: Linux retries the transmit for up to a jiffy, spinning with
``udelay(USEC_PER_POLL)`` between polls; in virtual time a spin cannot let the NIC make
progress, so ixsim polls and retries once, then queues.  The "TX lock" that keeps netpoll out
of a driver already transmitting (``HARD_TX_TRYLOCK``) is the qdisc's ``running`` flag and
netpoll's own re-entry guard: a frame sent from inside a transmit is queued for the work.  The
IPv4 identification counter is per device (Linux has one ``ip_ident`` for all of netpoll).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stack.core.dropreason import SkbDropReason
from stack.core.netdevice import netif_device_present, netif_running
from stack.core.qdisc import NETDEV_TX_OK
from stack.core.skbfree import kfree_skb
from stack.core.skbqueue import SkBuffHead
from stack.core.skbuff import SkBuff
from stack.core.units import HZ, NS_PER_S
from stack.core.workqueue import DelayedWork, cancel_delayed_work_sync, schedule_delayed_work
from stack.uapi import ETH_P_IP, IPPROTO_UDP
from stack.wire.ethernet import ETH_HLEN, EthernetRepr
from stack.wire.ipv4 import IPV4_HLEN, Ipv4Repr
from stack.wire.udp import UDP_HLEN, UdpRepr

if TYPE_CHECKING:
    from stack.core.netdevice import NetDevice

BROADCAST_MAC = b"\xff" * 6
TX_RETRY_NS = NS_PER_S // HZ * (HZ // 10)  # schedule_delayed_work(&tx_work, HZ/10)
LL_RESERVED_SPACE = 16  # headroom before the Ethernet header (LL_RESERVED_SPACE(dev))


@dataclass
class Netpoll:
    """``struct netpoll``: who sends what to whom.  Addresses are 4-byte network order."""

    name: str
    dev_name: str = "eth0"
    local_ip: bytes = b""
    remote_ip: bytes = b""
    local_port: int = 6665
    remote_port: int = 6666
    remote_mac: bytes = BROADCAST_MAC
    dev: NetDevice | None = None


@dataclass
class NetpollInfo:
    """``struct netpoll_info``: per device, shared by every netpoll on it."""

    dev: NetDevice
    txq: SkBuffHead = field(default_factory=SkBuffHead)
    tx_work: Any = None
    ip_ident: int = 0
    in_xmit: bool = False  # netpoll is inside ndo_start_xmit (no recursion)
    sent: int = 0  # frames ndo_start_xmit accepted
    queued: int = 0  # frames that had to wait for the TX work
    requeued: int = 0  # times the work put a frame back at the head
    polls: int = 0  # netpoll_poll_dev runs
    users: int = 0


def netpoll_setup(np: Netpoll, dev: NetDevice) -> int:
    """Attach ``np`` to ``dev`` (which must be up and have ``np.local_ip`` filled by the
    caller, who knows the device's addresses); 0, or a negative errno."""
    np.dev = dev
    npinfo = dev.npinfo
    if npinfo is None:
        npinfo = NetpollInfo(dev)
        npinfo.tx_work = DelayedWork(dev.kernel, lambda _w: queue_process(npinfo),
                                     f"{dev.name} netpoll tx_work")
        dev.npinfo = npinfo
    npinfo.users += 1
    return 0


def netpoll_cleanup(np: Netpoll) -> None:
    """Detach ``np``; the last user's queue is purged."""
    dev = np.dev
    npinfo = dev.npinfo if dev is not None else None
    if dev is None or npinfo is None:
        return
    npinfo.users -= 1
    if npinfo.users <= 0:
        cancel_delayed_work_sync(npinfo.tx_work)
        npinfo.txq.purge()
        dev.npinfo = None
    np.dev = None


def netpoll_send_udp(np: Netpoll, msg: bytes) -> None:
    """Build an Ethernet/IPv4/UDP frame carrying ``msg`` and send it (netpoll_send_udp)."""
    dev = np.dev
    if dev is None:
        return
    npinfo: NetpollInfo = dev.npinfo
    udp_len = UDP_HLEN + len(msg)
    ip_len = IPV4_HLEN + udp_len
    total = ETH_HLEN + ip_len
    head = bytearray(LL_RESERVED_SPACE + total)
    skb = SkBuff(dev.kernel, head)
    base = LL_RESERVED_SPACE
    skb.data = base
    skb.tail = base + total
    off_ip = base + ETH_HLEN
    off_udp = off_ip + IPV4_HLEN
    head[off_udp + UDP_HLEN:] = msg
    UdpRepr(np.local_port, np.remote_port, len(msg)).emit(head, off_udp, np.local_ip,
                                                            np.remote_ip)
    npinfo.ip_ident = (npinfo.ip_ident + 1) & 0xFFFF
    Ipv4Repr(np.local_ip, np.remote_ip, IPPROTO_UDP, udp_len, ttl=64,
             ident=npinfo.ip_ident).emit(head, off_ip)
    EthernetRepr(np.remote_mac, bytes(dev.dev_addr), ETH_P_IP).emit(head, base)
    skb.mac_header = base
    skb.network_header = off_ip
    skb.transport_header = off_udp
    skb.protocol = ETH_P_IP
    skb.dev = dev
    netpoll_send_skb(np, skb)


def _tx_locked(dev: NetDevice, npinfo: NetpollInfo) -> bool:
    """HARD_TX_TRYLOCK failing: the qdisc or netpoll itself is inside ndo_start_xmit."""
    q = dev.qdisc
    return npinfo.in_xmit or (q is not None and q.running)


def _start_xmit(npinfo: NetpollInfo, skb: SkBuff) -> int:
    dev = npinfo.dev
    npinfo.in_xmit = True
    try:
        rc = dev.netdev_ops.ndo_start_xmit(skb, dev)
    finally:
        npinfo.in_xmit = False
    if rc == NETDEV_TX_OK:
        npinfo.sent += 1
        dev._tx[0].trans_start = dev.kernel.sched.now
    return rc


def netpoll_send_skb(np: Netpoll, skb: SkBuff) -> int:
    """Transmit ``skb`` now if the driver takes it, else queue it for the TX work."""
    dev = np.dev
    assert dev is not None
    npinfo: NetpollInfo = dev.npinfo
    rc = -1
    if not netif_running(dev) or not netif_device_present(dev):
        kfree_skb(skb, SkbDropReason.DEV_READY)
        return rc
    # Don't get messages out of order, and no recursion.
    if not npinfo.txq and not _tx_locked(dev, npinfo):
        txq = dev._tx[0]
        for attempt in range(2):
            if not txq.stopped:
                rc = _start_xmit(npinfo, skb)
                if rc == NETDEV_TX_OK:
                    return rc
            if attempt == 0:
                netpoll_poll_dev(dev)  # tickle the device: maybe there is some cleanup
    npinfo.queued += 1
    npinfo.txq.queue_tail(skb)
    schedule_delayed_work(npinfo.tx_work, 0)
    return rc


def queue_process(npinfo: NetpollInfo) -> None:
    """The TX work: send the queued frames in order; on a stopped queue or a refusal,
    requeue at the head and try again after HZ/10."""
    txq_skbs = npinfo.txq
    dev = npinfo.dev
    while (skb := txq_skbs.dequeue()) is not None:
        if not netif_device_present(dev) or not netif_running(dev):
            kfree_skb(skb, SkbDropReason.DEV_READY)
            continue
        if (dev._tx[0].stopped or _tx_locked(dev, npinfo)
                or _start_xmit(npinfo, skb) != NETDEV_TX_OK):
            txq_skbs.queue_head(skb)
            npinfo.requeued += 1
            schedule_delayed_work(npinfo.tx_work, TX_RETRY_NS)
            return


def netpoll_poll_dev(dev: NetDevice) -> None:
    """Poll the NIC without its interrupt: each NAPI instance with a budget of 0, which
    means "clean the TX ring only" (poll_one_napi)."""
    npinfo = dev.npinfo
    if npinfo is not None:
        npinfo.polls += 1
    for napi in dev.napi_list:
        if napi.disabled or napi.poll is None:
            continue
        work = napi.poll(napi, 0)
        if work:
            dev.kernel.log("warning", f"{dev.name}: napi poll exceeded budget 0 in netpoll")
