"""The dummy NIC driver (``helpers.dummy``) checks itself: loopback and NAPI receive."""

from __future__ import annotations

from helpers.dummy import BCAST, DummyHost, frame

from stack.core import dev_consume_skb_any


# -- the dummy's own checks -----------------------------------------------------------------------
def test_dummy_loopback_round_trip_frees_everything():
    h = DummyHost()
    h.up()
    h.ops.loopback = True
    h.catch()
    h.xmit(frame())
    assert len(h.ops.sent) == 1
    assert h.received == []  # netif_rx only queues: NET_RX delivers later
    h.settle()
    assert [bytes(s) for s in h.received] == [frame()[14:]]
    for skb in h.received:
        dev_consume_skb_any(skb)
    assert h.kernel.skb_live == 0


def test_dummy_napi_receive_path():
    h = DummyHost()
    h.up()
    h.catch()
    h.deliver([frame(), frame(dst=BCAST)])
    h.settle()
    assert len(h.received) == 2 and h.irq_enabled and h.irqs == 1
    for skb in h.received:
        dev_consume_skb_any(skb)
    assert h.kernel.skb_live == 0
