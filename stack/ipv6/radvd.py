"""radvd: a host acting as an IPv6 router advertises prefixes on one interface.

Plays the radvd daemon (``radvd.conf``'s defaults) on top of the kernel side of
``stack/ipv6/ndisc.py``: ``Radvd(net, dev, prefixes)`` turns forwarding on (radvd refuses to
run without it), joins ff02::2 and sends unsolicited router advertisements at random intervals
in [MinRtrAdvInterval, MaxRtrAdvInterval] = [198, 600] s, the first
``MAX_INITIAL_RTR_ADVERTISEMENTS`` (3) at most ``MAX_INITIAL_RTR_ADVERT_INTERVAL`` (16 s)
apart, and a solicited one after a random delay of up to ``MAX_RA_DELAY_TIME`` (500 ms) when a
router solicitation arrives, to all-nodes.  Each RA carries: cur hop limit 64, router lifetime
``AdvDefaultLifetime`` = 3 x MaxRtrAdvInterval (1800 s), our link-layer address, an MTU option
when ``mtu`` is given and a prefix information option per prefix (on-link, autonomous, valid
86400 s, preferred 14400 s unless given).  Timing draws come from the world's RNG.

Spec: RFC 4861 §6.2; radvd.conf(5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stack.core import Timer
from stack.core.units import NS_PER_MS, NS_PER_S
from stack.ipv6.ndisc import ndisc_send_ra, ra_message
from stack.ipv6.route import parse_prefix6
from stack.wire.icmpv6 import PrefixInfo
from stack.wire.ipv6 import IN6ADDR_LINKLOCAL_ALLNODES, IN6ADDR_LINKLOCAL_ALLROUTERS

if TYPE_CHECKING:
    from stack.core import NetDevice

MIN_RTR_ADV_INTERVAL_S = 198
MAX_RTR_ADV_INTERVAL_S = 600
MAX_INITIAL_RTR_ADVERTISEMENTS = 3
MAX_INITIAL_RTR_ADVERT_INTERVAL_S = 16
MAX_RA_DELAY_NS = 500 * NS_PER_MS
ADV_VALID_LIFETIME_S = 86400
ADV_PREFERRED_LIFETIME_S = 14400
ADV_CUR_HOP_LIMIT = 64


class Radvd:
    """One advertising interface."""

    def __init__(
        self,
        net: Any,
        dev: NetDevice,
        prefixes: list[str],
        mtu: int = 0,
        valid: int = ADV_VALID_LIFETIME_S,
        preferred: int = ADV_PREFERRED_LIFETIME_S,
        lifetime: int = 3 * MAX_RTR_ADV_INTERVAL_S,
    ) -> None:
        self.net = net
        self.dev = dev
        self.prefixes = [
            PrefixInfo(*parse_prefix6(p), valid=valid, preferred=preferred) for p in prefixes
        ]
        self.mtu = mtu
        self.lifetime = lifetime
        self.sent = 0
        self.timer = Timer(dev.kernel, self._periodic, f"radvd {dev.name}")
        self.solicit_timer = Timer(dev.kernel, self._send_solicited, f"radvd-rs {dev.name}")
        net.sysctl.write("net.ipv6.conf.all.forwarding", 1)
        idev = net.ipv6.idev(dev) or net.ipv6.add_dev(dev)
        idev.radvd = self
        idev.mc.inc(IN6ADDR_LINKLOCAL_ALLROUTERS)
        self.timer.mod_timer(net.sched.now)

    def message(self) -> Any:
        return ra_message(self.dev, ADV_CUR_HOP_LIMIT, self.lifetime, self.prefixes, self.mtu)

    def _send(self) -> None:
        ndisc_send_ra(self.net, self.dev, IN6ADDR_LINKLOCAL_ALLNODES, self.message())
        self.sent += 1

    def _periodic(self, _timer: Timer) -> None:
        if self.net.ipv6.link_local(self.dev) is None:  # DAD of our link-local still running
            self.timer.mod_timer(self.net.sched.now + NS_PER_S)
            return
        self._send()
        rng = self.net.sched.rng
        interval = rng.randrange(
            MIN_RTR_ADV_INTERVAL_S * NS_PER_S, MAX_RTR_ADV_INTERVAL_S * NS_PER_S
        )
        if self.sent < MAX_INITIAL_RTR_ADVERTISEMENTS:
            interval = min(interval, MAX_INITIAL_RTR_ADVERT_INTERVAL_S * NS_PER_S)
        self.timer.mod_timer(self.net.sched.now + interval)

    def solicited(self) -> None:
        """A router solicitation arrived: answer after a random delay (RFC 4861 §6.2.6)."""
        if not self.solicit_timer.timer_pending():
            delay = self.net.sched.rng.randrange(MAX_RA_DELAY_NS)
            self.solicit_timer.mod_timer(self.net.sched.now + delay)

    def _send_solicited(self, _timer: Timer) -> None:
        if self.net.ipv6.link_local(self.dev) is not None:
            self._send()

    def stop(self) -> None:
        self.timer.del_timer()
        self.solicit_timer.del_timer()
