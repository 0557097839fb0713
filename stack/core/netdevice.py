"""The network device: ``NetDevice``, its ops, registration, notifiers, up/down, MTU, address.

Mirrors Linux's ``include/linux/netdevice.h`` (``struct net_device``, ``net_device_ops``) and
the device-control half of ``net/core/dev.c`` (``register_netdevice``, the netdevice
notifier chain, ``dev_open``/``dev_close``, ``dev_set_mtu``, ``dev_set_mac_address``,
``netdev_update_features``, ``dev_get_stats``).  Carrier handling is in ``link_watch.py``,
promiscuity and the multicast list in ``rxmode.py``, the driver's TX queue hooks
(``netif_*_queue``, BQL) in ``txqueue.py`` (re-exported here).

Contract for a driver:
- ``dev = alloc_etherdev(kernel, priv_factory)``; ``dev.priv`` is ``priv_factory(dev)`` (the
  adapter).  Set ``netdev_ops`` (a :class:`NetDeviceOps` subclass) and ``ethtool_ops``,
  ``dev_addr`` via ``eth_hw_addr_set``, ``features``/``hw_features``, ``min_mtu``/``max_mtu``,
  ``watchdog_timeo``, ``parent`` (the PCI device, for messages), then ``register_netdev(dev)``
  (names it ``eth0``, ``eth1``, ... in order: the first free number).
- ``ndo_*`` methods take the device (``ndo_start_xmit`` takes ``(skb, dev)``, as in Linux) and
  return 0 or a negative errno; a method left at None is "not supported".
- The core functions here also return 0 or a negative errno, as in-kernel Linux does.
- ``netif_stop_queue``/``netif_wake_queue`` gate ``ndo_start_xmit``; waking schedules NET_TX.
- ``dev.operstate`` and IFF_RUNNING / IFF_LOWER_UP have one setter, :func:`rfc2863_policy`.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stack.core.dql import Dql
from stack.core.etherdevice import (
    ARPHRD_ETHER,
    BROADCAST_ADDR,
    ETH_ALEN,
    ETH_DATA_LEN,
    ETH_HLEN,
    ETH_MIN_MTU,
    NET_ADDR_PERM,
    NET_ADDR_SET,
)
from stack.core.ethtool import EthtoolOps, netdev_drivername
from stack.core.features import (
    NETIF_F_ALL_TSO,
    NETIF_F_CSUM_MASK,
    NETIF_F_SG,
    NETIF_F_SOFT_FEATURES,
)
from stack.core.napi import netif_napi_del
from stack.core.qdisc import (
    PfifoFast,
    dev_activate,
    dev_deactivate,
    dev_watchdog,
)
from stack.core.timer import Timer
from stack.core.txqueue import (  # noqa: F401 - re-exported: the driver API
    BQL_ATTRS,
    bql_show,
    bql_store,
    netdev_completed_queue,
    netdev_get_tx_queue,
    netdev_reset_queue,
    netdev_sent_queue,
    netdev_tx_completed_queue,
    netdev_tx_reset_queue,
    netdev_tx_sent_queue,
    netif_queue_stopped,
    netif_start_queue,
    netif_stop_queue,
    netif_trans_update,
    netif_tx_disable,
    netif_tx_start_all_queues,
    netif_tx_stop_all_queues,
    netif_tx_wake_all_queues,
    netif_wake_queue,
    netif_xmit_stopped,
)

if TYPE_CHECKING:
    from stack.core.kernel import Kernel
    from stack.core.napi import NapiStruct
    from stack.core.skbuff import SkBuff

# dev->flags (include/uapi/linux/if.h)
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_DEBUG = 0x4
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10
IFF_RUNNING = 0x40
IFF_NOARP = 0x80
IFF_PROMISC = 0x100
IFF_ALLMULTI = 0x200
IFF_MULTICAST = 0x1000
IFF_LOWER_UP = 0x10000
IFF_DORMANT = 0x20000

# RFC 2863 operational states (IF_OPER_*)
IF_OPER_UNKNOWN = 0
IF_OPER_NOTPRESENT = 1
IF_OPER_DOWN = 2
IF_OPER_LOWERLAYERDOWN = 3
IF_OPER_TESTING = 4
IF_OPER_DORMANT = 5
IF_OPER_UP = 6
OPERSTATE_NAMES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")

# dev->reg_state
NETREG_UNINITIALIZED = 0
NETREG_REGISTERED = 1
NETREG_UNREGISTERED = 3

# netdevice notifier events (include/linux/netdevice.h)
NETDEV_UP = 1
NETDEV_DOWN = 2
NETDEV_CHANGE = 4
NETDEV_REGISTER = 5
NETDEV_UNREGISTER = 6
NETDEV_CHANGEMTU = 7
NETDEV_CHANGEADDR = 8
NETDEV_GOING_DOWN = 10
NETDEV_FEAT_CHANGE = 12

WATCHDOG_TIMEO_DEFAULT = 5_000_000_000  # 5 s, in ns

_STATS_FIELDS = (
    "rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors",
    "rx_dropped", "tx_dropped", "multicast", "collisions", "rx_length_errors",
    "rx_over_errors", "rx_crc_errors", "rx_frame_errors", "rx_fifo_errors",
    "rx_missed_errors", "tx_aborted_errors", "tx_carrier_errors", "tx_fifo_errors",
    "tx_heartbeat_errors", "tx_window_errors", "rx_compressed", "tx_compressed",
    "rx_nohandler",
)  # fmt: skip


class RtnlLinkStats64:
    """Interface counters with Linux's ``rtnl_link_stats64`` names, all starting at 0."""

    __slots__ = _STATS_FIELDS

    def __init__(self) -> None:
        for name in _STATS_FIELDS:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _STATS_FIELDS}

    def copy(self) -> RtnlLinkStats64:
        new = RtnlLinkStats64()
        for name in _STATS_FIELDS:
            setattr(new, name, getattr(self, name))
        return new

    def __repr__(self) -> str:
        nonzero = {k: v for k, v in self.as_dict().items() if v}
        return f"<RtnlLinkStats64 {nonzero}>"


class NetDeviceOps:
    """The driver's device callbacks (``struct net_device_ops``); None = not supported."""

    ndo_init: Callable[[NetDevice], int] | None = None
    ndo_open: Callable[[NetDevice], int] | None = None
    ndo_stop: Callable[[NetDevice], int] | None = None
    ndo_start_xmit: Callable[[SkBuff, NetDevice], int] | None = None
    ndo_set_rx_mode: Callable[[NetDevice], None] | None = None
    ndo_set_mac_address: Callable[[NetDevice, bytes], int] | None = None
    ndo_validate_addr: Callable[[NetDevice], int] | None = None  # Ethernet: eth_validate_addr
    ndo_change_mtu: Callable[[NetDevice, int], int] | None = None
    ndo_tx_timeout: Callable[[NetDevice, int], None] | None = None
    ndo_get_stats64: Callable[[NetDevice, RtnlLinkStats64], None] | None = None
    ndo_vlan_rx_add_vid: Callable[[NetDevice, int, int], int] | None = None
    ndo_vlan_rx_kill_vid: Callable[[NetDevice, int, int], int] | None = None
    ndo_fix_features: Callable[[NetDevice, int], int] | None = None
    ndo_set_features: Callable[[NetDevice, int], int] | None = None
    # Per-skb limits of the hardware (a TSO minimum MSS): the features this skb may use.
    ndo_features_check: Callable[[SkBuff, NetDevice, int], int] | None = None


class NetdevQueue:
    """One TX queue's state (``struct netdev_queue``): stopped by the driver (``stopped``,
    __QUEUE_STATE_DRV_XOFF) or by Byte Queue Limits (``stack_xoff``,
    __QUEUE_STATE_STACK_XOFF), its ``dql``, trans_start."""

    __slots__ = ("dev", "index", "stopped", "stack_xoff", "dql", "trans_start",
                 "trans_timeout")

    def __init__(self, dev: NetDevice, index: int) -> None:
        self.dev = dev
        self.index = index
        self.stopped = False  # __QUEUE_STATE_DRV_XOFF
        self.stack_xoff = False  # __QUEUE_STATE_STACK_XOFF (BQL)
        sched = dev.kernel.sched
        self.dql = Dql(lambda: sched.now)  # netdev_queue_init: dql_init(&q->dql, HZ)
        self.trans_start = 0  # last time the driver accepted a packet (ns)
        self.trans_timeout = 0  # watchdog expiries


class NetDevice:
    """One network interface (Linux's ``struct net_device``)."""

    def __init__(self, kernel: Kernel, name: str = "eth%d") -> None:
        self.kernel = kernel
        self.name = name
        self.ifindex = 0
        self.reg_state = NETREG_UNINITIALIZED
        self.type = ARPHRD_ETHER
        self.addr_len = ETH_ALEN
        self.dev_addr = bytes(ETH_ALEN)
        self.perm_addr = bytes(ETH_ALEN)
        self.addr_assign_type = NET_ADDR_PERM
        self.broadcast = BROADCAST_ADDR
        self.hard_header_len = ETH_HLEN
        self.min_header_len = ETH_HLEN
        self.needed_headroom = 0
        self.mtu = ETH_DATA_LEN
        self.min_mtu = ETH_MIN_MTU
        self.max_mtu = ETH_DATA_LEN
        self.flags = 0
        self.gflags = 0  # IFF_PROMISC/IFF_ALLMULTI asked for by the user (dev_change_flags)
        self.promiscuity = 0
        self.allmulti = 0
        self.features = 0
        self.hw_features = 0  # user-changeable
        self.wanted_features = 0
        self.vlan_features = 0
        self.stats = RtnlLinkStats64()
        self.netdev_ops: NetDeviceOps = NetDeviceOps()
        self.ethtool_ops: EthtoolOps = EthtoolOps()
        self.priv: Any = None
        self.parent: Any = None  # SET_NETDEV_DEV: the bus device (its ``name`` is printed)
        self.driver_name = ""
        self.irq = 0
        self.running = False  # __LINK_STATE_START: between dev_open and dev_close
        self.present = True  # __LINK_STATE_PRESENT
        self._carrier = True  # not __LINK_STATE_NOCARRIER; Linux starts with carrier on
        self.carrier_up_count = 0
        self.carrier_down_count = 0
        self.operstate = IF_OPER_UNKNOWN
        self.tx_queue_len = 1000
        self.num_tx_queues = 1
        self._tx = [NetdevQueue(self, 0)]
        self.qdisc: PfifoFast | None = None
        self.watchdog_timeo = WATCHDOG_TIMEO_DEFAULT
        self.watchdog_timer = Timer(kernel, lambda _t: dev_watchdog(self), "dev_watchdog")
        self.mc: dict[bytes, int] = {}  # multicast list: address -> users, in order added
        self.npinfo: Any = None  # netpoll's per-device state (stack/core/netpoll.py)
        self.vlan_vids: dict[int, int] = {}  # VID -> users (vlan_vid_add)
        self.napi_list: list[NapiStruct] = []
        self.ip_ptr: Any = None  # per-protocol state hung here by the stack (in_device)
        self.ip6_ptr: Any = None

    def carrier_ok(self) -> bool:
        return self._carrier

    @property
    def trans_start(self) -> int:
        return self._tx[0].trans_start

    @property
    def operstate_name(self) -> str:
        return OPERSTATE_NAMES[self.operstate]

    def __repr__(self) -> str:
        return (f"<NetDevice {self.name} ifindex={self.ifindex} flags={self.flags:#x} "
                f"{self.operstate_name}>")


# -- allocation -------------------------------------------------------------------------------
def ether_setup(dev: NetDevice) -> None:
    """Ethernet defaults (Linux's ether_setup)."""
    dev.type = ARPHRD_ETHER
    dev.hard_header_len = dev.min_header_len = ETH_HLEN
    dev.mtu = dev.max_mtu = ETH_DATA_LEN
    dev.min_mtu = ETH_MIN_MTU
    dev.addr_len = ETH_ALEN
    dev.tx_queue_len = 1000
    dev.flags = IFF_BROADCAST | IFF_MULTICAST
    dev.broadcast = BROADCAST_ADDR


def alloc_netdev(kernel: Kernel, name: str, setup: Callable[[NetDevice], None],
                 priv_factory: Callable[[NetDevice], Any] | None = None) -> NetDevice:
    dev = NetDevice(kernel, name)
    setup(dev)
    if priv_factory is not None:
        dev.priv = priv_factory(dev)
    return dev


def alloc_etherdev(kernel: Kernel, priv_factory: Callable[[NetDevice], Any] | None = None
                   ) -> NetDevice:
    """A new Ethernet net_device named ``eth%d`` until registered; ``priv`` from the factory."""
    return alloc_netdev(kernel, "eth%d", ether_setup, priv_factory)


def netdev_priv(dev: NetDevice) -> Any:
    return dev.priv


def free_netdev(dev: NetDevice) -> None:
    if dev.reg_state == NETREG_REGISTERED:
        raise RuntimeError(f"free_netdev({dev.name}) while registered")
    dev.priv = None


# -- messages and notifiers -------------------------------------------------------------------
def netdev_printk(level: str, dev: NetDevice, msg: str) -> None:
    """``ixgb 0000:00:03.0 eth0: msg`` (driver and bus device when known)."""
    parent = getattr(dev.parent, "name", "") if dev.parent is not None else ""
    driver = netdev_drivername(dev) if parent else ""
    prefix = f"{driver} {parent} " if parent else ""
    dev.kernel.log(level, f"{prefix}{dev.name}: {msg}")


def netdev_err(dev: NetDevice, msg: str) -> None:
    netdev_printk("err", dev, msg)


def netdev_warn(dev: NetDevice, msg: str) -> None:
    netdev_printk("warning", dev, msg)


def netdev_info(dev: NetDevice, msg: str) -> None:
    netdev_printk("info", dev, msg)


def netdev_dbg(dev: NetDevice, msg: str) -> None:
    netdev_printk("debug", dev, msg)


def register_netdevice_notifier(kernel: Kernel, fn: Callable[[int, NetDevice], None]) -> None:
    """``fn(event, dev)`` on NETDEV_UP/DOWN/CHANGE/REGISTER/...; replays REGISTER and UP."""
    kernel.netdev_notifiers.append(fn)
    for dev in kernel.netdevs.values():
        fn(NETDEV_REGISTER, dev)
        if dev.flags & IFF_UP:
            fn(NETDEV_UP, dev)


def unregister_netdevice_notifier(kernel: Kernel, fn: Callable[[int, NetDevice], None]) -> None:
    kernel.netdev_notifiers.remove(fn)


def call_netdevice_notifiers(event: int, dev: NetDevice) -> None:
    for fn in list(dev.kernel.netdev_notifiers):
        fn(event, dev)


# -- registration -----------------------------------------------------------------------------
def _alloc_name(kernel: Kernel, pattern: str) -> str:
    used = set(kernel.netdevs)
    i = 0
    while pattern.replace("%d", str(i)) in used:
        i += 1
    return pattern.replace("%d", str(i))


def register_netdev(dev: NetDevice) -> int:
    """Make the device visible: name (first free ``ethN``), ifindex, qdisc, features."""
    kernel = dev.kernel
    if dev.reg_state != NETREG_UNINITIALIZED:
        raise RuntimeError(f"register_netdev({dev.name}): already registered once")
    if "%d" in dev.name:
        dev.name = _alloc_name(kernel, dev.name)
    elif dev.name in kernel.netdevs:
        return -errno.EEXIST
    if dev.netdev_ops.ndo_init is not None:
        ret = dev.netdev_ops.ndo_init(dev)
        if ret:
            return ret
    dev.ifindex = kernel.ifindex_next
    kernel.ifindex_next += 1
    dev.watchdog_timer.name = f"{dev.name} dev_watchdog"
    for i, napi in enumerate(dev.napi_list):
        if napi.name.startswith("eth%d"):
            napi.name = f"{dev.name} napi{i}"
    if dev.perm_addr == bytes(ETH_ALEN):
        dev.perm_addr = dev.dev_addr
    dev.hw_features |= NETIF_F_SOFT_FEATURES
    dev.features |= NETIF_F_SOFT_FEATURES
    dev.wanted_features = dev.features & dev.hw_features
    dev.qdisc = PfifoFast(dev)
    kernel.netdevs[dev.name] = dev
    dev.reg_state = NETREG_REGISTERED
    netdev_update_features(dev)
    rfc2863_policy(dev)
    call_netdevice_notifiers(NETDEV_REGISTER, dev)
    return 0


def unregister_netdev(dev: NetDevice) -> None:
    """Take the device away: close it, drop its queued packets, NAPI and timers."""
    kernel = dev.kernel
    if dev.reg_state != NETREG_REGISTERED:
        return
    dev_close(dev)
    call_netdevice_notifiers(NETDEV_UNREGISTER, dev)
    for napi in list(dev.napi_list):
        netif_napi_del(napi)
    dev_deactivate(dev)
    kernel.linkwatch_events.pop(dev, None)
    del kernel.netdevs[dev.name]
    dev.reg_state = NETREG_UNREGISTERED


# -- up and down ------------------------------------------------------------------------------
def dev_open(dev: NetDevice) -> int:
    """``ip link set up``: ndo_open, IFF_UP, rx mode, qdisc; 0 or a negative errno."""
    if dev.flags & IFF_UP:
        return 0
    if dev.reg_state != NETREG_REGISTERED or not dev.present:
        return -errno.ENODEV
    dev.running = True
    ops = dev.netdev_ops
    ret = ops.ndo_validate_addr(dev) if ops.ndo_validate_addr is not None else 0
    if not ret and ops.ndo_open is not None:
        ret = ops.ndo_open(dev)
    if ret:
        dev.running = False
        return ret
    dev.flags |= IFF_UP
    dev_set_rx_mode(dev)
    dev_activate(dev)
    rfc2863_policy(dev)
    call_netdevice_notifiers(NETDEV_UP, dev)
    return 0


def dev_close(dev: NetDevice) -> int:
    """``ip link set down``: qdisc flushed, ndo_stop, IFF_UP cleared."""
    if not dev.flags & IFF_UP:
        return 0
    call_netdevice_notifiers(NETDEV_GOING_DOWN, dev)
    dev.running = False
    dev_deactivate(dev)
    if dev.netdev_ops.ndo_stop is not None:
        dev.netdev_ops.ndo_stop(dev)
    dev.flags &= ~IFF_UP
    rfc2863_policy(dev)
    call_netdevice_notifiers(NETDEV_DOWN, dev)
    return 0


# -- receive filters --------------------------------------------------------------------------
def dev_set_rx_mode(dev: NetDevice) -> None:
    """Tell the driver the filters changed (only while up and present)."""
    if dev.flags & IFF_UP and dev.present and dev.netdev_ops.ndo_set_rx_mode is not None:
        dev.netdev_ops.ndo_set_rx_mode(dev)


# -- MTU, address, features -------------------------------------------------------------------
def dev_set_mtu(dev: NetDevice, new_mtu: int) -> int:
    """Change the MTU within [min_mtu, max_mtu]; the driver's ndo_change_mtu sets dev.mtu."""
    if new_mtu == dev.mtu:
        return 0
    if new_mtu < dev.min_mtu:
        netdev_err(dev, f"Invalid MTU {new_mtu} requested, hw min {dev.min_mtu}")
        return -errno.EINVAL
    if dev.max_mtu > 0 and new_mtu > dev.max_mtu:
        netdev_err(dev, f"Invalid MTU {new_mtu} requested, hw max {dev.max_mtu}")
        return -errno.EINVAL
    if not dev.present:
        return -errno.ENODEV
    change = dev.netdev_ops.ndo_change_mtu
    if change is not None:
        ret = change(dev, new_mtu)
        if ret:
            return ret
    else:
        dev.mtu = new_mtu
    call_netdevice_notifiers(NETDEV_CHANGEMTU, dev)
    return 0


def dev_set_mac_address(dev: NetDevice, addr: bytes) -> int:
    """Change the MAC through ndo_set_mac_address (which validates and stores it)."""
    set_mac = dev.netdev_ops.ndo_set_mac_address
    if set_mac is None:
        return -errno.EOPNOTSUPP
    if len(addr) != dev.addr_len:
        return -errno.EINVAL
    if not dev.present:
        return -errno.ENODEV
    ret = set_mac(dev, bytes(addr))
    if ret:
        return ret
    dev.addr_assign_type = NET_ADDR_SET
    call_netdevice_notifiers(NETDEV_CHANGEADDR, dev)
    return 0


def _fix_features(dev: NetDevice, features: int) -> int:
    """The core's own rules (netdev_fix_features): TSO needs SG and a checksum offload."""
    if features & NETIF_F_ALL_TSO and not features & NETIF_F_SG:
        netdev_dbg(dev, "Dropping TSO features since no SG feature.")
        features &= ~NETIF_F_ALL_TSO
    if features & NETIF_F_ALL_TSO and not features & NETIF_F_CSUM_MASK:
        netdev_dbg(dev, "Dropping TSO features since no CSUM feature.")
        features &= ~NETIF_F_ALL_TSO
    return features


def netdev_update_features(dev: NetDevice) -> None:
    """Recompute ``features`` from ``wanted_features`` and apply them through the driver."""
    features = (dev.features & ~dev.hw_features) | dev.wanted_features
    ops = dev.netdev_ops
    if ops.ndo_fix_features is not None:
        features = ops.ndo_fix_features(dev, features)
    features = _fix_features(dev, features)
    if features == dev.features:
        return
    netdev_dbg(dev, f"Features changed: {dev.features:#x} -> {features:#x}")
    ret = ops.ndo_set_features(dev, features) if ops.ndo_set_features is not None else 0
    if ret:
        netdev_err(dev, f"set_features() failed ({ret}); wanted {features:#x}, "
                   f"left {dev.features:#x}")
        return
    dev.features = features
    call_netdevice_notifiers(NETDEV_FEAT_CHANGE, dev)


# -- state ------------------------------------------------------------------------------------
def netif_carrier_ok(dev: NetDevice) -> bool:
    return dev._carrier


def netif_running(dev: NetDevice) -> bool:
    return dev.running


def netif_device_present(dev: NetDevice) -> bool:
    return dev.present


def rfc2863_policy(dev: NetDevice) -> None:
    """The one setter of ``operstate`` and of IFF_RUNNING / IFF_LOWER_UP (RFC 2863)."""
    if not dev.running:
        new = IF_OPER_DOWN
    elif not dev.present:
        new = IF_OPER_NOTPRESENT
    elif not dev._carrier:
        new = IF_OPER_DOWN
    else:
        new = IF_OPER_UP
    flags = dev.flags & ~(IFF_RUNNING | IFF_LOWER_UP)
    if new == IF_OPER_UP:
        flags |= IFF_RUNNING
    if dev.running and dev._carrier:
        flags |= IFF_LOWER_UP
    dev.flags = flags
    old = dev.operstate
    if new != old:
        dev.operstate = new
        if dev.kernel.tracers:
            dev.kernel.trace("operstate", dev=dev.name, old=OPERSTATE_NAMES[old],
                             new=OPERSTATE_NAMES[new])


def dev_get_stats(dev: NetDevice) -> RtnlLinkStats64:
    """A snapshot of the counters; a driver's ndo_get_stats64 updates its fields of a copy."""
    stats = dev.stats.copy()
    if dev.netdev_ops.ndo_get_stats64 is not None:
        dev.netdev_ops.ndo_get_stats64(dev, stats)
    return stats
