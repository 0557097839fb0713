"""Tail loss probes (RFC 8985 §7), as Linux's ``tcp_send_loss_probe`` (``tcp_output.c``) and
``tcp_process_tlp_ack`` (``tcp_input.c``).

When the probe timer (planned by ``xmit_timer.schedule_loss_probe``, about 2 x SRTT after
the last flight) fires before the RTO, one segment goes out to draw an ACK (with SACK) that
lets RACK or fast recovery repair a tail loss instead of a timeout: new data when the
peer's window allows some (even if cwnd is full), else the last sent segment again (one MSS
of it).  At most one probe is outstanding: ``tlp_high_seq`` is SND.NXT when it left.

The episode ends (``tcp_process_tlp_ack``) when an ACK reaches ``tlp_high_seq``: for a
probe of new data, at once; for a retransmission, a D-SACK of exactly the probe or a pure
duplicate ACK says both copies arrived (no loss), while an ACK beyond ``tlp_high_seq`` says
the probe repaired a loss, so cwnd is reduced once (CWR for a moment) and
TCPLossProbeRecovery counted.  TCPLossProbes counts probes sent.

Spec: RFC 8985 §7.3 (sending a probe), §7.4 (detecting losses repaired by it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.tcp import output, recovery
from stack.tcp import window as win
from stack.tcp.const import TCP_NAGLE_OFF
from stack.tcp.recovery import (
    FLAG_DATA_SACKED,
    FLAG_DSACK_TLP,
    FLAG_NOT_DUP,
    FLAG_SND_UNA_ADVANCED,
)
from stack.tcp.state import CaState, tcp_set_ca_state
from stack.tcp.xmit_timer import rearm_rto

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


def send_loss_probe(sk: TcpSock) -> None:
    """The probe timer fired: send one probe segment and re-arm the RTO."""
    if not sk.tlp_high_seq and _probe(sk):
        sk.tlp_high_seq = sk.snd_nxt
        sk.net.mib.tcpext["TCPLossProbes"] += 1
        sk.xmit_timer_what = ""  # the RTO restarts from now (Linux clears icsk_pending)
    rearm_rto(sk)


def _probe(sk: TcpSock) -> bool:
    """New data if the window has room, else the last segment; True when one left."""
    sk.tlp_retrans = False
    mss = win.current_mss(sk)
    head = sk.send_head()
    if head is not None and output.snd_wnd_test(sk, head, mss):
        before = sk.packets_out
        output.write_xmit(sk, mss, TCP_NAGLE_OFF, push_one=2)
        return sk.packets_out > before
    if not sk.rtx:
        return False
    seg = sk.rtx[-1]
    pcount = seg.pcount
    if pcount > 1 and seg.skb.len > (pcount - 1) * mss:
        seg = output.fragment(sk, sk.rtx, seg, (pcount - 1) * mss, mss)
    if not output.retransmit_skb(sk, seg, 1, probe=True):
        return False
    sk.tlp_retrans = True
    return True


def process_tlp_ack(sk: TcpSock, ack: int, flag: int) -> None:
    """An ACK during a probe episode: end it, and reduce cwnd if the probe repaired a loss."""
    if ack < sk.tlp_high_seq:
        return
    if not sk.tlp_retrans or flag & FLAG_DSACK_TLP:
        sk.tlp_high_seq = 0  # new data acknowledged, or both copies arrived
    elif ack > sk.tlp_high_seq:
        recovery.init_cwnd_reduction(sk)  # clears tlp_high_seq
        tcp_set_ca_state(sk, CaState.CWR)
        recovery.end_cwnd_reduction(sk)
        recovery.try_keep_open(sk)
        sk.net.mib.tcpext["TCPLossProbeRecovery"] += 1
    elif not flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP | FLAG_DATA_SACKED):
        sk.tlp_high_seq = 0  # a pure duplicate ACK: original and probe both arrived
