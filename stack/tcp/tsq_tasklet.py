"""The TSQ tasklet and the pacing timer's handler: resuming a held-back send.

Mirrors Linux 6.x ``net/ipv4/tcp_output.c``: ``tcp_tasklet_func`` (the per-CPU TSQ tasklet
that ``tcp_wfree`` queues a throttled socket on), ``tcp_tsq_handler``/``tcp_tsq_write`` and
``tcp_pace_kick`` (the internal pacing hrtimer's expiry, which runs the same handler).
(Linux 6.10 moved the tasklet to a BH workqueue; the order of events is the same.)

Contract: :meth:`TsqTasklet.queue` appends a socket (the caller has set TSQ_QUEUED) and
schedules the tasklet; the tasklet clears TSQ_QUEUED of each socket in order and runs
:func:`tsq_handler`, which, for a socket in a state that sends data, retransmits what is
marked lost while cwnd has room and then runs ``tcp_write_xmit``.  Both run from
TASKLET_SOFTIRQ or a timer, never inline in the completion that made room.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from stack.core.softirq import Tasklet, tasklet_schedule
from stack.tcp import output
from stack.tcp import window as win
from stack.tcp.state import CLOSE_WAIT, CLOSING, ESTABLISHED, FIN_WAIT_1, LAST_ACK
from stack.tcp.tsq import TSQ_QUEUED

if TYPE_CHECKING:
    from stack.core.kernel import Kernel
    from stack.tcp.sock import TcpSock

_SENDING = frozenset({ESTABLISHED, FIN_WAIT_1, CLOSING, CLOSE_WAIT, LAST_ACK})


def tsq_handler(sk: TcpSock) -> None:
    """``tcp_tsq_handler`` -> ``tcp_tsq_write``: send what TSQ or pacing held back."""
    if sk.state not in _SENDING:
        return
    if sk.lost_out > sk.retrans_out and sk.cwnd > sk.packets_in_flight():
        output.xmit_retransmit_queue(sk)
    if output.write_xmit(sk, win.current_mss(sk), sk.nonagle):
        output.check_probe_timer(sk)


def pace_kick(sk: TcpSock) -> None:
    """``tcp_pace_kick``: the pacing timer expired; the next skb may leave."""
    tsq_handler(sk)


class TsqTasklet:
    """``struct tsq_tasklet``: the sockets whose completions found them throttled."""

    __slots__ = ("head", "tasklet")

    def __init__(self, kernel: Kernel) -> None:
        self.head: deque[TcpSock] = deque()
        self.tasklet = Tasklet(kernel.softirqs, self.run, "tcp_tsq")

    def queue(self, sk: TcpSock) -> None:
        self.head.append(sk)
        tasklet_schedule(self.tasklet)

    def run(self) -> None:
        """``tcp_tasklet_func``."""
        head = self.head
        for _ in range(len(head)):
            sk = head.popleft()
            sk.tsq_flags &= ~TSQ_QUEUED
            tsq_handler(sk)
