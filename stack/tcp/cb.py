"""The control block of a queued segment (Linux's ``struct tcp_skb_cb``, ``TCP_SKB_CB(skb)``).

The write queue and the retransmit queue hold :class:`TxSeg` entries; each owns one skb
with the payload only, and carries what Linux keeps in ``skb->cb``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stack.core.skbuff import SkBuff


class TxSeg:
    """One entry of the write or retransmit queue (an skb with its ``TCP_SKB_CB``).

    ``skb`` holds the payload only (headers are pushed on a clone at transmit time);
    ``seq``/``end_seq`` are unwrapped and count SYN and FIN; ``sacked`` holds the
    ``TCPCB_*`` scoreboard bits; ``pcount`` is the number of MSS-sized segments it will leave
    as (``tcp_skb_pcount``); ``tx_time`` is its last transmission time (ns), ``tx_edt``
    that transmission's departure time (EDT, pacing.py) and ``tx_*`` the delivery state
    then (rate.py);
    ``ts_prev``/``ts_next`` link it into the socket's time-sorted list of sent segments
    (``tcp_tsorted_anchor``, see ``scoreboard.py``), ``None`` while off it.
    """

    __slots__ = ("skb", "seq", "end_seq", "flags", "sacked", "pcount", "tx_time", "mss",
                 "ts_prev", "ts_next", "tx_edt", "tx_delivered", "tx_delivered_mstamp",
                 "tx_first_tx_mstamp", "tx_app_limited")

    def __init__(self, skb: SkBuff, seq: int, end_seq: int, flags: int) -> None:
        self.skb = skb
        self.seq = seq
        self.end_seq = end_seq
        self.flags = flags
        self.sacked = 0
        self.pcount = 1
        self.tx_time = 0
        self.mss = 0
        self.ts_prev: object = None
        self.ts_next: object = None
        # rate.py (``TCP_SKB_CB(skb)->tx`` and ``skb_mstamp_ns``): the delivery state at the
        # last send, and that send's departure time
        self.tx_edt = 0
        self.tx_delivered = 0
        self.tx_delivered_mstamp = 0
        self.tx_first_tx_mstamp = 0
        self.tx_app_limited = False

    def __repr__(self) -> str:
        return (f"<TxSeg {self.seq}..{self.end_seq} len={self.skb.len} flags={self.flags:#x} "
                f"sacked={self.sacked:#x} pcount={self.pcount}>")
