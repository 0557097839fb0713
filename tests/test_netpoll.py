"""netpoll (stack/core/netpoll.py): frames built by netpoll_send_udp, sent straight through
ndo_start_xmit; the TX work queue with requeue at the head and HZ/10 retries; polling the NIC
through NAPI with a budget of 0."""

from __future__ import annotations

import socket

from ixsim import World
from stack.core import netif_stop_queue, netif_wake_queue
from stack.core.netpoll import (
    TX_RETRY_NS,
    Netpoll,
    netpoll_cleanup,
    netpoll_poll_dev,
    netpoll_send_udp,
    netpoll_setup,
)
from stack.wire.ethernet import EthernetRepr
from stack.wire.ipv4 import Ipv4Packet, Ipv4Repr, ip_bytes
from stack.wire.udp import UdpPacket


def _world():
    w = World(seed=6)
    a = w.host("a", "10.0.0.1/24")
    b = w.host("b", "10.0.0.2/24")
    w.cable(a.eth0, b.eth0)
    np = Netpoll("test", local_ip=ip_bytes("10.0.0.1"), remote_ip=ip_bytes("10.0.0.2"),
                 local_port=5555, remote_port=7777, remote_mac=bytes(b.eth0.dev_addr))
    assert netpoll_setup(np, a.eth0) == 0
    sock = b.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 7777))
    sock.settimeout(0.5)
    return w, a, b, np, sock


def test_send_udp_builds_its_own_headers():
    w, a, b, np, sock = _world()
    cap = b.capture("eth0", "udp")
    qdisc_packets = a.eth0.qdisc.packets
    netpoll_send_udp(np, b"hello netpoll")
    assert sock.recvfrom(100) == (b"hello netpoll", ("10.0.0.1", 5555))
    frames = [f.frame for f in cap.frames]
    assert len(frames) == 1
    eth = EthernetRepr.parse(frames[0])
    assert eth.dst == bytes(b.eth0.dev_addr) and eth.src == bytes(a.eth0.dev_addr)
    ip = Ipv4Packet.checked(memoryview(frames[0])[14:])  # header checksum verified
    rep = Ipv4Repr.parse(ip)
    assert (rep.ttl, rep.proto, rep.ident, rep.df) == (64, 17, 1, False)
    udp = UdpPacket.checked(memoryview(frames[0])[34:])
    assert udp.checksum != 0  # computed in software over the pseudo-header
    assert a.eth0.qdisc.packets == qdisc_packets  # the qdisc never saw it
    assert a.eth0.npinfo.sent == 1 and a.eth0.npinfo.queued == 0
    w.close()


def test_stopped_queue_polls_then_queues_and_retries_after_hz_over_10():
    w, a, _b, np, sock = _world()
    npinfo = a.eth0.npinfo
    netif_stop_queue(a.eth0)
    netpoll_send_udp(np, b"one")
    netpoll_send_udp(np, b"two")
    assert npinfo.polls == 1  # polled once on the first try; the second found a queue
    assert npinfo.queued == 2 and len(npinfo.txq) == 2
    w.run_for("1ms")  # the work ran at once, found the queue stopped, requeued at the head
    assert npinfo.requeued == 1 and len(npinfo.txq) == 2
    assert TX_RETRY_NS == 100_000_000
    w.run_for("98ms")
    assert npinfo.requeued == 1  # not before HZ/10
    w.run_for("2ms")
    assert npinfo.requeued == 2
    netif_wake_queue(a.eth0)
    start = w.now
    assert sock.recvfrom(100)[0] == b"one"  # order kept: requeued at the head
    assert sock.recvfrom(100)[0] == b"two"
    assert w.now - start <= TX_RETRY_NS + 1_000_000
    assert npinfo.sent == 2 and not npinfo.txq
    w.close()


def test_poll_dev_cleans_tx_with_budget_zero():
    w, a, _b, np, _sock = _world()
    napi = a.eth0.priv.napi
    ring = a.eth0.priv.tx_ring
    pci = a.nics[0].pci
    # Interrupts off (nobody will run the handler): only netpoll's poll can clean the ring.
    a.nics[0].pci_dev.free_irq()
    a.eth0.priv.irq_requested = False
    netpoll_send_udp(np, b"x" * 100)
    delivered = pci.irq_delivered
    w.run_for("1ms")  # the NIC sent the frame and wrote DD back; no handler ran
    assert pci.irq_delivered == delivered
    assert ring.next_to_clean != ring.next_to_use
    rx_before = a.eth0.stats.rx_packets
    netpoll_poll_dev(a.eth0)
    assert a.eth0.npinfo.polls == 1 and not napi.disabled
    assert ring.next_to_clean == ring.next_to_use  # TX cleaned
    assert a.eth0.stats.rx_packets == rx_before  # budget 0: no RX work
    w.close()


def test_device_down_drops_queued_frames_and_cleanup_purges():
    w, a, _b, np, _sock = _world()
    npinfo = a.eth0.npinfo
    netif_stop_queue(a.eth0)
    netpoll_send_udp(np, b"lost")
    drops = a.kernel.skb_drops
    netpoll_cleanup(np)
    assert a.eth0.npinfo is None and np.dev is None
    assert not npinfo.txq and a.kernel.skb_drops == drops + 1
    w.close()
