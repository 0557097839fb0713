"""Time units of the guest kernel (Linux's ``include/vdso/time64.h`` and ``HZ``).

Contract: the stack keeps time in integer nanoseconds, the scheduler's unit; these are the
only definitions of the conversion factors under ``stack/`` (and for the driver, which builds
on ``stack.core``).  ``HZ`` is there for the algorithms Linux writes in jiffies (CUBIC): our
jiffies are milliseconds, as on a ``CONFIG_HZ=1000`` kernel; no timer runs on jiffies.
"""

from __future__ import annotations

NS_PER_US = 1_000  # NSEC_PER_USEC
NS_PER_MS = 1_000_000  # NSEC_PER_MSEC
NS_PER_S = 1_000_000_000  # NSEC_PER_SEC
HZ = 1000
