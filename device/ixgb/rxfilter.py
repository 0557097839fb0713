"""The ixgb receive address filter: RAR 0-15, MTA hash, broadcast, promiscuous, VLAN (VFTA).

Mirrors QEMU's ``receive_filter`` (``hw/net/e1000.c``) and ``e1000x_rx_group_filter`` /
``e1000x_rx_vlan_filter`` (``hw/net/e1000x_common.c``) for the 82597's register layout, and is
the hardware half of Linux ixgb's ``ixgb_set_multi`` / ``ixgb_vlan_rx_add_vid``.

Contract: :meth:`RxFilter.check` takes a frame (>= 14 bytes, no FCS) and the current RCTL and
returns ``(accepted, reason)``.  It reads the live register file (``nic.r``) on every call, so
a register write takes effect on the next frame without any notification.  Reasons are small
ints (``EXACT`` ... ``CFI_MISMATCH``); positive ones accept.  ``INEXACT`` is the set of
reasons that set the descriptor's PIF status bit ("passed inexact filter": software must look
at the address itself).

Order of decisions (docs/hardware.md §1.3, §2.11, §2.12):

1. A VLAN-tagged frame (TPID 0x8100; the 82597 has no VET register) is dropped when RCTL.CFIEN
   is set and its CFI bit differs from RCTL.CFI, or when RCTL.VFE is set and its VID's bit is
   clear in VFTA (word ``(vid >> 5) & 0x7F``, bit ``vid & 0x1F``).
2. Broadcast with RCTL.BAM: accepted, exact.
3. Destination equal to a receive address with RAH.AV set and RAH.ASEL = 00 (destination):
   accepted, exact.  Entries with another ASEL never match a destination.
4. Multicast (I/G bit set, broadcast included) whose MTA bit is set: accepted, inexact.  The
   hash takes 12 bits of the address selected by RCTL.MO, exactly as the driver computes it:
   MO 0: ``(a[4] >> 4) | (a[5] << 4)``, 1: shift 3, 2: shift 2, 3: shift 0 (``& 0xFFF``).
5. Multicast with RCTL.MPE: accepted, inexact.  Unicast with RCTL.UPE: accepted, inexact.
6. Anything else: dropped (NO_MATCH).
"""

from __future__ import annotations

import struct

from device.spec import regs as R

EXACT = 1  # destination matched a valid receive address (RAR n)
BROADCAST = 2  # broadcast accepted by RCTL.BAM
HASH = 3  # multicast matched the MTA hash (inexact)
PROMISC_MC = 4  # multicast accepted by RCTL.MPE (inexact)
PROMISC_UC = 5  # unicast accepted by RCTL.UPE (inexact)
NO_MATCH = -1  # no filter accepted the destination
VLAN_FILTERED = -2  # tagged frame whose VID is clear in VFTA (RCTL.VFE)
CFI_MISMATCH = -3  # tagged frame whose CFI differs from RCTL.CFI (RCTL.CFIEN)

REASON_NAMES = {
    EXACT: "exact", BROADCAST: "broadcast", HASH: "mta-hash", PROMISC_MC: "mpe",
    PROMISC_UC: "upe", NO_MATCH: "no-match", VLAN_FILTERED: "vfta", CFI_MISMATCH: "cfi",
}
INEXACT = frozenset((HASH, PROMISC_MC, PROMISC_UC))

ETH_P_8021Q = 0x8100
MO_SHIFT = (4, 3, 2, 0)  # RCTL.MO -> right shift of a[4] (docs/hardware.md §2.11)

_DA = struct.Struct("<IH")  # destination address as (RAL, RAH[15:0]) register images
_RAL0 = R.RAL(0) >> 2
_RAH0 = R.RAH(0) >> 2
_RA_WORDS = R.NUM_RA * 2
_RA_FIRST = R.RA >> 2
_MTA = R.MTA >> 2
_VFTA = R.VFTA >> 2
_RAH_MATCH = R.RAH_AV | (3 << R.RAH_ASEL_SHIFT)  # AV set and ASEL == 00 (destination)

# check()'s fast path (an untagged frame to RAR0, the station address), for the RX engine to
# test inline before calling check(): (RAL, RAH[15:0]) of the destination, the register
# indices, and the RAH bits that must read AV=1, ASEL=00.
DA_UNPACK_FROM = _DA.unpack_from
RAL0 = _RAL0
RAH0 = _RAH0
RAH_MATCH = _RAH_MATCH

# Preallocated results: the filter runs once per frame and allocates nothing.
_R_EXACT = (True, EXACT)
_R_BROADCAST = (True, BROADCAST)
_R_HASH = (True, HASH)
_R_PROMISC_MC = (True, PROMISC_MC)
_R_PROMISC_UC = (True, PROMISC_UC)
_R_NO_MATCH = (False, NO_MATCH)
_R_VLAN = (False, VLAN_FILTERED)
_R_CFI = (False, CFI_MISMATCH)


def mta_hash(addr: bytes | bytearray | memoryview, mo: int) -> int:
    """The 12-bit multicast hash of a 6-byte address for RCTL.MO = ``mo`` (0..3)."""
    shift = MO_SHIFT[mo & 3]
    return ((addr[4] >> shift) | (addr[5] << (8 - shift))) & 0xFFF


def vfta_slot(vid: int) -> tuple[int, int]:
    """(VFTA word index, bit mask) of a VLAN ID (docs/hardware.md §2.12)."""
    return (vid >> 5) & 0x7F, 1 << (vid & 0x1F)


class RxFilter:
    """The address filter over a live register file (``nic.r``, indexed by offset >> 2)."""

    __slots__ = ("r",)

    def __init__(self, regs: list[int]) -> None:
        self.r = regs

    def check(self, frame: bytes | memoryview, rctl: int) -> tuple[bool, int]:
        """Decide whether ``frame`` passes the filter; ``(accepted, reason)``."""
        r = self.r
        if frame[12] == 0x81 and frame[13] == 0x00 and len(frame) >= 16:
            if rctl & (R.RCTL_VFE | R.RCTL_CFIEN):
                tci = (frame[14] << 8) | frame[15]
                if rctl & R.RCTL_CFIEN and bool(tci & 0x1000) != bool(rctl & R.RCTL_CFI):
                    return _R_CFI
                if rctl & R.RCTL_VFE and not r[_VFTA + ((tci >> 5) & 0x7F)] >> (tci & 0x1F) & 1:
                    return _R_VLAN
        lo, hi = _DA.unpack_from(frame, 0)
        # Fast path: unicast to RAR0 (the station address), the common case.
        rah = r[_RAH0]
        if lo == r[_RAL0] and hi == rah & 0xFFFF and rah & _RAH_MATCH == R.RAH_AV:
            return _R_EXACT
        if lo & 1:  # I/G bit: multicast or broadcast
            if rctl & R.RCTL_BAM and lo == 0xFFFFFFFF and hi == 0xFFFF:
                return _R_BROADCAST
            if self._ra_match(lo, hi):
                return _R_EXACT
            h = mta_hash(frame, (rctl & R.RCTL_MO_MASK) >> R.RCTL_MO_SHIFT)
            if r[_MTA + (h >> 5)] >> (h & 0x1F) & 1:
                return _R_HASH
            if rctl & R.RCTL_MPE:
                return _R_PROMISC_MC
            return _R_NO_MATCH
        if self._ra_match(lo, hi):
            return _R_EXACT
        if rctl & R.RCTL_UPE:
            return _R_PROMISC_UC
        return _R_NO_MATCH

    def _ra_match(self, lo: int, hi: int) -> bool:
        """Is (lo, hi) one of the 16 receive addresses valid for destination matching?"""
        r = self.r
        for i in range(_RA_FIRST, _RA_FIRST + _RA_WORDS, 2):
            rah = r[i + 1]
            if r[i] == lo and rah & 0xFFFF == hi and rah & _RAH_MATCH == R.RAH_AV:
                return True
        return False

    def ra_index(self, frame: bytes | memoryview) -> int | None:
        """Which receive address matches the destination (the debugger's question)."""
        lo, hi = _DA.unpack_from(frame, 0)
        r = self.r
        for n in range(R.NUM_RA):
            rah = r[_RA_FIRST + 2 * n + 1]
            if r[_RA_FIRST + 2 * n] == lo and rah & 0xFFFF == hi and rah & _RAH_MATCH == R.RAH_AV:
                return n
        return None
