"""Hypothesis-generated malformed IPv6 / extension-header / ICMPv6 / ND / UDP / TCP packets
injected into ``netif_receive_skb``, as ``test_ip_fuzz.py`` does for IPv4: nothing raises,
every packet leaves a trace in a counter or a drop reason, no skb leaks, reassembly queues
drain."""

from __future__ import annotations

import struct

from helpers.ipv6 import A6, B6, inject6, two_hosts6
from helpers.mib import assert_linux_mib_names
from helpers.units import S
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack.socket import AF_INET6, SOCK_DGRAM, socket_create
from stack.wire.checksum import l4_checksum6
from stack.wire.ipv6 import ipv6_bytes

ADDRS = [
    ipv6_bytes(a)
    for a in (
        "fd00::1",
        "fd00::2",
        "ff02::1",
        "ff02::1:ff00:2",
        "::",
        "::1",
        "fe80::1",
        "fd00::99",
        "2001:db8::1",
        "::ffff:10.0.0.1",
    )
]
OTHER_MAC = b"\x02\0\0\0\0\x66"
_STATE: dict[str, object] = {}


def world():
    if not _STATE:
        sched, a, b = two_hosts6(seed=13)
        rx = socket_create(b.net, AF_INET6, SOCK_DGRAM)
        rx.bind(("::", 9))
        _STATE.update(sched=sched, a=a, b=b, rx=rx)
    return _STATE["sched"], _STATE["a"], _STATE["b"]


addr = st.one_of(st.sampled_from(ADDRS), st.binary(min_size=16, max_size=16))
src_addr = st.one_of(st.sampled_from([A6] * 4 + [ipv6_bytes("fe80::99")]), addr)
dst_addr = st.one_of(st.sampled_from([B6] * 6 + [ipv6_bytes("ff02::1")]), addr)


@st.composite
def tlv_options(draw, size: int) -> bytes:
    out = b""
    while len(out) < size:
        kind = draw(st.sampled_from([0, 1, 1, 5, 0xC2, 0x3E, 0x7F, 0xBF, 0xFF]))
        if kind == 0:
            out += b"\0"
            continue
        n = draw(st.integers(0, 8))
        out += bytes((kind, n)) + draw(st.binary(min_size=n, max_size=n))
    return out[:size] if draw(st.booleans()) else out


@st.composite
def ext_header(draw, nexthdr: int) -> tuple[int, bytes]:
    kind = draw(st.sampled_from([0, 60, 43, 44, 0, 60]))
    if kind in (0, 60):
        units = draw(st.sampled_from([0, 0, 1, 2, 255]))
        body = draw(tlv_options(6 + 8 * units))
        return kind, bytes((nexthdr, units)) + body[: 6 + 8 * units].ljust(6 + 8 * units, b"\0")
    if kind == 43:
        units = draw(st.sampled_from([0, 2, 1]))
        rtype = draw(st.sampled_from([0, 2, 4, 250]))
        left = draw(st.sampled_from([0, 1, 3]))
        return kind, bytes((nexthdr, units, rtype, left)) + bytes(4 + 8 * units)
    offset = draw(st.sampled_from([0, 0, 1, 185, 8191]))
    more = draw(st.booleans())
    ident = draw(st.sampled_from([1, 2, 0xDEADBEEF]))
    return kind, struct.pack("!BBHI", nexthdr, 0, offset << 3 | more, ident)


@st.composite
def icmpv6_msg(draw, src: bytes, dst: bytes) -> bytes:
    itype = draw(st.sampled_from([1, 2, 3, 4, 128, 129, 133, 134, 135, 136, 137, 143, 200]))
    code = draw(st.sampled_from([0, 0, 0, 1, 4, 9]))
    body = draw(
        st.one_of(
            st.binary(max_size=48),
            st.builds(
                lambda t, o: t + o,
                st.binary(min_size=20, max_size=20),
                st.sampled_from(
                    [
                        b"",
                        b"\x01\x01\x02\0\0\0\0\x07",
                        b"\x01\x00",
                        b"\x03\x04" + bytes(30),
                        b"\x05\x01\0\0\0\0\x05\xdc",
                    ]
                ),
            ),
        )
    )
    msg = bytearray(struct.pack("!BBH", itype, code, 0) + body)
    if draw(st.sampled_from([True] * 5 + [False])):
        struct.pack_into("!H", msg, 2, l4_checksum6(src, dst, 58, bytes(msg)))
    return bytes(msg)


@st.composite
def l4(draw, proto: int, src: bytes, dst: bytes) -> bytes:
    if proto == 58:
        return draw(icmpv6_msg(src, dst))
    if proto == 17:
        data = draw(st.binary(max_size=40))
        length = draw(st.sampled_from([8 + len(data)] * 4 + [0, 7, 8 + len(data) + 5]))
        pkt = bytearray(
            struct.pack("!HHHH", 1000, draw(st.sampled_from([9, 9, 10])), length, 0) + data
        )
        if draw(st.sampled_from([True, True, False])):
            struct.pack_into("!H", pkt, 6, l4_checksum6(src, dst, 17, bytes(pkt)) or 0xFFFF)
        return bytes(pkt)
    if proto == 6:
        seg = bytearray(
            struct.pack(
                "!HHIIBBHHH",
                1000,
                draw(st.sampled_from([80, 9])),
                draw(st.integers(0, 2**32 - 1)),
                0,
                draw(st.sampled_from([0x50, 0x40, 0xF0])),
                draw(st.sampled_from([0x02, 0x10, 0x04, 0x3F])),
                1024,
                0,
                0,
            )
            + draw(st.binary(max_size=20))
        )
        if draw(st.booleans()):
            struct.pack_into("!H", seg, 16, l4_checksum6(src, dst, 6, bytes(seg)))
        return bytes(seg)
    return draw(st.binary(max_size=30))


@st.composite
def ipv6_packet(draw) -> bytes:
    src, dst = draw(src_addr), draw(dst_addr)
    proto = draw(st.sampled_from([58, 58, 17, 6, 59, 253]))
    payload = draw(l4(proto, src, dst))
    nexthdr = proto
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        nexthdr, hdr = draw(ext_header(nexthdr))
        payload = hdr + payload
    plen = draw(st.sampled_from([len(payload)] * 8 + [len(payload) + 7, 3, 0, 0xFFFF]))
    version = draw(st.sampled_from([6] * 15 + [4]))
    hop = draw(st.sampled_from([255, 64, 1, 0]))
    hdr = struct.pack(
        "!IHBB16s16s", version << 28 | draw(st.integers(0, 0xFFFFF)), plen, nexthdr, hop, src, dst
    )
    pkt = hdr + payload
    if draw(st.sampled_from([False] * 9 + [True])):
        pkt = pkt[: draw(st.integers(0, len(pkt)))]
    return pkt


def accounting(host) -> int:
    mib = host.net.mib
    total = sum(sum(getattr(mib, g).values()) for g in ("ip6", "icmp6", "ndisc", "udp", "tcp"))
    stats = host.dev.stats
    return (
        total + sum(host.kernel.drop_reasons.values()) + stats.rx_nohandler + stats.rx_length_errors
    )


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    packets=st.lists(
        st.tuples(st.sampled_from(["us", "us", "mcast", "other"]), ipv6_packet()),
        min_size=1,
        max_size=4,
    )
)
def test_malformed_ipv6_packets_are_counted_and_dropped_without_exceptions(packets):
    sched, a, b = world()
    for dst, pkt in packets:
        mac = {"us": b.dev.dev_addr, "mcast": b"\x33\x33\0\0\0\x01", "other": OTHER_MAC}[dst]
        before = accounting(b)
        inject6(b.dev, pkt, dst_mac=mac)
        assert accounting(b) > before
    sched.run_for(65 * S)  # ICMPv6 answers, ND failures, reassembly timeouts all play out
    rx = _STATE["rx"]
    rx.setblocking(False)
    while rx.sk.rcvq:
        rx.recvfrom(100000)
    assert b.kernel.skb_live == 0 and a.kernel.skb_live == 0
    assert not b.net.ipv6.frags.queues
    assert_linux_mib_names(b.net)
