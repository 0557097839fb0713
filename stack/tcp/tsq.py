"""TCP Small Queues and autocorking: how much of a socket may sit below TCP.

Mirrors Linux 6.x ``net/ipv4/tcp_output.c`` (``skb_set_owner_w`` as ``__tcp_transmit_skb``
calls it, ``tcp_wfree``, ``tcp_small_queue_check``, ``TSQ_THROTTLED``/``TSQ_QUEUED``) and
``net/ipv4/tcp.c`` (``tcp_should_autocork`` and the autocork branch of ``tcp_push``).

Contract:
- Every skb TCP transmits is charged to ``sk.wmem_alloc`` (Linux's ``sk_wmem_alloc``) by its
  ``truesize`` and carries a destructor that gives it back when the skb is freed: by the
  driver at TX completion (``dev_consume_skb_any``), by a qdisc that drops it, by loopback or
  veth at transmit (``skb_orphan``).  Pure ACKs get :func:`sock_wfree` (charged, but their
  completion never restarts the queue); everything else :func:`tcp_wfree`.
- :func:`small_queue_check` is asked before each data skb leaves ``tcp_write_xmit`` (factor 0)
  and each retransmission (factor 1, a doubled limit): the limit is ``max(2 * truesize,
  sk_pacing_rate >> sk_pacing_shift)``, capped by ``net.ipv4.tcp_limit_output_bytes`` (4 MiB)
  unless something paces the socket.  Above it (and with more than one skb in the
  retransmit queue: such a socket always sends, as Linux's
  ``tcp_rtx_queue_empty_or_single_skb``) the socket is marked TSQ_THROTTLED and stops.
- A completion of a throttled socket's skb marks it TSQ_QUEUED and queues it on the TSQ
  tasklet (``stack.tcp.tsq_tasklet``), which runs ``tcp_write_xmit`` from TASKLET_SOFTIRQ:
  the send resumes as its own event, after the completion that made room.
- Autocork (``net.ipv4.tcp_autocorking``, on): ``sendmsg`` does not push a tail skb smaller
  than the size goal while an earlier skb of the socket is still below TCP (``wmem_alloc``
  above the tail's truesize) and something is unacknowledged; it marks the socket
  TSQ_THROTTLED (counting ``TCPAutoCorking`` when it was not already) so that the next
  completion pushes the grown skb.  Small writes coalesce while the device is busy.
- SIOCOUTQ is unchanged: the bytes not yet acknowledged (``write_seq - snd_una``).

Deliberate deviation: software GSO (a device without TSO) frees the super-segment when it
is split, so its charge returns then, not at the segments' completion (Linux moves the
destructor to the segments in ``tcp_gso_segment``).  ixgb has TSO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.skbuff import SkBuff

if TYPE_CHECKING:
    from stack.tcp.cb import TxSeg
    from stack.tcp.sock import TcpSock

# sk_tsq_flags
TSQ_THROTTLED = 1
TSQ_QUEUED = 2


def skb_set_owner_w(sk: TcpSock, skb: SkBuff, pure_ack: bool) -> None:
    """Charge ``skb`` to the socket until it is freed (``skb_set_owner_w``)."""
    skb.destructor = sock_wfree if pure_ack else tcp_wfree
    sk.wmem_alloc += skb.truesize


def sock_wfree(skb: SkBuff) -> None:
    """A pure ACK was freed (``__sock_wfree``): only the charge returns."""
    skb.sk.wmem_alloc -= skb.truesize


def tcp_wfree(skb: SkBuff) -> None:
    """A transmitted skb was freed (``tcp_wfree``): the charge returns and a throttled socket
    is queued, once, for the TSQ tasklet."""
    sk = skb.sk
    sk.wmem_alloc -= skb.truesize
    flags = sk.tsq_flags
    if not flags & TSQ_THROTTLED or flags & TSQ_QUEUED:
        return
    sk.tsq_flags = (flags & ~TSQ_THROTTLED) | TSQ_QUEUED
    sk.table.tsq.queue(sk)


def small_queue_check(sk: TcpSock, skb: SkBuff, factor: int) -> bool:
    """``tcp_small_queue_check``: True when the socket has enough below it and must wait."""
    # max()/min() as comparisons: this runs once per transmitted skb (issue 18)
    limit = 2 * skb.truesize
    paced = sk.sk_pacing_rate >> sk.sk_pacing_shift
    if paced > limit:
        limit = paced
    if not sk.sk_pacing_status:  # SK_PACING_NONE
        cap = sk.net.sysctl.tcp_limit_output_bytes
        if cap < limit:
            limit = cap
    limit <<= factor
    if sk.wmem_alloc > limit:
        if len(sk.rtx) <= 1:
            return False  # nothing (or one skb) in flight: no completion would call us back
        sk.tsq_flags |= TSQ_THROTTLED
        return True
    return False


def autocork(sk: TcpSock, tail: TxSeg, size_goal: int) -> bool:
    """``tcp_push``'s autocork branch: True when the push must wait for a completion."""
    skb = tail.skb
    if not (
        skb.len < size_goal
        and sk.net.sysctl.tcp_autocorking
        and sk.rtx
        and sk.wmem_alloc > skb.truesize
    ):
        return False  # tcp_should_autocork
    if not sk.tsq_flags & TSQ_THROTTLED:
        sk.net.mib.tcpext["TCPAutoCorking"] += 1
        sk.tsq_flags |= TSQ_THROTTLED
    return sk.wmem_alloc > skb.truesize
