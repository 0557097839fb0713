"""Per-host tunables with Linux's names and defaults (``/proc/sys/net/...``).

Mirrors the ``ctl_table``s of ``net/core/sysctl_net_core.c``, ``net/ipv4/sysctl_net_ipv4.c``
and ``net/core/neighbour.c``.  Contract: each knob is a typed field, read live by the code that
implements it (so a change takes effect on the next packet, as on Linux); a knob for a feature
the stack does not model is not declared at all, so setting it fails instead of being silently
ignored.  Fields are set as attributes (``net.sysctl.tcp_sack = False``; a misspelt name raises
``AttributeError``: the class has slots) or by their ``/proc/sys`` path with ``write`` (an
unknown path raises ``FileNotFoundError``, as opening a missing ``/proc/sys`` entry does).
``tests/test_sysctl.py`` proves every field has an effect.

Units: a field whose Linux unit is not obvious carries it in its name (``_s``, ``_ms``);
``PATHS`` maps each field to its Linux path.  ``write``/``read`` speak Linux's unit at that
path, which is the field's except for ``delay_first_probe_time`` (seconds on Linux, the field
keeps milliseconds; ``_SCALE`` converts).

A host's whole ``/proc/sys/net`` is :func:`sysctl_read` / :func:`sysctl_write` /
:func:`sysctl_all` (``sysctl -a``): the namespace's fields above plus the ``net.core`` knobs
Linux keeps per kernel, not per namespace (``KERNEL_PATHS``: attributes of
``stack.core.kernel.Kernel``).  Values are checked as ``proc_dointvec`` checks them: an int
(a bool counts) for a number, whitespace-separated ints for a vector (``tcp_rmem``), a name
for ``tcp_congestion_control``; anything else is ``EINVAL``.

Loss detection is Linux 6.x's (``stack/tcp/rack.py``, ``tlp.py``): ``tcp_recovery`` is a
bit mask (0x1 RACK loss detection, 0x2 a static reordering window, 0x4 no DupThresh shortcut);
``tcp_early_retrans`` 3 or 4 enables tail loss probes (0..4 accepted, as Linux's
``proc_dointvec_minmax``); ``tcp_frto`` non-zero enables F-RTO (RFC 5682).

Knobs deliberately absent (their features are not modelled): ``tcp_mtu_probing`` and
``tcp_base_mss``, ``tcp_min_rtt_wlen`` (``min_rtt`` is the all-time minimum), ``tcp_retries1``
(no route to re-validate), ``tcp_fastopen_key`` and ``tcp_fastopen_blackhole_timeout_sec``
(Fast Open's key is drawn from the seeded RNG; no blackhole detection), ``ipfrag_low_thresh``
(obsolete since Linux 4.17), ``neigh.default.gc_stale_time`` (no neighbour garbage
collection).  The NAPI
budget knobs of ``net.core`` (``netdev_budget``, ``netdev_budget_usecs``, ``dev_weight``) are
the kernel's (``stack.core.kernel.Kernel``), where ``net_rx_action`` reads them.

IPv6: ``net.ipv6.ip6frag_time``, ``ip6frag_high_thresh``, ``icmp.ratelimit`` are fields;
``net.ipv6.conf.{all,default,DEV}.{forwarding,hop_limit,mtu,accept_ra,autoconf,
dad_transmits,disable_ipv6}`` are :class:`Ipv6Devconf` fields, a device's own copy registered
in ``ipv6_conf_dev`` while IPv6 runs on it (``stack/ipv6/addrconf.py``).  Not declared (not
modelled): ``accept_redirects``, ``use_tempaddr`` (no RFC 8981 temporary addresses),
``router_solicitations``/``rtr_solicit_interval`` (fixed at Linux's defaults, 3 and 4 s),
``accept_dad`` (DAD is always on), ``ip6frag_low_thresh``, ``icmp.ratemask``.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from stack.core.qdisc import QDISC_OPS


@dataclass(slots=True)
class Ipv6Devconf:
    """``net.ipv6.conf.{all,default,DEV}.*`` (Linux's ``struct ipv6_devconf``), one per device
    plus ``all`` and ``default``; a device's copy is made from ``default`` when IPv6 comes up
    on it (``ipv6_add_dev``).  Writing ``all.forwarding`` or ``all.disable_ipv6`` sets every
    device and ``default`` too (``addrconf_fixup_forwarding``, ``addrconf_disable_ipv6``);
    the other ``all`` knobs are stored and read only where a device has no copy, as Linux
    reads them."""

    forwarding: int = 0
    hop_limit: int = 64
    mtu: int = 1280  # IPV6_MIN_MTU; a device's copy starts at the device's MTU
    accept_ra: int = 1
    autoconf: int = 1
    dad_transmits: int = 1
    disable_ipv6: int = 0


DEVCONF_KNOBS = tuple(f.name for f in fields(Ipv6Devconf))
DEVCONF_PROPAGATE = ("forwarding", "disable_ipv6")  # an "all" write reaches every device


@dataclass(slots=True)
class Sysctl:
    # net.core
    rmem_default: int = 212992
    wmem_default: int = 212992
    rmem_max: int = 212992
    wmem_max: int = 212992
    somaxconn: int = 4096
    # net.ipv4
    ip_forward: bool = False
    ip_default_ttl: int = 64
    ip_local_port_range: tuple[int, int] = (32768, 60999)
    ipfrag_time_s: int = 30
    ipfrag_high_thresh: int = 4 << 20
    icmp_ratelimit_ms: int = 1000
    icmp_ratemask: int = 0x1818
    icmp_msgs_per_sec: int = 1000
    icmp_msgs_burst: int = 50
    icmp_echo_ignore_all: bool = False
    icmp_echo_ignore_broadcasts: bool = True
    ping_group_range: tuple[int, int] = (1, 0)  # gids allowed ping sockets: none (stack/ping.py)
    # net.ipv4.conf.all
    arp_accept: int = 0
    # neighbour (net.ipv4.neigh.default)
    neigh_base_reachable_ms: int = 30_000
    neigh_delay_first_probe_ms: int = 5_000
    neigh_retrans_ms: int = 1_000
    neigh_ucast_solicit: int = 3
    neigh_mcast_solicit: int = 3
    neigh_unres_qlen: int = 101
    # net.ipv4.tcp_*
    tcp_syn_retries: int = 6
    tcp_synack_retries: int = 5
    tcp_retries2: int = 15
    tcp_orphan_retries: int = 0
    tcp_fin_timeout_s: int = 60
    tcp_keepalive_time_s: int = 7200
    tcp_keepalive_intvl_s: int = 75
    tcp_keepalive_probes: int = 9
    tcp_sack: bool = True
    tcp_dsack: bool = True
    tcp_timestamps: bool = True
    tcp_window_scaling: bool = True
    tcp_rmem: tuple[int, int, int] = (4096, 131072, 6291456)
    tcp_wmem: tuple[int, int, int] = (4096, 16384, 4194304)
    tcp_moderate_rcvbuf: bool = True
    tcp_congestion_control: str = "cubic"
    tcp_slow_start_after_idle: bool = True
    tcp_tso_win_divisor: int = 3
    tcp_limit_output_bytes: int = 4 << 20  # TSQ's cap (Linux 6.6+: 4 MiB; 1 MiB before)
    tcp_autocorking: bool = True
    tcp_pacing_ss_ratio: int = 200  # % of cwnd/srtt that sk_pacing_rate is in slow start
    tcp_pacing_ca_ratio: int = 120  # ... and in congestion avoidance
    tcp_reordering: int = 3
    tcp_max_reordering: int = 300
    tcp_recovery: int = 1  # TCP_RACK_LOSS_DETECTION
    tcp_early_retrans: int = 3
    tcp_frto: int = 2
    tcp_tw_reuse: int = 2
    tcp_abort_on_overflow: bool = False
    tcp_syncookies: int = 1  # 0 never, 1 when the SYN queue is full, 2 always
    tcp_max_syn_backlog: int = 2048  # without cookies: the SYN queue's last quarter is refused
    tcp_fastopen: int = 1  # TFO_CLIENT_ENABLE (stack/tcp/fastopen.py has the bits)
    tcp_challenge_ack_limit: int = 0x7FFFFFFF
    tcp_stdurg: bool = False  # urgent pointer: True reads it as RFC 1122 (at the byte)
    tcp_ecn: int = 2  # 0 off, 1 ask for ECN and accept it, 2 accept it when asked
    tcp_ecn_fallback: bool = True  # a retransmitted SYN stops asking for ECN
    tcp_notsent_lowat: int = 0xFFFFFFFF
    ip_nonlocal_bind: bool = False
    # net.ipv6
    ip6frag_time_s: int = 60
    ip6frag_high_thresh: int = 4 << 20
    icmpv6_ratelimit_ms: int = 1000
    # net.ipv6.conf.{all,default,DEV}: containers of Ipv6Devconf, not knobs themselves
    ipv6_conf_all: Ipv6Devconf = field(default_factory=Ipv6Devconf)
    ipv6_conf_default: Ipv6Devconf = field(default_factory=Ipv6Devconf)
    ipv6_conf_dev: dict[str, Ipv6Devconf] = field(default_factory=dict)

    def devconf(self, path: str) -> tuple[Ipv6Devconf, str, str] | None:
        """The ``Ipv6Devconf`` a ``net.ipv6.conf.WHICH.KNOB`` path names, WHICH and KNOB."""
        key = _key(path)
        if not key.startswith(_CONF6):
            return None
        which, _, knob = key[len(_CONF6):].rpartition(".")
        conf = {"all": self.ipv6_conf_all, "default": self.ipv6_conf_default}.get(which) \
            or self.ipv6_conf_dev.get(which)
        if conf is None or knob not in DEVCONF_KNOBS:
            raise _enoent(key)
        return conf, which, knob

    def write(self, path: str, value: Any) -> None:
        """``echo value > /proc/sys/<path>``: ``path`` in dotted or slashed form, the value in
        Linux's unit for that path."""
        conf6 = self.devconf(path)
        if conf6 is not None:
            conf, which, knob = conf6
            number = _coerce(_key(path), 0, value)
            setattr(conf, knob, number)
            if which == "all" and knob in DEVCONF_PROPAGATE:
                for other in (self.ipv6_conf_default, *self.ipv6_conf_dev.values()):
                    setattr(other, knob, number)
            return
        name = _field(path)
        coerced = _coerce(name, getattr(self, name), value)
        if name in _MINMAX:
            low, high = _MINMAX[name]
            if not low <= _coerce(name, 0, value) <= high:  # the number, before any bool()
                raise _einval(path, value)
        if name == "ping_group_range":
            coerced = _ping_group_range(name, coerced)
        setattr(self, name, coerced * _SCALE[name] if name in _SCALE else coerced)

    def read(self, path: str) -> Any:
        """``cat /proc/sys/<path>``, in Linux's unit for that path."""
        conf6 = self.devconf(path)
        if conf6 is not None:
            conf, _which, knob = conf6
            return getattr(conf, knob)
        name = _field(path)
        value = getattr(self, name)
        return value // _SCALE[name] if name in _SCALE else value


_SPECIAL = {
    "rmem_default": "net.core.rmem_default",
    "wmem_default": "net.core.wmem_default",
    "rmem_max": "net.core.rmem_max",
    "wmem_max": "net.core.wmem_max",
    "somaxconn": "net.core.somaxconn",
    "ipfrag_time_s": "net.ipv4.ipfrag_time",
    "icmp_ratelimit_ms": "net.ipv4.icmp_ratelimit",
    "arp_accept": "net.ipv4.conf.all.arp_accept",
    "neigh_base_reachable_ms": "net.ipv4.neigh.default.base_reachable_time_ms",
    "neigh_delay_first_probe_ms": "net.ipv4.neigh.default.delay_first_probe_time",
    "neigh_retrans_ms": "net.ipv4.neigh.default.retrans_time_ms",
    "neigh_ucast_solicit": "net.ipv4.neigh.default.ucast_solicit",
    "neigh_mcast_solicit": "net.ipv4.neigh.default.mcast_solicit",
    "neigh_unres_qlen": "net.ipv4.neigh.default.unres_qlen",
    "tcp_fin_timeout_s": "net.ipv4.tcp_fin_timeout",
    "tcp_keepalive_time_s": "net.ipv4.tcp_keepalive_time",
    "tcp_keepalive_intvl_s": "net.ipv4.tcp_keepalive_intvl",
    "ip6frag_time_s": "net.ipv6.ip6frag_time",
    "ip6frag_high_thresh": "net.ipv6.ip6frag_high_thresh",
    "icmpv6_ratelimit_ms": "net.ipv6.icmp.ratelimit",
}
_CONTAINERS = ("ipv6_conf_all", "ipv6_conf_default", "ipv6_conf_dev")
_CONF6 = "net.ipv6.conf."

# Linux path of each field.  ``delay_first_probe_time`` is in seconds on Linux; the field keeps
# milliseconds, and ``write`` takes the field's unit.
PATHS: dict[str, str] = {f.name: _SPECIAL.get(f.name, "net.ipv4." + f.name)
                         for f in fields(Sysctl) if f.name not in _CONTAINERS}
_BY_PATH = {path: name for name, path in PATHS.items()}


def _enoent(key: str) -> FileNotFoundError:
    return FileNotFoundError(f"sysctl: cannot stat /proc/sys/{key.replace('.', '/')}: "
                             "No such file or directory")


def _field(path: str) -> str:
    key = _key(path)
    name = _BY_PATH.get(key)
    if name is None:
        raise _enoent(key)
    return name


# proc_dointvec_minmax / proc_dou8vec_minmax bounds (net/ipv4/sysctl_net_ipv4.c): a value
# outside is EINVAL.  tcp_ecn stops at 2: Accurate ECN (3..5 since Linux 6.18) is not modelled.
_MINMAX = {"tcp_early_retrans": (0, 4), "tcp_ecn": (0, 2), "tcp_ecn_fallback": (0, 1)}

# Fields kept in a finer unit than Linux's at their path: Linux's unit x factor = the field's.
_SCALE = {"neigh_delay_first_probe_ms": 1000}

# The net.core knobs of the host's kernel (Linux: global, not per namespace): path ->
# (Kernel attribute, factor from Linux's unit to the attribute's).
# A factor of 0 marks a name (``default_qdisc``: a registered qdisc kind, else ENOENT as
# Linux's qdisc_set_default).
KERNEL_PATHS: dict[str, tuple[str, int]] = {
    "net.core.netdev_budget": ("netdev_budget", 1),
    "net.core.netdev_budget_usecs": ("netdev_budget_ns", 1000),
    "net.core.netdev_max_backlog": ("netdev_max_backlog", 1),
    "net.core.dev_weight": ("dev_weight", 1),
    "net.core.default_qdisc": ("default_qdisc", 0),
}


def _einval(key: str, value: Any) -> OSError:
    return OSError(errno.EINVAL, f"sysctl: setting key {key!r}: Invalid argument ({value!r})")


def _coerce(key: str, current: Any, value: Any) -> Any:
    """``value`` checked against the type of what it replaces (proc_dointvec's parsing)."""
    if isinstance(current, str):
        if not isinstance(value, str) or not value.strip():
            raise _einval(key, value)
        return value.strip()
    if isinstance(current, tuple):
        parts = value.split() if isinstance(value, str) else value
        try:
            ints = tuple(int(v) for v in parts)
        except (TypeError, ValueError):
            raise _einval(key, value) from None
        if len(ints) != len(current):
            raise _einval(key, value)
        return ints
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _einval(key, value) from None
    if not isinstance(value, int):  # bool is an int, as "1"/"0" are on Linux
        raise _einval(key, value)
    return bool(value) if isinstance(current, bool) else int(value)


GID_MAX = 0xFFFFFFFE  # (gid_t)-1 is not a valid group


def _ping_group_range(key: str, value: tuple[int, int]) -> tuple[int, int]:
    """ipv4_ping_group_range: each gid valid (EINVAL), and low > high means "nobody": 1 0."""
    low, high = value
    if not (0 <= low <= GID_MAX and 0 <= high <= GID_MAX):
        raise _einval(key, value)
    return (1, 0) if high < low else (low, high)


def _key(path: str) -> str:
    return path.removeprefix("/proc/sys/").replace("/", ".")


def _namespace(sysctl: Sysctl | None, key: str) -> Sysctl:
    if sysctl is None:  # a host without a stack has only the kernel's knobs
        raise FileNotFoundError(f"sysctl: cannot stat /proc/sys/{key.replace('.', '/')}: "
                                "No such file or directory (no network stack)")
    return sysctl


# Read-only keys (mode 0444 in Linux) whose value a protocol computes, registered by it at
# import: ``net.ipv4.tcp_available_congestion_control`` (stack/tcp/cong.py).  Writing one is
# EACCES, as proc_sys_permission refuses even root.
READ_ONLY: dict[str, Callable[[], Any]] = {}


def sysctl_read(kernel: Any, sysctl: Sysctl | None, path: str) -> Any:
    """``sysctl KEY`` on a host: a namespace field or one of the kernel's ``net.core`` knobs."""
    key = _key(path)
    if key in READ_ONLY:
        _namespace(sysctl, key)
        return READ_ONLY[key]()
    if key in KERNEL_PATHS:
        attr, scale = KERNEL_PATHS[key]
        return getattr(kernel, attr) // scale if scale else getattr(kernel, attr)
    return _namespace(sysctl, key).read(key)


# proc_dointvec_minmax floors (net/core/sysctl_net_core.c): dev_weight >= 1, the budget's time
# window >= 0; netdev_budget and netdev_max_backlog are plain proc_dointvec.
_KERNEL_MIN = {"net.core.dev_weight": 1, "net.core.netdev_budget_usecs": 0}


def sysctl_write(kernel: Any, sysctl: Sysctl | None, path: str, value: Any) -> None:
    """``sysctl -w KEY=VALUE`` on a host."""
    key = _key(path)
    if key in READ_ONLY:
        raise OSError(errno.EACCES, f"sysctl: permission denied on key {key!r}")
    if key in KERNEL_PATHS:
        attr, scale = KERNEL_PATHS[key]
        if not scale:
            name = _coerce(key, "", value)
            if name not in QDISC_OPS:
                raise OSError(errno.ENOENT, f"sysctl: setting key {key!r}: No such file or "
                              f"directory (no qdisc {name!r}; known: {', '.join(QDISC_OPS)})")
            setattr(kernel, attr, name)
            return
        number = _coerce(key, 0, value)
        if number < _KERNEL_MIN.get(key, -(1 << 31)) or number >= 1 << 31:
            raise _einval(key, value)
        setattr(kernel, attr, number * scale)
        return
    _namespace(sysctl, key).write(key, value)


def sysctl_all(kernel: Any, sysctl: Sysctl | None) -> dict[str, Any]:
    """``sysctl -a``, limited to what ixsim models: every key and its value, sorted."""
    table = {key: sysctl_read(kernel, sysctl, key) for key in KERNEL_PATHS} if kernel else {}
    if sysctl is not None:
        table.update((path, sysctl.read(path)) for path in PATHS.values())
        table.update((key, value()) for key, value in READ_ONLY.items())
        confs = {"all": sysctl.ipv6_conf_all, "default": sysctl.ipv6_conf_default,
                 **sysctl.ipv6_conf_dev}
        table.update((f"{_CONF6}{which}.{knob}", getattr(conf, knob))
                     for which, conf in confs.items() for knob in DEVCONF_KNOBS)
    return dict(sorted(table.items()))
