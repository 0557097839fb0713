"""Per-host tunables with Linux's names and defaults (``/proc/sys/net/...``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Sysctl:
    # net.core
    rmem_default: int = 212992
    wmem_default: int = 212992
    rmem_max: int = 212992
    wmem_max: int = 212992
    netdev_budget: int = 300
    # net.ipv4
    ip_forward: bool = False
    ip_default_ttl: int = 64
    ip_local_port_range: tuple[int, int] = (32768, 60999)
    ipfrag_time_s: int = 30
    ipfrag_high_thresh: int = 4 << 20
    ipfrag_low_thresh: int = 3 << 20
    icmp_ratelimit_ms: int = 1000
    icmp_ratemask: int = 0x1818
    icmp_msgs_per_sec: int = 1000
    icmp_msgs_burst: int = 50
    icmp_echo_ignore_broadcasts: bool = True
    # neighbour (net.ipv4.neigh.default)
    neigh_base_reachable_ms: int = 30_000
    neigh_delay_first_probe_ms: int = 5_000
    neigh_retrans_ms: int = 1_000
    neigh_ucast_solicit: int = 3
    neigh_mcast_solicit: int = 3
    neigh_unres_qlen: int = 101
    neigh_gc_stale_ms: int = 60_000
    # net.ipv4.tcp_*
    tcp_syn_retries: int = 6
    tcp_synack_retries: int = 5
    tcp_retries1: int = 3
    tcp_retries2: int = 15
    tcp_fin_timeout_s: int = 60
    tcp_keepalive_time_s: int = 7200
    tcp_keepalive_intvl_s: int = 75
    tcp_keepalive_probes: int = 9
    tcp_max_syn_backlog: int = 4096
    somaxconn: int = 4096
    tcp_sack: bool = True
    tcp_timestamps: bool = True
    tcp_window_scaling: bool = True
    tcp_rmem: tuple[int, int, int] = (4096, 131072, 6291456)
    tcp_wmem: tuple[int, int, int] = (4096, 16384, 4194304)
    tcp_congestion_control: str = "cubic"
    tcp_tw_reuse: int = 2
    tcp_min_rtt_wlen_s: int = 300
    tcp_autocorking: bool = True
    tcp_base_mss: int = 1024
    tcp_mtu_probing: int = 0
    tcp_early_retrans: int = 3
    tcp_recovery: int = 1
    tcp_reordering: int = 3
    tcp_dsack: bool = True
    tcp_abort_on_overflow: bool = False
    extra: dict[str, object] = field(default_factory=dict)
