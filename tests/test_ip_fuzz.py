"""Hypothesis-generated malformed Ethernet / ARP / IPv4 / ICMP / UDP frames injected into
``netif_receive_skb``: nothing raises, every frame leaves a trace in a counter, no skb leaks."""

from __future__ import annotations

import struct

from helpers.frames import inject
from helpers.mib import assert_linux_mib_names
from helpers.stack import two_hosts
from helpers.units import S
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack.wire import internet_checksum, ip_bytes, l4_checksum

ADDRS = [ip_bytes(a) for a in ("10.0.0.1", "10.0.0.2", "10.0.0.255", "255.255.255.255",
                               "127.0.0.1", "0.0.0.0", "224.0.0.1", "10.0.0.9", "8.8.8.8")]
OTHER_MAC = b"\x02\0\0\0\0\x55"
BCAST = b"\xff" * 6

_STATE: dict[str, object] = {}


def world():
    """One A-B pair for the whole run (built lazily: hypothesis reruns the body)."""
    if not _STATE:
        sched, a, b = two_hosts(seed=11)
        _STATE.update(sched=sched, a=a, b=b, rx=b.udp(9))
    return _STATE["sched"], _STATE["a"], _STATE["b"]


addr = st.one_of(st.sampled_from(ADDRS), st.binary(min_size=4, max_size=4))
src_addr = st.one_of(st.sampled_from([ip_bytes("10.0.0.1")] * 4 + [ip_bytes("8.8.8.8")]), addr)
dst_addr = st.one_of(st.sampled_from([ip_bytes("10.0.0.2")] * 6 + [ip_bytes("10.0.0.255")]),
                     addr)


@st.composite
def quoted_ip(draw) -> bytes:
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", draw(st.sampled_from([0x45, 0x46, 0x35, 0x4F])),
                                0, draw(st.integers(0, 0xFFFF)), 0,
                                draw(st.sampled_from([0, 0x2000, 0x0001, 0x4000])), 64,
                                draw(st.sampled_from([1, 6, 17, 99])), 0, draw(addr), draw(addr)))
    return bytes(hdr) + draw(st.binary(max_size=12))


@st.composite
def icmp_payload(draw) -> bytes:
    itype = draw(st.sampled_from([0, 3, 4, 5, 8, 11, 12, 13, 14, 17, 200]))
    code = draw(st.integers(0, 20))
    body = draw(st.one_of(quoted_ip(), st.binary(max_size=40)))
    msg = bytearray(struct.pack("!BBHI", itype, code, 0, draw(st.integers(0, 0xFFFFFFFF))) + body)
    if draw(st.sampled_from([True, True, False])):
        struct.pack_into("!H", msg, 2, internet_checksum(bytes(msg)))
    else:
        struct.pack_into("!H", msg, 2, draw(st.integers(0, 0xFFFF)))
    return bytes(msg)


@st.composite
def udp_payload(draw) -> bytes:
    data = draw(st.binary(max_size=40))
    length = draw(st.sampled_from([8 + len(data), 0, 7, 8, 8 + len(data) + 5, 0xFFFF]))
    check = draw(st.sampled_from([0, 0xFFFF, 0x1234]))
    return struct.pack("!HHHH", draw(st.sampled_from([5, 53])),
                       draw(st.sampled_from([9, 10, 0])), length, check) + data


@st.composite
def ipv4_frame(draw) -> bytes:
    proto = draw(st.sampled_from([1, 17, 6, 253]))
    if proto == 1:
        payload = draw(icmp_payload())
    elif proto == 17:
        payload = draw(udp_payload())
    else:
        payload = draw(st.binary(max_size=40))
    ihl = draw(st.sampled_from([5] * 12 + [6, 4, 15]))
    olen = max(ihl - 5, 0) * 4
    options = draw(st.sampled_from([b"\x01" * olen, b"\x00" * olen, b"\x01\x44" * (olen // 2)]))
    total = 4 * max(ihl, 5) + len(payload)
    total = draw(st.sampled_from([total] * 6 + [total - 3, total + 9, 10, 0xFFFF]))
    version = draw(st.sampled_from([4] * 15 + [6]))
    frag = draw(st.sampled_from([0, 0, 0, 0, 0x4000, 0x2000, 0x2001, 0x0002, 0x1FFF]))
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", version << 4 | ihl, draw(st.integers(0, 255)),
                                total & 0xFFFF, draw(st.integers(0, 3)), frag,
                                draw(st.sampled_from([0, 1, 64, 255])), proto, 0,
                                draw(src_addr), draw(dst_addr)) + options)
    if draw(st.sampled_from([True] * 19 + [False])):  # hypothesis favours early choices
        struct.pack_into("!H", hdr, 10, internet_checksum(bytes(hdr)))
    if proto == 17 and len(payload) >= 8 and draw(st.sampled_from([True, False])):
        payload = bytearray(payload)
        struct.pack_into("!H", payload, 6, 0)
        struct.pack_into("!H", payload, 6, l4_checksum(hdr[12:16], hdr[16:20], 17, payload)
                         or 0xFFFF)
        payload = bytes(payload)
    pkt = bytes(hdr) + payload
    if draw(st.sampled_from([False] * 9 + [True])):
        pkt = pkt[:draw(st.integers(0, len(pkt)))]
    return pkt


@st.composite
def arp_frame(draw) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=40))
    return struct.pack("!HHBBH6s4s6s4s", draw(st.sampled_from([1, 1, 6])),
                       draw(st.sampled_from([0x0800, 0x0800, 0x86DD])),
                       draw(st.sampled_from([6, 6, 8])), draw(st.sampled_from([4, 4, 16])),
                       draw(st.sampled_from([1, 2, 3, 0])),
                       draw(st.sampled_from([b"\x02\0\0\0\0\x07", BCAST, bytes(6)])),
                       draw(addr), bytes(6), draw(addr))


@st.composite
def frame(draw) -> tuple[bytes, int, bytes]:
    kind = draw(st.sampled_from(["ip", "ip", "ip", "arp", "other"]))
    if kind == "ip":
        ethertype, payload = 0x0800, draw(ipv4_frame())
    elif kind == "arp":
        ethertype, payload = 0x0806, draw(arp_frame())
    else:
        ethertype = draw(st.one_of(st.sampled_from([0x8100, 0x88A8, 0x86DD, 0x0001]),
                                   st.integers(0, 0xFFFF)))
        payload = draw(st.one_of(st.binary(max_size=30),
                                 st.builds(lambda tag, ip: tag + b"\x08\x00" + ip,
                                           st.sampled_from([b"\x00\x00", b"\x00\x05"]),
                                           ipv4_frame())))
    return draw(st.sampled_from(["us", "us", "us", "bcast", "other"])), ethertype, payload


def accounting(host) -> int:
    mib = host.net.mib
    total = sum(sum(getattr(mib, g).values()) for g in
                ("ip", "ipext", "icmp", "udp", "arp"))
    stats = host.dev.stats
    return (total + sum(host.kernel.drop_reasons.values()) + stats.rx_nohandler
            + stats.rx_length_errors)


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frames=st.lists(frame(), min_size=1, max_size=4))
def test_malformed_frames_are_counted_and_dropped_without_exceptions(frames):
    sched, a, b = world()
    for dst, ethertype, payload in frames:
        mac = {"us": b.dev.dev_addr, "bcast": BCAST, "other": OTHER_MAC}[dst]
        before = accounting(b)
        inject(b.dev, mac + OTHER_MAC + struct.pack("!H", ethertype) + payload)
        assert accounting(b) > before
    sched.run_for(35 * S)  # ICMP answers, ARP failures, reassembly timeouts all play out
    rx = _STATE["rx"]
    while rx.rcvq:
        rx.recvmsg(100000)
    assert b.kernel.skb_live == 0 and a.kernel.skb_live == 0
    assert not b.net.ipfrag.queues
    assert_linux_mib_names(b.net)
