"""Time units of the hardware model: the world's clock counts integer nanoseconds.

Contract: the only definitions of the conversion factors under ``device/`` (which may not
import ``stack/`` or ``ixsim/``).  Register-level time units (the 0.8192 µs delay tick) are
hardware facts and live with the register spec in ``device/spec/``.
"""

from __future__ import annotations

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
