"""The stack-alone rig's own tests: the veth pair and the loopback device.

The rig (``helpers.stack``: hosts on veth pairs) and the frame builders (``helpers.frames``)
are shared by the other ``test_ip_*``, ``test_arp``, ``test_udp`` and ``test_icmp`` files.
"""

from __future__ import annotations

from helpers.frames import Tap
from helpers.stack import new_host, two_hosts
from helpers.units import MS, US

from ixsim.sched import Scheduler
from stack.core import ETH_P_IP, Kernel, NetDevice, PacketType, SkBuff, consume_skb
from stack.veth import veth_pair
from stack.wire import ip_bytes


# -- the harness's own devices -------------------------------------------------------------------
def test_veth_delivers_after_the_delay_through_a_softirq():
    sched = Scheduler(seed=3)
    ka, kb = Kernel(sched, "a"), Kernel(sched, "b")
    a, b = veth_pair(ka, kb, delay=7 * US)
    seen: list[tuple[int, bytes]] = []

    def rcv(skb: SkBuff, dev: NetDevice, pt: PacketType, orig: NetDevice) -> int:
        seen.append((sched.now, skb.tobytes()))
        consume_skb(skb)
        return 0

    kb.dev_add_pack(PacketType(0x88B5, rcv))
    from stack.core import alloc_skb, dev_queue_xmit
    skb = alloc_skb(ka, 128)
    skb.reserve(64)
    skb.put_data(b"hello")
    skb.dev = a
    from stack.core import eth_header
    eth_header(skb, a, 0x88B5, b.dev_addr)
    dev_queue_xmit(skb)
    assert seen == []
    sched.run_for(7 * US - 1)
    assert seen == []
    sched.run_for(1)
    assert seen == [(7 * US, b"hello")]
    assert a.stats.tx_packets == 1 and b.stats.rx_packets == 1
    assert ka.skb_live == 0 and kb.skb_live == 0


def test_veth_rate_serializes_frames_and_impair_drops_or_delays():
    sched, a, b = two_hosts(delay=10 * US, rate=1_000_000_000)
    got = []
    sk = b.udp(9)
    tap = Tap(b.kernel)

    def impair(frame: bytes) -> int | None:
        if frame[12:14] == b"\x08\x00" and frame[-1] == 2:
            return None  # lose the third datagram
        return 5 * US if frame[12:14] == b"\x08\x00" and frame[-1] == 0 else 0

    a.dev.priv.impair = impair
    tx = a.udp()
    for i in range(4):
        tx.sendmsg(bytes([i]) * 100, addr=(ip_bytes("10.0.0.2"), 9))
    sched.run_for(10 * MS)
    while True:
        try:
            got.append(sk.recvmsg(2000)[0][0])
        except BlockingIOError:
            break
    assert got == [1, 3, 0]  # the first was held back 5 us, the third lost
    assert a.dev.priv.impaired == 1
    times = [t for t, _f in tap.received(ETH_P_IP)]
    frame_ns = (14 + 20 + 8 + 100) * 8  # 142 bytes at 1 Gb/s
    assert times[1] - times[0] == frame_ns  # back to back on the wire


def test_veth_drops_frames_over_the_receivers_mtu():
    sched, a, b = two_hosts(mtu=1500)
    b.dev.mtu = 1000
    tx = a.udp()
    tx.sendmsg(b"x" * 1200, addr=(ip_bytes("10.0.0.2"), 9))
    sched.run_for(10 * MS)
    assert b.dev.stats.rx_length_errors == 1
    assert b.net.mib.ip["InReceives"] == 0


def test_loopback_is_up_with_127_0_0_1_and_delivers_in_a_later_event():
    sched = Scheduler(seed=1)
    host = new_host(sched, "h")
    lo = host.net.lo
    assert lo is not None and lo.name == "lo" and lo.ifindex == 1
    assert "inet 127.0.0.1/8" in host.net.ip_addr()
    rx = host.udp(5000, "127.0.0.1")
    tx = host.udp()
    tx.sendmsg(b"ping", addr=(ip_bytes("127.0.0.1"), 5000))
    assert not rx.rcvq  # not inline: the receive side runs from NET_RX
    sched.run_for(0)
    assert rx.recvmsg(100)[0] == b"ping"
    assert lo.stats.rx_packets == 1 and lo.stats.tx_packets == 1
    assert host.kernel.skb_live == 0
