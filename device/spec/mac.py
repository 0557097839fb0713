"""MAC-level facts of the 82597EX: its on-chip FIFOs and the 802.3x PAUSE frame it speaks.

Spec: docs/hardware.md §1.1 (FIFO sizes) and §1.10 (flow control).  Declared once here for
the device model (``device/ixgb/txfifo.py``, ``rx.py``, ``flowctl.py``) and the debugger.
"""

from __future__ import annotations

# The on-chip packet buffers (Intel's 82597EX product brief: 512 KB receive, 256 KB transmit).
# FCRTL/FCRTH address bytes of the RX buffer in bits 18:3, which a 512 KiB buffer fills.
RX_FIFO_BYTES = 512 * 1024
TX_FIFO_BYTES = 256 * 1024

# IEEE 802.3 Annex 31B: a PAUSE frame is a MAC control frame (EtherType 0x8808, opcode
# 0x0001) to the reserved multicast 01-80-C2-00-00-01, carrying a pause time in quanta of
# 512 bit times; pause time 0 is XON.  It is padded to the 60-byte minimum (64 with FCS).
PAUSE_DST = bytes.fromhex("0180c2000001")
ETH_P_MAC_CONTROL = 0x8808
MAC_CONTROL_PAUSE = 0x0001
