"""The MAC's shared code: reset, init, receive addresses, multicast hash, flow control, link.

Mirrors Linux's ``ixgb_hw.c`` (and ``ixgb_update_stats`` from ``ixgb_main.c``).  Every
function takes the ``Hw`` struct and talks to the device only through BAR0 reads and writes.
Sequences follow docs/hardware.md §2.2 (adapter_stop, mac_reset, init_hw), §2.11 (multicast),
§2.9 (check_for_link, check_for_bad_link) and §2.13 (statistics).

Deliberate deviation: the busy-waits (10 ms before reset, 1 ms after, 10 ms after the EEPROM
reset, 10 µs MDIO polls, 13 µs link-reset polls) are accounted in ``hw.busy_wait_ns`` rather
than spent; the model completes each of these at once (docs/hardware.md's ixsim decisions).
"""

from __future__ import annotations

from typing import Any

from device.spec import regs as R
from device.spec.ids import (
    IXGB_DEVICE_ID_82597EX,
    IXGB_DEVICE_ID_82597EX_CX4,
    IXGB_DEVICE_ID_82597EX_LR,
    IXGB_DEVICE_ID_82597EX_SR,
    PCI_VENDOR_ID_SUN,
)
from driver.ixgb import ee
from driver.ixgb.adapter import (
    FC_FULL,
    FC_NONE,
    FC_RX_PAUSE,
    FC_TX_PAUSE,
    MAX_NUM_MULTICAST_ADDRESSES,
    MC_TBL_SIZE,
    PHY_BCM,
    PHY_G6005,
    PHY_G6104,
    PHY_TXN17201,
    PHY_TXN17401,
    PHY_UNKNOWN,
    RAR_ENTRIES,
    VLAN_FILTER_TBL_SIZE,
    Adapter,
    Hw,
)

DELAY_BEFORE_RESET_MS = 10
DELAY_AFTER_RESET_MS = 1
DELAY_AFTER_EE_RESET_MS = 10
DELAY_USECS_AFTER_LINK_RESET = 13
MAX_RESET_ITERATIONS = 8

# Clause-45 MDIO (include/uapi/linux/mdio.h) and the XPAK NVR vendor string.
PHY_ADDRESS = 0x0
MDIO_MMD_PMAPMD = 1
MDIO_CTRL1 = 0x0000
MDIO_CTRL1_RESET = 0x8000
MDIO_PMA_PMD_XPAK_VENDOR_NAME = 0x803A

BCM8704_USER_PMD_TX_CTRL_REG = 0xC803
BCM8704_USER_PMD_TX_CTRL_REG_VAL = 0x0164
BCM8704_USER_CTRL_REG = 0xC800
BCM8704_USER_CTRL_REG_VAL = 0x7FBF
BCM8704_USER_DEV3_ADDR = 0x0003
SUN_PHY_RESET_DELAY_MS = 305

_MSCA_DONE_POLLS = 10


# -- reset -----------------------------------------------------------------------------------
def mac_reset(hw: Hw) -> int:
    """Global reset through CTRL0.RST with all SDP pins as outputs (initial value 1101)."""
    ctrl = (R.CTRL0_RST | R.CTRL0_SDP3_DIR | R.CTRL0_SDP2_DIR | R.CTRL0_SDP1_DIR
            | R.CTRL0_SDP0_DIR | R.CTRL0_SDP3 | R.CTRL0_SDP2 | R.CTRL0_SDP0)
    hw.write32(R.CTRL0, ctrl)
    hw.msleep(DELAY_AFTER_RESET_MS)
    ctrl = hw.read32(R.CTRL0)  # RST self-clears; Linux only asserts it in debug builds
    if hw.subsystem_vendor_id == PCI_VENDOR_ID_SUN:
        ctrl = (R.CTRL1_GPI0_EN | R.CTRL1_SDP6_DIR | R.CTRL1_SDP7_DIR | R.CTRL1_SDP6
                | R.CTRL1_SDP7)
        hw.write32(R.CTRL1, ctrl)
        optics_reset_bcm(hw)
    if hw.phy_type == PHY_TXN17401:
        optics_reset(hw)
    return ctrl


def adapter_stop(hw: Hw) -> bool:
    """Mask interrupts, stop RX and TX, reset the MAC, drop pending causes.

    Returns whether CTRL0.RST still read back set (it must not).  Spec: docs/hardware.md §2.2.
    """
    if hw.adapter_stopped:
        return False
    hw.adapter_stopped = True
    hw.write32(R.IMC, 0xFFFFFFFF)
    hw.write32(R.RCTL, hw.read32(R.RCTL) & ~R.RCTL_RXEN)
    hw.write32(R.TCTL, hw.read32(R.TCTL) & ~R.TCTL_TXEN)
    hw.write_flush()
    hw.msleep(DELAY_BEFORE_RESET_MS)
    ctrl = mac_reset(hw)
    hw.write32(R.IMC, 0xFFFFFFFF)
    hw.read32(R.ICR)
    return bool(ctrl & R.CTRL0_RST)


def identify_xpak_vendor(hw: Hw) -> str:
    """The first five XPAK NVR vendor registers spell INTEL on Intel optics."""
    name = [read_phy_reg(hw, MDIO_PMA_PMD_XPAK_VENDOR_NAME + i, PHY_ADDRESS, MDIO_MMD_PMAPMD)
            for i in range(5)]
    return "intel" if name == [ord(c) for c in "INTEL"] else "infineon"


def identify_phy(hw: Hw) -> str:
    """Transceiver type from the (EEPROM) device ID; SR and CX4 ask the XPAK vendor."""
    if hw.device_id == IXGB_DEVICE_ID_82597EX:
        phy = PHY_TXN17401
    elif hw.device_id in (IXGB_DEVICE_ID_82597EX_SR, IXGB_DEVICE_ID_82597EX_CX4):
        phy = PHY_TXN17201 if identify_xpak_vendor(hw) == "intel" else PHY_G6005
    elif hw.device_id == IXGB_DEVICE_ID_82597EX_LR:
        phy = PHY_G6104
    else:
        phy = PHY_UNKNOWN
    if hw.subsystem_vendor_id == PCI_VENDOR_ID_SUN:
        phy = PHY_BCM
    return phy


def init_hw(hw: Hw) -> bool:
    """Reset, reload and check the EEPROM, program addresses, clear tables and counters.

    Leaves TX and RX disabled.  Spec: docs/hardware.md §2.2 steps 4-8.
    """
    mac_reset(hw)
    hw.write32(R.CTRL1, R.CTRL1_EE_RST)
    hw.msleep(DELAY_AFTER_EE_RESET_MS)
    if not ee.get_eeprom_data(hw):
        return False
    hw.device_id = ee.get_ee_device_id(hw)
    hw.phy_type = identify_phy(hw)
    init_rx_addrs(hw)
    if not mac_addr_valid(hw.curr_mac_addr):
        return False
    hw.adapter_stopped = False
    get_bus_info(hw)
    for i in range(MC_TBL_SIZE):
        hw.write32(R.MTA + 4 * i, 0)
    clear_vfta(hw)
    clear_hw_cntrs(hw)
    status = setup_fc(hw)
    check_for_link(hw)  # 82597EX erratum: in case lane deskew is locked
    return status


# -- receive addresses and filters -----------------------------------------------------------
def init_rx_addrs(hw: Hw) -> None:
    """RAR0 from the EEPROM (or the software override), RAR1..2 cleared (RAH first)."""
    if not mac_addr_valid(hw.curr_mac_addr):
        hw.curr_mac_addr = ee.get_ee_mac_addr(hw)
    else:
        rar_set(hw, hw.curr_mac_addr, 0)
    for i in range(1, RAR_ENTRIES):
        hw.write32(R.RAH(i), 0)  # drop AV before touching the low half
        hw.write32(R.RAL(i), 0)


def rar_set(hw: Hw, addr: bytes, index: int) -> None:
    """Receive address ``index``: RAL = bytes 0..3, RAH = bytes 4..5 | AV (little-endian)."""
    hw.write32(R.RAL(index), addr[0] | addr[1] << 8 | addr[2] << 16 | addr[3] << 24)
    hw.write32(R.RAH(index), addr[4] | addr[5] << 8 | R.RAH_AV)


def hash_mc_addr(mc_filter_type: int, addr: bytes) -> int:
    """The 12-bit MTA index of a multicast address, by RCTL.MO type (0: bits [47:36])."""
    if mc_filter_type == 0:
        value = (addr[4] >> 4) | (addr[5] << 4)
    elif mc_filter_type == 1:
        value = (addr[4] >> 3) | (addr[5] << 5)
    elif mc_filter_type == 2:
        value = (addr[4] >> 2) | (addr[5] << 6)
    elif mc_filter_type == 3:
        value = addr[4] | (addr[5] << 8)
    else:
        raise ValueError(f"mc_filter_type {mc_filter_type} is not 0..3")
    return value & 0xFFF


def mta_set(hw: Hw, hash_value: int) -> None:
    """Set bit ``hash & 0x1F`` of MTA[(hash >> 5) & 0x7F] (read-modify-write)."""
    reg = R.MTA + 4 * ((hash_value >> 5) & 0x7F)
    hw.write32(reg, hw.read32(reg) | (1 << (hash_value & 0x1F)))


def mc_addr_list_update(hw: Hw, mc_addr_list: list[bytes]) -> None:
    """Replace the multicast filter: RAR1..2 take the first two, the MTA hashes the rest.

    Spec: docs/hardware.md §2.11 steps 2-3.
    """
    hw.num_mc_addrs = len(mc_addr_list)
    for i in range(1, RAR_ENTRIES):
        hw.write32(R.RAL(i), 0)
        hw.write32(R.RAH(i), 0)
    for i in range(MC_TBL_SIZE):
        hw.write32(R.MTA + 4 * i, 0)
    rar_used = 1  # RAR0 is our own address
    for addr in mc_addr_list:
        if rar_used < RAR_ENTRIES:
            rar_set(hw, addr, rar_used)
            rar_used += 1
        else:
            mta_set(hw, hash_mc_addr(hw.mc_filter_type, addr))


def write_vfta(hw: Hw, offset: int, value: int) -> None:
    hw.write32(R.VFTA + 4 * offset, value)


def clear_vfta(hw: Hw) -> None:
    for offset in range(VLAN_FILTER_TBL_SIZE):
        write_vfta(hw, offset, 0)


def mac_addr_valid(addr: bytes) -> bool:
    """Not multicast (which includes broadcast), not all zeros."""
    return len(addr) == 6 and not addr[0] & 1 and any(addr)


# -- flow control ----------------------------------------------------------------------------
def setup_fc(hw: Hw) -> bool:
    """CTRL0 pause bits, PAP pause time and the FCRTL/FCRTH water marks from ``hw.fc``.

    Spec: docs/hardware.md §2.2 step 7.
    """
    ctrl = hw.read32(R.CTRL0) & ~(R.CTRL0_RPE | R.CTRL0_TPE)
    pap = 0
    fc = hw.fc.type
    if fc == FC_NONE:
        ctrl |= R.CTRL0_CMDC
    elif fc == FC_RX_PAUSE:
        ctrl |= R.CTRL0_RPE
    elif fc == FC_TX_PAUSE:
        ctrl |= R.CTRL0_TPE
        pap = hw.fc.pause_time
    elif fc == FC_FULL:
        ctrl |= R.CTRL0_RPE | R.CTRL0_TPE
        pap = hw.fc.pause_time
    else:
        raise ValueError(f"flow control type {fc} is not 0..3")
    hw.write32(R.CTRL0, ctrl)
    if pap:
        hw.write32(R.PAP, pap)
    if not fc & FC_TX_PAUSE:
        hw.write32(R.FCRTL, 0)
        hw.write32(R.FCRTH, 0)
    else:
        low = hw.fc.low_water | (R.FCRTL_XONE if hw.fc.send_xon else 0)
        hw.write32(R.FCRTL, low)
        hw.write32(R.FCRTH, hw.fc.high_water)
    return True


# -- MDIO (clause 45, "new protocol" single command and address) ------------------------------
def _msca_command(hw: Hw, command: int) -> None:
    hw.write32(R.MSCA, command)
    for _ in range(_MSCA_DONE_POLLS):
        hw.udelay(10)
        if not hw.read32(R.MSCA) & R.MSCA_MDI_COMMAND:
            return


def _msca_addr(reg_address: int, phy_address: int, device_type: int) -> int:
    return (reg_address | device_type << R.MSCA_DEV_TYPE_SHIFT
            | phy_address << R.MSCA_PHY_ADDR_SHIFT)


def read_phy_reg(hw: Hw, reg_address: int, phy_address: int, device_type: int) -> int:
    """An address cycle, then a read cycle; the data is MSRWD bits 31:16."""
    base = _msca_addr(reg_address, phy_address, device_type)
    _msca_command(hw, base | R.MSCA_ADDR_CYCLE | R.MSCA_MDI_COMMAND)
    _msca_command(hw, base | R.MSCA_READ | R.MSCA_MDI_COMMAND)
    return (hw.read32(R.MSRWD) >> R.MSRWD_READ_DATA_SHIFT) & 0xFFFF


def write_phy_reg(hw: Hw, reg_address: int, phy_address: int, device_type: int,
                  data: int) -> None:
    """Data into MSRWD, an address cycle, then a write cycle."""
    hw.write32(R.MSRWD, data & 0xFFFF)
    base = _msca_addr(reg_address, phy_address, device_type)
    _msca_command(hw, base | R.MSCA_ADDR_CYCLE | R.MSCA_MDI_COMMAND)
    _msca_command(hw, base | R.MSCA_WRITE | R.MSCA_MDI_COMMAND)


def optics_reset(hw: Hw) -> None:
    """TXN17401 optics: PMA/PMD control 1 reset over MDIO, then read it back."""
    if hw.phy_type == PHY_TXN17401:
        write_phy_reg(hw, MDIO_CTRL1, PHY_ADDRESS, MDIO_MMD_PMAPMD, MDIO_CTRL1_RESET)
        read_phy_reg(hw, MDIO_CTRL1, PHY_ADDRESS, MDIO_MMD_PMAPMD)


def optics_reset_bcm(hw: Hw) -> None:
    """Sun boards: SerDes reset through SDP2/SDP3, then the BCM8704 user registers."""
    ctrl = (hw.read32(R.CTRL0) & ~R.CTRL0_SDP2) | R.CTRL0_SDP3
    hw.write32(R.CTRL0, ctrl)
    hw.write_flush()
    hw.msleep(SUN_PHY_RESET_DELAY_MS)
    for reg, value in ((BCM8704_USER_PMD_TX_CTRL_REG, BCM8704_USER_PMD_TX_CTRL_REG_VAL),
                       (BCM8704_USER_CTRL_REG, BCM8704_USER_CTRL_REG_VAL)):
        write_phy_reg(hw, reg, PHY_ADDRESS, BCM8704_USER_DEV3_ADDR, value)
        read_phy_reg(hw, reg, PHY_ADDRESS, BCM8704_USER_DEV3_ADDR)  # "read twice"
        read_phy_reg(hw, reg, PHY_ADDRESS, BCM8704_USER_DEV3_ADDR)
    hw.msleep(SUN_PHY_RESET_DELAY_MS)


# -- link --------------------------------------------------------------------------------------
def link_reset(hw: Hw) -> bool:
    """Pulse CTRL0.LRST and wait for STATUS.LU and XPCSS.ALIGN_STATUS (8 × 8 tries)."""
    for _ in range(MAX_RESET_ITERATIONS):
        hw.write32(R.CTRL0, hw.read32(R.CTRL0) | R.CTRL0_LRST)
        for _ in range(MAX_RESET_ITERATIONS):
            hw.udelay(DELAY_USECS_AFTER_LINK_RESET)
            if hw.read32(R.STATUS) & R.STATUS_LU and hw.read32(R.XPCSS) & R.XPCSS_ALIGN_STATUS:
                return True
    return False


def check_for_link(hw: Hw) -> None:
    """Link is up when XPCSS.ALIGN_STATUS and STATUS.LU are both set; otherwise reset the
    link first (82597EX lane-deskew erratum).  Spec: docs/hardware.md §1.7."""
    xpcss = hw.read32(R.XPCSS)
    status = hw.read32(R.STATUS)
    if xpcss & R.XPCSS_ALIGN_STATUS and status & R.STATUS_LU:
        hw.link_up = True
    else:
        hw.link_up = link_reset(hw)


def check_for_bad_link(hw: Hw) -> bool:
    """TXN17401 only: more than 250 new local or remote faults since the last look."""
    if hw.phy_type != PHY_TXN17401:
        return False
    new_lfc = hw.read32(R.LFC)
    new_rfc = hw.read32(R.RFC)
    bad = hw.last_lfc + 250 < new_lfc or hw.last_rfc + 250 < new_rfc
    hw.last_lfc = new_lfc
    hw.last_rfc = new_rfc
    return bad


def get_bus_info(hw: Hw) -> None:
    status = hw.read32(R.STATUS)
    if status & R.STATUS_PCIX_MODE:
        hw.bus.type = "pcix"
        spd = (status >> R.STATUS_PCIX_SPD_SHIFT) & 3
        hw.bus.speed = {0: 66, 1: 100, 2: 133}.get(spd, 0)
    else:
        hw.bus.type = "pci"
        hw.bus.speed = 66 if status & R.STATUS_PCI_SPD else 33
    hw.bus.width = 64 if status & R.STATUS_BUS64 else 32


def led_on(hw: Hw) -> None:
    hw.write32(R.CTRL0, hw.read32(R.CTRL0) & ~R.CTRL0_SDP0)


def led_off(hw: Hw) -> None:
    hw.write32(R.CTRL0, hw.read32(R.CTRL0) | R.CTRL0_SDP0)


# -- statistics --------------------------------------------------------------------------------
# (key, offset) for every counter word in register order (the spec's STAT_REGS), keyed by the
# lower-case register name as struct ixgb_hw_stats names its fields.
STAT_WORDS: list[tuple[str, int]] = [(reg.name.lower(), reg.offset) for reg in R.STAT_REGS]
STAT_KEYS = [key for key, _off in STAT_WORDS]
_MC_BC = {"mprcl", "mprch", "bprcl", "bprch"}


def clear_hw_cntrs(hw: Hw) -> None:
    """Read every statistics register once: they clear on read."""
    if hw.adapter_stopped:
        return
    for _key, off in STAT_WORDS:
        hw.read32(off)


def stat64(stats: dict[str, int], name: str) -> int:
    """An accumulated 64-bit counter from its two halves (``gprc`` -> gprcl + gprch << 32)."""
    return stats[name + "l"] + (stats[name + "h"] << 32)


def update_stats(adapter: Adapter, promisc: bool, allmulti: bool, mc_count: int) -> None:
    """Accumulate every hardware counter into ``adapter.stats``; fill the netdev counters.

    With PROMISC, ALLMULTI or more multicast addresses than the filter holds, broadcasts are
    taken out of the multicast count.  RLEC stays out of rx_errors (padded frames trip it).
    Spec: docs/hardware.md §2.13.
    """
    hw = adapter.hw
    read32 = hw.read32
    st = adapter.stats
    if not st:
        st.update(dict.fromkeys(STAT_KEYS, 0))
    if promisc or allmulti or mc_count > MAX_NUM_MULTICAST_ADDRESSES:
        multi = read32(R.MPRCL)
        bcast_l = read32(R.BPRCL)
        bcast_h = read32(R.BPRCH)
        bcast = bcast_h << 32 | bcast_l
        multi |= read32(R.MPRCH) << 32
        if multi >= bcast:
            multi -= bcast
        st["mprcl"] += multi & 0xFFFFFFFF
        st["mprch"] += multi >> 32
        st["bprcl"] += bcast_l
        st["bprch"] += bcast_h
    else:
        st["mprcl"] += read32(R.MPRCL)
        st["mprch"] += read32(R.MPRCH)
        st["bprcl"] += read32(R.BPRCL)
        st["bprch"] += read32(R.BPRCH)
    for key, off in STAT_WORDS:
        if key not in _MC_BC:
            st[key] += read32(off)
    ns: Any = adapter.netdev.stats
    # Linux copies the low halves only (u32 fields of ixgb_hw_stats into u64 netdev stats);
    # ixsim folds both halves, so counters past 2^32 stay right.
    ns.rx_packets = stat64(st, "gprc")
    ns.tx_packets = stat64(st, "gptc")
    ns.rx_bytes = stat64(st, "gorc")
    ns.tx_bytes = stat64(st, "gotc")
    ns.multicast = stat64(st, "mprc")
    ns.collisions = 0
    ns.rx_errors = st["crcerrs"] + st["ruc"] + st["roc"] + st["icbc"] + st["ecbc"] + st["mpc"]
    ns.rx_crc_errors = st["crcerrs"]
    ns.rx_fifo_errors = st["mpc"]
    ns.rx_missed_errors = st["mpc"]
    ns.rx_over_errors = st["mpc"]
    ns.tx_errors = 0
    ns.rx_frame_errors = 0
    ns.tx_aborted_errors = 0
    ns.tx_carrier_errors = 0
    ns.tx_fifo_errors = 0
    ns.tx_heartbeat_errors = 0
    ns.tx_window_errors = 0
