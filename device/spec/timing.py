"""Hardware time units of the 82597EX, declared once for the device model and the driver.

Spec: docs/hardware.md §1.6.
"""

from __future__ import annotations

# The interrupt delay timers' tick (TIDV for TX, RDTR for RX): 0.8192 µs; the driver's TIDV
# default of 32 and RDTR default of 72 are counted in it.  A float, as both users need it:
# the model arms its timers at ``int(ticks * DELAY_UNIT_NS)`` ns and the driver's ethtool
# coalescing reports ``round(ticks * DELAY_UNIT_NS / 1000)`` µs.
DELAY_UNIT_NS = 819.2

# The 82597EX's one link speed, 10 Gb/s (10GBASE-X over XAUI): the rate its MAC serializes at
# (docs/hardware.md §1.1).  A cable may be slower; the port then paces at the cable's rate.
LINK_RATE_BPS = 10_000_000_000

# 802.3x PAUSE: one pause quantum is 512 bit times (IEEE 802.3 Annex 31B.2).
PAUSE_QUANTUM_BITS = 512
