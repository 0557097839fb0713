"""Receive filtering programmed by the driver: unicast, promiscuous, multicast, VLAN."""

from __future__ import annotations

import errno

from helpers.driver import DriverPair

from device.spec import regs as R
from stack.core.ethtool_ioctl import ethtool_set_features
from stack.core.features import NETIF_F_HW_VLAN_CTAG_RX, NETIF_F_HW_VLAN_CTAG_TX
from stack.core.netdevice import dev_set_mac_address, dev_set_mtu
from stack.core.rxmode import (
    dev_mc_add,
    dev_mc_del,
    dev_set_allmulti,
    dev_set_promiscuity,
    vlan_vid_add,
    vlan_vid_del,
)

M1 = bytes.fromhex("01005e000001")  # RAR1
M2 = bytes.fromhex("01005e000002")  # RAR2
M3 = bytes.fromhex("01005e7f1234")  # hashed: (0x12 >> 4) | 0x34 << 4 = 0x341
M4 = bytes.fromhex("01005e000003")  # hashed: 0x030
M3_TWIN = bytes.fromhex("01005e7f1f34")  # not joined, same hash as M3: passes (inexact)
OTHER = bytes.fromhex("01005e7f1235")  # not joined, hash 0x351: dropped
STRANGER = bytes.fromhex("02aabbccddee")  # a unicast address that is not b's
BROADCAST = b"\xff" * 6


def deliveries(w: DriverPair, dsts: list[bytes], **attrs) -> list[bytes]:
    """Send one frame to each destination from a; the destinations b passed up."""
    w.b.rx.clear()
    for i, dst in enumerate(dsts):
        w.send(w.a, w.frame(w.a, 80, seq=i, dst=dst), **attrs)
    w.run("1ms")
    return [r.frame[:6] for r in w.b.rx]


def test_unicast_broadcast_and_promiscuous_mode():
    w = DriverPair()
    mine = w.b.netdev.dev_addr
    assert deliveries(w, [mine, STRANGER, BROADCAST]) == [mine, BROADCAST]
    assert dev_set_promiscuity(w.b.netdev, 1) == 0
    rctl = w.b.peek(R.RCTL)
    assert rctl & R.RCTL_UPE and rctl & R.RCTL_MPE and not rctl & R.RCTL_VFE
    assert deliveries(w, [mine, STRANGER, OTHER]) == [mine, STRANGER, OTHER]
    assert dev_set_promiscuity(w.b.netdev, -1) == 0
    assert not w.b.peek(R.RCTL) & (R.RCTL_UPE | R.RCTL_MPE)
    assert deliveries(w, [STRANGER, mine]) == [mine]
    w.assert_clean()


def test_multicast_exact_in_rar_and_hashed_in_mta():
    w = DriverPair()
    assert deliveries(w, [M1, M3]) == []
    for addr in (M1, M2, M3, M4):
        assert dev_mc_add(w.b.netdev, addr) == 0
    b = w.b
    # The first two go to RAR1..2 with AV (little-endian), the rest into the hash table.
    assert b.peek(R.RAL(1)) == int.from_bytes(M1[:4], "little")
    assert b.peek(R.RAH(1)) == int.from_bytes(M1[4:], "little") | R.RAH_AV
    assert b.peek(R.RAL(2)) == int.from_bytes(M2[:4], "little")
    assert b.peek(R.RAH(2)) == int.from_bytes(M2[4:], "little") | R.RAH_AV
    mta = {i: b.peek(R.MTA + 4 * i) for i in range(128) if b.peek(R.MTA + 4 * i)}
    assert mta == {0x341 >> 5: 1 << (0x341 & 0x1F), 0x030 >> 5: 1 << (0x030 & 0x1F)}
    assert deliveries(w, [M1, M2, M3, M4, M3_TWIN, OTHER]) == [M1, M2, M3, M4, M3_TWIN]
    # Leaving M1 moves M2 to RAR1, M3 to RAR2, and only M4 stays hashed.
    assert dev_mc_del(w.b.netdev, M1) == 0
    assert b.peek(R.RAL(1)) == int.from_bytes(M2[:4], "little")
    assert b.peek(R.RAL(2)) == int.from_bytes(M3[:4], "little")
    assert deliveries(w, [M1, M2, M3, M4, M3_TWIN]) == [M2, M3, M4]
    assert dev_set_allmulti(w.b.netdev, 1) == 0
    assert w.b.peek(R.RCTL) & R.RCTL_MPE and not w.b.peek(R.RCTL) & R.RCTL_UPE
    assert deliveries(w, [M1, OTHER, STRANGER]) == [M1, OTHER]
    w.assert_clean()


def test_more_multicast_groups_than_the_filter_holds_turns_on_mpe():
    w = DriverPair()
    for i in range(129):
        dev_mc_add(w.b.netdev, bytes([1, 0, 0x5E, 0, i >> 8, i & 0xFF]))
    assert w.b.peek(R.RCTL) & R.RCTL_MPE
    assert deliveries(w, [OTHER]) == [OTHER]


def test_vlan_filter_add_kill_and_stripping():
    w = DriverPair()
    tci = 5 << 13 | 100  # priority 5, VID 100
    assert w.a.peek(R.CTRL0) & R.CTRL0_VME and w.b.peek(R.CTRL0) & R.CTRL0_VME
    mine = w.b.netdev.dev_addr
    assert deliveries(w, [mine], vlan_present=True, vlan_tci=tci) == []  # VFE: VID unknown
    assert vlan_vid_add(w.b.netdev, 0x8100, 100) == 0
    assert w.b.peek(R.VFTA + 4 * (100 >> 5)) == 1 << (100 & 0x1F)
    assert deliveries(w, [mine], vlan_present=True, vlan_tci=tci) == [mine]
    got = w.b.rx[0]
    assert got.vlan_tci == tci  # stripped by b's hardware into the descriptor
    assert got.frame == w.frame(w.a, 80, seq=0)  # the frame as sent, without the tag
    # The filter survives a reset (restore_vlan replays it after down/up).
    assert dev_set_mtu(w.b.netdev, 3000) == 0
    w.run("10ms")
    assert w.b.peek(R.VFTA + 4 * 3) == 1 << 4
    assert deliveries(w, [mine], vlan_present=True, vlan_tci=tci) == [mine]
    assert vlan_vid_del(w.b.netdev, 0x8100, 100) == 0
    assert w.b.peek(R.VFTA + 4 * 3) == 0
    assert deliveries(w, [mine], vlan_present=True, vlan_tci=tci) == []
    dev_set_promiscuity(w.b.netdev, 1)  # promiscuous mode turns VLAN filtering off
    assert deliveries(w, [mine], vlan_present=True, vlan_tci=tci) == [mine]
    w.assert_clean()


def test_rx_vlan_stripping_off_also_drops_tx_insertion():
    w = DriverPair()
    assert ethtool_set_features(w.a.netdev, off=NETIF_F_HW_VLAN_CTAG_RX) & (
        NETIF_F_HW_VLAN_CTAG_RX | NETIF_F_HW_VLAN_CTAG_TX) == 0
    w.run("10ms")
    assert not w.a.peek(R.CTRL0) & R.CTRL0_VME
    vlan_vid_add(w.b.netdev, 0x8100, 7)
    tx_tags = []
    w.a.nic.tx.trace_tx_frame.append(lambda frame, n: tx_tags.append(frame[12:16]))
    mine = w.b.netdev.dev_addr
    # The core now inserts the tag in software; b still strips it.
    assert deliveries(w, [mine], vlan_present=True, vlan_tci=7) == [mine]
    assert tx_tags == [bytes.fromhex("81000007")]
    assert w.b.rx[0].vlan_tci == 7


def test_set_mac_address_reprograms_rar0_at_once_and_after_a_reset():
    w = DriverPair()
    old = w.b.netdev.dev_addr
    new = bytes.fromhex("020000000abc")
    assert dev_set_mac_address(w.b.netdev, bytes.fromhex("010000000abc")) == -errno.EADDRNOTAVAIL
    assert dev_set_mac_address(w.b.netdev, new) == 0
    assert w.b.peek(R.RAL(0)) == int.from_bytes(new[:4], "little")
    assert w.b.peek(R.RAH(0)) == int.from_bytes(new[4:], "little") | R.RAH_AV
    assert deliveries(w, [old, new]) == [new]
    assert dev_set_mtu(w.b.netdev, 2000) == 0  # down, reset (RAR0 from the EEPROM), up
    w.run("10ms")
    assert deliveries(w, [old, new]) == [new]
