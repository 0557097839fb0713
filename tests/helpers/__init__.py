"""Shared test rigs, one per layer (CONTRIBUTING.md, "Tests, one harness per layer").

pytest's default ``prepend`` import mode puts ``tests/`` on ``sys.path`` (the directory has no
``__init__.py``), so test files import these as ``from helpers.qtest import make_rig``.

- ``qtest``: the NIC model alone, the test playing the driver (QEMU's qtest in spirit).
- ``driver``: two ixgb hosts from ``ixsim.World`` with the driver bound and no IP stack; raw
  frames through ``dev_queue_xmit`` and an ETH_P_ALL tap.
- ``dummy``: one kernel with a dummy NIC driver, for the netdev core.
- ``stack``: hosts (kernel + ``Net``) on veth pairs or a loopback, for IPv4, UDP and sockets.
- ``frames``: IPv4/UDP/ICMP/Ethernet builders, injection as a driver's poll does, a packet tap.
- ``tcp``: the test as the raw TCP peer, with a fixture per RFC 9293 state.
- ``fakes``: in-memory ``Sock`` fakes for the BSD layer and epoll without TCP/UDP/IP.
- ``mib``: the counter names Linux prints, to check the stack's against.
- ``wire``: one round-trip helper per protocol (emit, parse, views, ``construct``).
- ``checksum``: the RFC 1071 sum the long way, independent of ixsim.
- ``tap``: namespace/tap names and MAC spellings for the Linux-peer tests.
- ``units``: US, MS and S in nanoseconds.

Fixtures more than one file uses are in ``tests/conftest.py``.
"""
