"""net_device control: registration, up/down, carrier and operstate, MTU, MAC, rx mode,
features, ethtool, statistics, printk and tracepoints."""

from __future__ import annotations

import errno

import pytest
from helpers.dummy import MAC_B, DummyHost, frame

from stack.core import (
    IF_OPER_DOWN,
    IF_OPER_UP,
    IFF_ALLMULTI,
    IFF_LOWER_UP,
    IFF_PROMISC,
    IFF_RUNNING,
    IFF_UP,
    NETDEV_CHANGE,
    NETDEV_CHANGEADDR,
    NETDEV_CHANGEMTU,
    NETDEV_DOWN,
    NETDEV_GOING_DOWN,
    NETDEV_REGISTER,
    NETDEV_UNREGISTER,
    NETDEV_UP,
    NETIF_F_GRO,
    NETIF_F_GSO,
    NETIF_F_HW_CSUM,
    NETIF_F_HW_VLAN_CTAG_FILTER,
    NETIF_F_HW_VLAN_CTAG_RX,
    NETIF_F_HW_VLAN_CTAG_TX,
    NETIF_F_RXCSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    EthtoolRegs,
    EthtoolRingparam,
    NetDeviceOps,
    alloc_etherdev,
    dev_change_flags,
    dev_close,
    dev_get_stats,
    dev_mc_add,
    dev_mc_del,
    dev_open,
    dev_set_allmulti,
    dev_set_mac_address,
    dev_set_mtu,
    dev_set_promiscuity,
    ethtool_get_drvinfo,
    ethtool_get_eeprom,
    ethtool_get_link,
    ethtool_get_regs,
    ethtool_get_ringparam,
    ethtool_get_stats,
    ethtool_set_features,
    ethtool_set_ringparam,
    netdev_features_names,
    netdev_info,
    netif_carrier_off,
    netif_carrier_ok,
    netif_carrier_on,
    netif_device_attach,
    netif_device_detach,
    netif_queue_stopped,
    netif_stop_queue,
    register_netdev,
    register_netdevice_notifier,
    unregister_netdev,
    vlan_vid_add,
    vlan_vid_del,
)


@pytest.fixture
def host():
    h = DummyHost()
    yield h
    assert h.kernel.skb_live == 0


def test_register_names_in_order_and_reuses_free_numbers(host):
    k = host.kernel
    second, third = alloc_etherdev(k), alloc_etherdev(k)
    assert register_netdev(second) == 0
    assert [d.name for d in k.netdevs.values()] == ["eth0", "eth1"]
    assert (host.dev.ifindex, second.ifindex) == (1, 2)
    unregister_netdev(host.dev)
    assert register_netdev(third) == 0
    assert third.name == "eth0" and third.ifindex == 3
    assert k.dev_get_by_name("eth1") is second and k.dev_get_by_index(3) is third
    assert host.dev.perm_addr == host.dev.dev_addr


def test_open_close_flags_operstate_and_notifiers(host):
    events = []
    register_netdevice_notifier(host.kernel, lambda ev, dev: events.append((ev, dev.name)))
    assert events == [(NETDEV_REGISTER, "eth0")]  # replayed for existing devices
    assert host.dev.operstate == IF_OPER_DOWN and not host.dev.flags & IFF_UP
    assert dev_open(host.dev) == 0
    assert host.ops.calls == ["open"] and host.dev.running
    up = IFF_UP | IFF_RUNNING | IFF_LOWER_UP
    assert host.dev.flags & up == up
    assert host.dev.operstate == IF_OPER_UP and host.dev.qdisc.active
    assert dev_open(host.dev) == 0 and host.ops.calls == ["open"]  # already up
    assert dev_close(host.dev) == 0
    assert host.ops.calls == ["open", "stop"]
    assert not host.dev.flags & (IFF_UP | IFF_RUNNING) and host.dev.operstate == IF_OPER_DOWN
    unregister_netdev(host.dev)
    assert [e for e, _ in events] == [NETDEV_REGISTER, NETDEV_UP, NETDEV_GOING_DOWN,
                                      NETDEV_DOWN, NETDEV_UNREGISTER]
    assert host.kernel.netdevs == {}


def test_failed_open_leaves_the_device_down(host):
    host.ops.open_ret = -errno.EIO
    assert dev_open(host.dev) == -errno.EIO
    assert not host.dev.flags & IFF_UP and not host.dev.running


def test_carrier_changes_go_through_link_watch(host):
    events = []
    register_netdevice_notifier(host.kernel, lambda ev, dev: events.append(ev))
    host.up()
    events.clear()
    netif_carrier_off(host.dev)
    assert not netif_carrier_ok(host.dev)
    assert host.dev.operstate == IF_OPER_UP  # the link-watch event has not run yet
    assert host.kernel.works() == ["linkwatch_event"]
    host.settle()
    assert host.dev.operstate == IF_OPER_DOWN and not host.dev.flags & IFF_RUNNING
    assert host.dev.flags & IFF_UP and events == [NETDEV_CHANGE]
    assert host.kernel.dmesg[-1].msg == "eth0: link watch: carrier off, operstate DOWN"
    netif_carrier_off(host.dev)  # no change, no event
    assert host.kernel.works() == []
    netif_carrier_on(host.dev)
    host.settle()
    assert host.dev.operstate == IF_OPER_UP and host.dev.flags & IFF_RUNNING
    assert host.kernel.dmesg[-1].msg == "eth0: link watch: carrier on, operstate UP"
    assert (host.dev.carrier_up_count, host.dev.carrier_down_count) == (1, 1)
    assert ethtool_get_link(host.dev)


def test_open_without_carrier_waits_for_it(host):
    netif_carrier_off(host.dev)
    host.up()
    assert host.dev.operstate == IF_OPER_DOWN and not host.dev.qdisc.active
    netif_carrier_on(host.dev)
    host.settle()
    assert host.dev.operstate == IF_OPER_UP and host.dev.qdisc.active


def test_device_detach_and_attach(host):
    host.up()
    netif_device_detach(host.dev)
    assert netif_queue_stopped(host.dev) and dev_set_mtu(host.dev, 1400) == -errno.ENODEV
    netif_device_attach(host.dev)
    assert not netif_queue_stopped(host.dev) and host.dev.operstate == IF_OPER_UP
    host.settle()


def test_mtu_bounds_and_driver_hook(host):
    events = []
    register_netdevice_notifier(host.kernel, lambda ev, dev: events.append(ev))
    host.dev.max_mtu = 9000
    assert dev_set_mtu(host.dev, 67) == -errno.EINVAL
    assert dev_set_mtu(host.dev, 9001) == -errno.EINVAL
    assert "Invalid MTU 9001 requested, hw max 9000" in host.kernel.dmesg[-1].msg
    assert dev_set_mtu(host.dev, 9000) == 0 and host.dev.mtu == 9000
    assert host.ops.calls == ["mtu 9000"] and events[-1] == NETDEV_CHANGEMTU


def test_mac_address(host):
    assert dev_set_mac_address(host.dev, bytes.fromhex("010203040506")) == -errno.EADDRNOTAVAIL
    assert dev_set_mac_address(host.dev, b"\x02\x00") == -errno.EINVAL
    events = []
    register_netdevice_notifier(host.kernel, lambda ev, dev: events.append(ev))
    assert dev_set_mac_address(host.dev, MAC_B) == 0 and host.dev.dev_addr == MAC_B
    assert events[-1] == NETDEV_CHANGEADDR
    host.dev.netdev_ops = NetDeviceOps()
    assert dev_set_mac_address(host.dev, MAC_B) == -errno.EOPNOTSUPP


def test_promiscuity_is_counted_and_logged(host):
    host.up()
    host.ops.rx_modes.clear()
    assert dev_set_promiscuity(host.dev, 1) == 0
    assert dev_set_promiscuity(host.dev, 1) == 0
    assert host.dev.flags & IFF_PROMISC and len(host.ops.rx_modes) == 1
    assert host.kernel.dmesg[-1].msg == "eth0: entered promiscuous mode"
    dev_set_promiscuity(host.dev, -1)
    assert host.dev.flags & IFF_PROMISC
    dev_set_promiscuity(host.dev, -1)
    assert not host.dev.flags & IFF_PROMISC and len(host.ops.rx_modes) == 2
    assert host.kernel.dmesg[-1].msg == "eth0: left promiscuous mode"
    assert dev_set_promiscuity(host.dev, -1) == -errno.EOVERFLOW
    assert dev_set_allmulti(host.dev, 1) == 0 and host.dev.flags & IFF_ALLMULTI


def test_multicast_list(host):
    host.up()
    host.ops.rx_modes.clear()
    group = bytes.fromhex("01005e000001")
    assert dev_mc_add(host.dev, MAC_B) == -errno.EINVAL  # not a multicast address
    assert dev_mc_add(host.dev, group) == 0
    assert dev_mc_add(host.dev, group) == 0  # second user: no reprogramming
    assert list(host.dev.mc) == [group] and len(host.ops.rx_modes) == 1
    assert host.ops.rx_modes[-1][1] == [group]
    assert dev_mc_del(host.dev, group) == 0 and list(host.dev.mc) == [group]
    assert dev_mc_del(host.dev, group) == 0 and host.ops.rx_modes[-1][1] == []
    assert dev_mc_del(host.dev, group) == -errno.ENOENT


def test_change_flags_like_ip_link(host):
    assert dev_change_flags(host.dev, host.dev.flags | IFF_UP | IFF_PROMISC) == 0
    assert host.dev.flags & IFF_UP and host.dev.promiscuity == 1
    assert dev_change_flags(host.dev, host.dev.flags | IFF_PROMISC) == 0
    assert host.dev.promiscuity == 1  # the user's flag counts once
    assert dev_change_flags(host.dev, host.dev.flags & ~(IFF_UP | IFF_PROMISC)) == 0
    assert host.dev.promiscuity == 0 and not host.dev.flags & IFF_UP


def test_vlan_filter(host):
    added = []

    class Ops(type(host.ops)):
        def ndo_vlan_rx_add_vid(self, dev, proto, vid):
            added.append(vid)
            return 0

        def ndo_vlan_rx_kill_vid(self, dev, proto, vid):
            added.remove(vid)
            return 0

    host.dev.netdev_ops = Ops(host)
    host.dev.features |= NETIF_F_HW_VLAN_CTAG_FILTER
    assert vlan_vid_add(host.dev, 0x8100, 5) == 0 and vlan_vid_add(host.dev, 0x8100, 5) == 0
    assert added == [5]
    vlan_vid_del(host.dev, 0x8100, 5)
    assert added == [5]
    vlan_vid_del(host.dev, 0x8100, 5)
    assert added == []


def test_features_update_through_the_driver():
    h = DummyHost()
    applied = []

    class Ops(type(h.ops)):
        def ndo_fix_features(self, dev, features):
            # ixgb: TX tag insertion does not work without RX stripping
            if not features & NETIF_F_HW_VLAN_CTAG_RX:
                features &= ~NETIF_F_HW_VLAN_CTAG_TX
            return features

        def ndo_set_features(self, dev, features):
            applied.append((dev.features, features))  # called before dev.features changes
            return 0

    dev = alloc_etherdev(h.kernel)
    dev.netdev_ops = Ops(h)
    base = NETIF_F_SG | NETIF_F_TSO | NETIF_F_HW_CSUM | NETIF_F_RXCSUM
    vlan = NETIF_F_HW_VLAN_CTAG_TX | NETIF_F_HW_VLAN_CTAG_RX
    dev.features = base | vlan
    dev.hw_features = base | vlan
    register_netdev(dev)
    assert dev.features == base | vlan | NETIF_F_GSO | NETIF_F_GRO
    assert ethtool_set_features(dev, off=NETIF_F_HW_VLAN_CTAG_RX) == (
        NETIF_F_SG | NETIF_F_TSO | NETIF_F_HW_CSUM | NETIF_F_RXCSUM | NETIF_F_GSO | NETIF_F_GRO)
    assert applied[-1][0] & NETIF_F_HW_VLAN_CTAG_RX  # old features at the time of the call
    assert ethtool_set_features(dev, off=NETIF_F_SG) & NETIF_F_TSO == 0  # TSO needs SG
    assert "tx-tcp-segmentation" not in netdev_features_names(dev.features)
    assert ethtool_set_features(dev, on=NETIF_F_SG) & NETIF_F_TSO  # and comes back
    with pytest.raises(OSError) as exc:
        ethtool_set_features(dev, on=NETIF_F_HW_VLAN_CTAG_FILTER)
    assert exc.value.errno == errno.EOPNOTSUPP


def test_ethtool_calls(host):
    class Ethtool(type(host.dev.ethtool_ops)):
        def get_sset_count(self, dev, sset):
            return 2

        def get_strings(self, dev, sset):
            return ["rx_no_buffer_count", "tx_timeout_count"]

        def get_ethtool_stats(self, dev):
            return [3, 1]

        def get_regs_len(self, dev):
            return 8

        def get_regs(self, dev):
            return EthtoolRegs(version=1 << 24, data=bytes(8))

        def get_eeprom_len(self, dev):
            return 128

        def get_eeprom(self, dev, offset, length):
            return bytes(range(128))[offset : offset + length]

        def get_ringparam(self, dev):
            return EthtoolRingparam(rx_max_pending=4096, tx_max_pending=4096,
                                    rx_pending=256, tx_pending=256)

    host.dev.ethtool_ops = Ethtool()
    info = ethtool_get_drvinfo(host.dev)
    assert (info.driver, info.n_stats, info.regdump_len, info.eedump_len) == ("dummy", 2, 8, 128)
    assert ethtool_get_stats(host.dev) == {"rx_no_buffer_count": 3, "tx_timeout_count": 1}
    assert ethtool_get_regs(host.dev).version == 1 << 24
    assert ethtool_get_eeprom(host.dev, 4, 3) == b"\x04\x05\x06"
    with pytest.raises(OSError) as exc:
        ethtool_get_eeprom(host.dev, 120, 9)
    assert exc.value.errno == errno.EINVAL
    assert ethtool_get_ringparam(host.dev).rx_pending == 256
    with pytest.raises(OSError) as exc:
        ethtool_set_ringparam(host.dev, EthtoolRingparam(rx_pending=8192))
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(OSError) as exc:
        ethtool_set_ringparam(host.dev, EthtoolRingparam(rx_pending=512, tx_pending=512))
    assert exc.value.errno == errno.EOPNOTSUPP  # no set_ringparam


def test_stats_snapshot_lets_the_driver_fill_its_fields(host):
    class Ops(type(host.ops)):
        def ndo_get_stats64(self, dev, stats):
            stats.rx_packets = 42

    host.dev.stats.rx_nohandler = 3
    host.dev.netdev_ops = Ops(host)
    stats = dev_get_stats(host.dev)
    assert (stats.rx_packets, stats.rx_nohandler) == (42, 3) and host.dev.stats.rx_packets == 0
    assert stats.as_dict()["rx_nohandler"] == 3


def test_printk_prefix_levels_and_tracepoints(host):
    class Pci:
        name = "0000:00:03.0"

    host.dev.parent = Pci()
    link = "NIC Link is Up 10 Gbps Full Duplex, Flow Control: RX/TX"
    netdev_info(host.dev, link)
    assert host.kernel.dmesg[-1] == (0, "info", f"dummy 0000:00:03.0 eth0: {link}")
    host.kernel.log(3, "numeric level")
    host.kernel.log("warn", "alias")
    assert [r.level for r in host.kernel.dmesg[-2:]] == ["err", "warning"]
    with pytest.raises(ValueError):
        host.kernel.log("loud", "x")
    assert "[    0.000000] alias\n" in host.kernel.dmesg_text()
    trace = []
    host.kernel.tracers.append(lambda t, ev, f: trace.append(ev))
    host.up()
    host.xmit(frame())
    netif_carrier_off(host.dev)
    host.settle()
    for ev in ("net_dev_xmit", "carrier", "operstate", "workqueue_execute", "printk"):
        assert ev in trace
    with pytest.raises(KeyError):
        host.kernel.trace("no_such_tracepoint")


def test_unregister_frees_queued_packets(host):
    host.up()
    netif_stop_queue(host.dev)
    host.xmit(frame())
    host.xmit(frame())
    unregister_netdev(host.dev)
    assert host.kernel.skb_live == 0 and host.ops.calls == ["open", "stop"]
    assert host.kernel.timers() == []
