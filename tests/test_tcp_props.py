"""Property tests: random segments to a socket in every state never raise, never leak an skb,
every discarded segment is counted (a drop reason), the scoreboard stays consistent, and
two engines back to back deliver a byte stream exactly through loss and reordering."""

from __future__ import annotations

from types import SimpleNamespace

from helpers.mib import assert_linux_tcp_mib_names
from helpers.stack import new_host
from helpers.tcp import LOCAL, REMOTE, STATE_FIXTURES, Peer, tcp_skb
from helpers.units import S
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ixsim.sched import Scheduler
from stack.core import CHECKSUM_PARTIAL, consume_skb, skb_checksum_help
from stack.net import Net
from stack.tcp import TcpSock, TcpState, tcp_v4_rcv
from stack.tcp.const import TCPCB_LOST, TCPCB_SACKED_ACKED, TCPCB_SACKED_RETRANS
from stack.wire.tcp import TcpRepr

FLAGS = st.integers(0, 0x3F)
OFFSET = st.one_of(st.integers(-70_000, 70_000), st.integers(-(2**31), 2**31),
                   st.sampled_from([0, 1, -1]))
SEGMENT = st.fixed_dictionaries({
    "flags": FLAGS,
    "seq": OFFSET,
    "ack": OFFSET,
    "window": st.integers(0, 65535),
    "data": st.integers(0, 3000),
    "ts": st.one_of(st.none(), st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
                    st.just("now")),
    "sack": st.lists(st.tuples(OFFSET, st.integers(1, 5000)), max_size=3),
    "mss": st.one_of(st.none(), st.integers(0, 65535)),
    "wscale": st.one_of(st.none(), st.integers(0, 255)),
    "sack_perm": st.booleans(),
    "port": st.sampled_from(["same", "other"]),
    "garbage": st.one_of(st.none(), st.binary(max_size=64)),
    "wait": st.sampled_from([0, 0, 0, 1_000_000, 50_000_000, 300_000_000, 2 * S]),
})


def sockets_of(p: Peer, extra: list) -> list[TcpSock]:
    socks = {id(sk): sk for sk in extra}
    for sk in p.table.sockets():
        if isinstance(sk, TcpSock):
            socks[id(sk)] = sk
            for child in sk.accept_queue:
                socks[id(child)] = child
    return list(socks.values())


def check_scoreboard(sk: TcpSock) -> None:
    """The segment counters are the sums over the retransmit queue (tcp_verify_left_out)."""
    rtx = sk.rtx
    assert sk.packets_out == sum(s.pcount for s in rtx)
    assert sk.lost_out == sum(s.pcount for s in rtx if s.sacked & TCPCB_LOST)
    assert sk.retrans_out == sum(s.pcount for s in rtx if s.sacked & TCPCB_SACKED_RETRANS)
    if sk.sack_ok:
        assert sk.sacked_out == sum(s.pcount for s in rtx if s.sacked & TCPCB_SACKED_ACKED)
    assert sk.wmem_queued == sum(s.skb.truesize for s in [*rtx, *sk.write_queue])
    assert sk.rmem_alloc == (sum(len(c) for c in sk.receive_queue)
                             + sum(len(e[2]) for e in sk.ofo))
    for a, b in zip(rtx, rtx[1:], strict=False):
        assert a.end_seq == b.seq


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=st.sampled_from(list(STATE_FIXTURES)), segments=st.lists(SEGMENT, max_size=12))
def test_random_segments_never_raise_and_every_drop_is_counted(state, segments) -> None:
    p = Peer(seed=3)
    sk = STATE_FIXTURES[state](p)
    sk.sendmsg(b"q" * 3000) if sk.state in (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT) else None
    p.drain()
    kernel = p.kernel
    for seg in segments:
        p.run(seg["wait"])
        p.out.clear()
        before_drops = kernel.skb_drops
        before_live = kernel.skb_live
        if seg["garbage"] is not None:
            p.inject_raw(seg["garbage"])
        else:
            th = TcpRepr(p.rport if seg["port"] == "same" else 9, p.lport,
                         (p.seq + seg["seq"]) & 0xFFFFFFFF,
                         (p.dut_iss + 1 + seg["ack"]) & 0xFFFFFFFF, seg["flags"], seg["window"])
            ts = seg["ts"]
            th.timestamp = (p.tsval(), p.ts_recent) if ts == "now" else ts
            th.sack_blocks = tuple(((p.dut_iss + s) & 0xFFFFFFFF, (p.dut_iss + s + n)
                                    & 0xFFFFFFFF) for s, n in seg["sack"])
            if th.sack_blocks and th.timestamp is not None:
                th.sack_blocks = th.sack_blocks[:3]
            th.mss, th.sack_permitted = seg["mss"], seg["sack_perm"]
            th.wscale = seg["wscale"]
            while th.options_len() > 40:  # keep the header encodable
                th.sack_blocks = th.sack_blocks[:-1]
            p.inject(th, b"d" * seg["data"])
        # The injected skb is gone: consumed, or dropped with a reason (counted).
        socks = sockets_of(p, [sk])
        queued = sum(len(s.rtx) + len(s.write_queue) for s in socks)
        assert kernel.skb_live == queued, (kernel.skb_live, queued)
        assert kernel.skb_drops >= before_drops
        assert kernel.skb_live <= before_live + 64
        for s in socks:
            check_scoreboard(s)
    p.run(200 * S)  # every timer that was armed runs without error
    for s in sockets_of(p, [sk]):
        check_scoreboard(s)
    assert sum(kernel.drop_reasons.values()) == kernel.skb_drops
    assert_linux_tcp_mib_names(p.net)


# -- two engines back to back -------------------------------------------------------------------
def wire(seed: int, loss: float, reorder: float) -> tuple[Scheduler, Net, Net]:
    """Two hosts whose TCPs talk through the hooks, with seeded loss and reordering."""
    sched = Scheduler(seed=seed)
    nets = {}
    for name, addr in (("a", LOCAL), ("b", REMOTE)):
        nets[addr] = new_host(sched, name).net
        nets[addr].devinet.add(nets[addr].lo, addr, 32)  # each engine owns its address
    rng = sched.rng
    for src, dst in ((LOCAL, REMOTE), (REMOTE, LOCAL)):
        dev = SimpleNamespace(features=0, mtu=1500, name="eth0")
        peer = nets[dst]

        def route(daddr: bytes, saddr: bytes | None = None, src=src, dev=dev) -> object:
            return SimpleNamespace(dev=dev, src=src, mtu=1500)

        def xmit(skb, saddr, daddr, peer=peer) -> int:
            if skb.ip_summed == CHECKSUM_PARTIAL:
                skb_checksum_help(skb)
            data = skb.tobytes()
            consume_skb(skb)
            if rng.random() < loss:
                return 0
            delay = 100_000 + (rng.randrange(300_000) if rng.random() < reorder else 0)

            def deliver() -> None:
                tcp_v4_rcv(peer, tcp_skb(peer.kernel, saddr, daddr, data))

            sched.call_later(delay, deliver)
            return 0

        nets[src].tcp.route = route
        nets[src].tcp.transmit = xmit
    return sched, nets[LOCAL], nets[REMOTE]


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), loss=st.sampled_from([0.0, 0.02, 0.1]),
       reorder=st.sampled_from([0.0, 0.2]), sack=st.booleans(), ts=st.booleans(),
       cc=st.sampled_from(["cubic", "reno"]))
def test_two_engines_deliver_the_stream_through_loss_and_reordering(seed, loss, reorder,
                                                                     sack, ts, cc) -> None:
    sched, na, nb = wire(seed, loss, reorder)
    for net in (na, nb):
        net.sysctl.tcp_sack, net.sysctl.tcp_timestamps = sack, ts
        net.sysctl.tcp_congestion_control = cc
    lsk = TcpSock(nb)
    lsk.bind(REMOTE, 80)
    lsk.listen(4)
    client = TcpSock(na)
    try:
        client.connect(REMOTE, 80)
    except BlockingIOError:
        pass
    sched.run_until(lambda: bool(lsk.accept_queue), timeout=600 * S)
    server = lsk.accept()
    payload = bytes((i * 31 + 7) & 0xFF for i in range(120_000))
    sent, got = 0, []
    while sum(map(len, got)) < len(payload):
        while sent < len(payload):
            try:
                sent += client.sendmsg(payload[sent:sent + 20_000])
            except BlockingIOError:
                break
        while True:
            try:
                chunk = server.recvmsg(1 << 20)[0]
            except BlockingIOError:
                break
            got.append(chunk)
        assert sched.step() is not None and sched.now < 3000 * S
        for s in (client, server):
            check_scoreboard(s)
    assert b"".join(got) == payload
    client.close()
    server.close()
    sched.run_for(300 * S)
    assert client.state == server.state == TcpState.CLOSED
    assert na.kernel.skb_live == nb.kernel.skb_live == 0
    assert_linux_tcp_mib_names(na)
    assert_linux_tcp_mib_names(nb)
