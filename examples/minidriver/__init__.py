"""minidriver: the smallest honest driver for the ixsim 82597EX, to read in one sitting.

Two rings, one interrupt, NAPI, no offloads.  The whole driver is :mod:`.driver`; this file
is only what a host asks of a driver module (``ixsim.host.load_driver``): ``match``,
``probe``, ``remove`` and ``ProbeError``.  Use it with::

    python -m ixsim drivertest --driver examples.minidriver     # from the repository root
    python -m ixsim shell --driver examples.minidriver
    w.host("a", "10.0.0.1/24", driver="examples.minidriver")

The walkthrough that builds it is docs/writing-a-driver.md.
"""

from examples.minidriver.driver import DRIVER_NAME, ProbeError, match, probe, remove

__all__ = ["DRIVER_NAME", "ProbeError", "match", "probe", "remove"]
