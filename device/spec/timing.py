"""Hardware time units of the 82597EX, declared once for the device model and the driver.

Spec: docs/hardware.md §1.6.
"""

from __future__ import annotations

# The interrupt delay timers' tick (TIDV for TX, RDTR for RX): 0.8192 µs; the driver's TIDV
# default of 32 and RDTR default of 72 are counted in it.  A float, as both users need it:
# the model arms its timers at ``int(ticks * DELAY_UNIT_NS)`` ns and the driver's ethtool
# coalescing reports ``round(ticks * DELAY_UNIT_NS / 1000)`` µs.
DELAY_UNIT_NS = 819.2
