"""The ixgb driver's private state: the adapter, its two descriptor rings and the hw struct.

Mirrors Linux's ``ixgb.h`` (``struct ixgb_adapter``, ``struct ixgb_desc_ring``,
``struct ixgb_buffer``) and the software half of ``ixgb_hw.h`` (``struct ixgb_hw``,
``struct ixgb_fc``, ``struct ixgb_hw_stats``).  Plain slotted classes: every other module of
the driver reads and writes these fields directly, as the C code does.

Data model (the ixsim driver's one deliberate difference from Linux, said out loud): an skb's
linear part lives in a plain Python buffer, so the device cannot DMA from or into it.  A TX
``Buffer`` therefore owns a bounce chunk of guest memory (``buf``, at most 16 KiB) that
``tx_map`` fills from the skb head and maps to-device; an skb's page fragments are in
guest memory already and are mapped in place (``mapped_as_page``, no chunk); an RX
``Buffer`` owns a guest-memory receive buffer of ``rx_buffer_len`` bytes mapped from-device,
which ``clean_rx_irq`` copies into a fresh skb.  ``dma`` is the mapping (0 when unmapped),
as in Linux.
"""

from __future__ import annotations

from typing import Any

from device.spec import regs as R
from device.spec.bus import IoMem, PciDevice
from device.spec.eeprom import EEPROM_WORDS
from stack.core import netdev_get_tx_queue, netdev_printk
from stack.core.units import NS_PER_S

# Ring sizes (ixgb.h, ixgb_param.c).  Spec: docs/hardware.md §1.6.
DEFAULT_TXD = 256
MAX_TXD = 4096
MIN_TXD = 64
DEFAULT_RXD = 512  # "hardware cannot reliably support more than 512 descriptors owned by
MAX_RXD = 512  # the hardware descriptor cache"
MIN_RXD = 64
REQ_TX_DESCRIPTOR_MULTIPLE = 8
REQ_RX_DESCRIPTOR_MULTIPLE = 8

RX_BUFFER_WRITE = 8  # refill RX buffers (and write RDT) every this many cleaned
RXBUFFER_2048 = 2048
RXBUFFER_4096 = 4096
RXBUFFER_8192 = 8192
RXBUFFER_16384 = 16384

ENET_HEADER_SIZE = 14
ENET_FCS_LENGTH = 4
MAX_ENET_FRAME_SIZE_WITHOUT_FCS = 1514
MAX_JUMBO_FRAME_SIZE = R.MAX_JUMBO_FRAME_SIZE  # 16128, from the register spec
ETH_MIN_MTU = 68
RAR_ENTRIES = 3  # the driver uses RAR 0 (own MAC) and 1..2 (first multicast addresses)
ALL_RAR_ENTRIES = R.NUM_RA  # the table sizes are the register map's (ixgb_hw.h)
MAX_NUM_MULTICAST_ADDRESSES = 128
MC_TBL_SIZE = R.NUM_MTA
VLAN_FILTER_TBL_SIZE = R.NUM_VFTA
VLAN_N_VID = 4096
FULL_DUPLEX = 2  # adapter->link_duplex once the link is up (ixgb.h; the 82597 is 10G full only)

# adapter->flags bits
DOWN = 0
REMOVED = 1  # the device is gone from the bus (ixgbe's hw_addr == NULL): no MMIO any more

# Flow control types (ixgb_hw.h ixgb_fc_type).
FC_NONE = 0
FC_RX_PAUSE = 1
FC_TX_PAUSE = 2
FC_FULL = 3
FC_DEFAULT = 0xFF
FC_NAMES = {FC_FULL: "RX/TX", FC_RX_PAUSE: "RX", FC_TX_PAUSE: "TX", FC_NONE: "None"}

# MAC and PHY types (ixgb_hw.h).
MAC_82597 = "ixgb_82597"
PHY_UNKNOWN = "unknown"
PHY_G6005 = "g6005"
PHY_G6104 = "g6104"
PHY_TXN17201 = "txn17201"
PHY_TXN17401 = "txn17401"
PHY_BCM = "bcm"

HZ_NS = NS_PER_S  # one second of jiffies (HZ), in the scheduler's nanoseconds
# stack.core timers have no jiffies.  Linux's ``mod_timer(t, jiffies)`` ("now") still waits
# for the next timer tick; ixsim's driver says so explicitly with a CONFIG_HZ=250 tick, so
# "run the watchdog now" can never re-run it within one virtual instant.
TICK_NS = 4_000_000


def next_tick(now: int) -> int:
    """The first timer tick strictly after ``now``: when ``mod_timer(t, jiffies)`` fires."""
    return (now // TICK_NS + 1) * TICK_NS


class Buffer:
    """One ring slot's software state (Linux's ``struct ixgb_buffer``).

    ``buf`` is the guest-memory buffer behind the slot (TX bounce chunk or RX buffer), ``dma``
    its live mapping, ``length`` the mapped length; ``buf_size`` a TX chunk's capacity (its
    allocation's size class), which the slot's next packets reuse while they fit.  ``skb`` is
    set on the last descriptor of a transmitted packet; ``next_to_watch`` on its first names
    that last descriptor.
    """

    __slots__ = ("skb", "dma", "buf", "buf_size", "time_stamp", "length", "next_to_watch",
                 "mapped_as_page")

    def __init__(self) -> None:
        self.skb: Any = None
        self.dma = 0
        self.buf = 0
        self.buf_size = 0
        self.time_stamp = 0
        self.length = 0
        self.next_to_watch = 0
        self.mapped_as_page = False


class DescRing:
    """A descriptor ring (Linux's ``struct ixgb_desc_ring``).

    ``desc`` is the CPU's view (a memoryview) of the coherent ring memory at ``dma``;
    ``size`` is its byte length rounded up to 4 KiB; ``count`` the number of descriptors.
    """

    __slots__ = ("desc", "dma", "size", "count", "next_to_use", "next_to_clean", "buffer_info")

    def __init__(self, count: int) -> None:
        self.desc: memoryview | None = None
        self.dma = 0
        self.size = 0
        self.count = count
        self.next_to_use = 0
        self.next_to_clean = 0
        self.buffer_info: list[Buffer] = []


def desc_unused(ring: DescRing) -> int:
    """Free descriptors, keeping one slot empty so full and empty differ (IXGB_DESC_UNUSED)."""
    ntc, ntu = ring.next_to_clean, ring.next_to_use
    return (0 if ntc > ntu else ring.count) + ntc - ntu - 1


class FlowControl:
    """``struct ixgb_fc``: what setup_fc programs into CTRL0, PAP, FCRTL and FCRTH."""

    __slots__ = ("high_water", "low_water", "pause_time", "send_xon", "type")

    def __init__(self) -> None:
        self.high_water = 0
        self.low_water = 0
        self.pause_time = 0
        self.send_xon = False
        self.type = FC_NONE


class BusInfo:
    __slots__ = ("type", "speed", "width")

    def __init__(self) -> None:
        self.type = "unknown"
        self.speed = 0
        self.width = 0


class Hw:
    """``struct ixgb_hw``: what the shared code (hw.py, ee.py) knows of the MAC.

    ``hw_addr`` is the ioremapped BAR0 (``read32``/``write32``): the driver's only way to the
    registers.
    """

    def __init__(self, hw_addr: IoMem) -> None:
        self.hw_addr = hw_addr
        self.read32 = hw_addr.read32
        self.write32 = hw_addr.write32
        self.vendor_id = 0
        self.device_id = 0
        self.subsystem_vendor_id = 0
        self.subsystem_id = 0
        self.revision_id = 0
        self.mac_type = MAC_82597
        self.phy_type = PHY_UNKNOWN
        self.max_frame_size = 0
        self.mc_filter_type = 0
        self.num_mc_addrs = 0
        self.curr_mac_addr = bytes(6)
        self.eeprom = [0] * EEPROM_WORDS  # the EEPROM cache (hw->eeprom)
        self.fc = FlowControl()
        self.bus = BusInfo()
        self.link_up = False
        self.adapter_stopped = False
        self.last_lfc = 0
        self.last_rfc = 0
        # Busy-waits (udelay/msleep) are not modelled: the device model completes reset,
        # EEPROM and MDIO commands at once.  What Linux would have spun for is summed here.
        self.busy_wait_ns = 0

    def udelay(self, usecs: int) -> None:
        self.busy_wait_ns += usecs * 1000

    def msleep(self, msecs: int) -> None:
        self.busy_wait_ns += msecs * 1_000_000

    def write_flush(self) -> None:
        """IXGB_WRITE_FLUSH: a posted-write flush is a read of STATUS."""
        self.read32(R.STATUS)


class Adapter:
    """``struct ixgb_adapter``: the board's private structure (``netdev_priv``)."""

    def __init__(self, kernel: Any, netdev: Any, pdev: PciDevice, hw: Hw) -> None:
        self.kernel = kernel
        self.sched = kernel.sched
        self.netdev = netdev
        self.pdev = pdev
        self.hw = hw
        self.mem = pdev.mem
        self.flags: set[int] = set()
        self.bd_number = 0
        self.msg_enable = 0
        self.part_num = 0
        self.link_speed = 0
        self.link_duplex = 0
        self.rx_buffer_len = 0
        self.rx_csum = True
        self.tx_int_delay = 0
        self.rx_int_delay = 0
        self.tx_int_delay_enable = True
        self.tx_cmd_type = 0
        self.tx_tail = 0  # the last value written to TDT (doorbell batching)
        self.copybreak = 256
        self.tx_ring = DescRing(DEFAULT_TXD)
        self.rx_ring = DescRing(DEFAULT_RXD)
        # netdev_get_tx_queue(netdev, 0), looked up once: the device's one TX queue lives as
        # long as the netdev (xmit_frame and clean_tx_irq use it per packet).
        self.txq: Any = netdev_get_tx_queue(netdev, 0)
        self.napi: Any = None
        self.watchdog_timer: Any = None
        self.tx_timeout_task: Any = None
        self.remove_task: Any = None  # takes the interface down once the device is gone
        self.detect_tx_hung = False
        self.have_msi = False
        self.irq_requested = False
        self.active_vlans: set[int] = set()
        # Software counters (ixgb.h), Linux names.
        self.restart_queue = 0
        self.tx_timeout_count = 0
        self.hw_csum_rx_error = 0
        self.hw_csum_rx_good = 0
        self.hw_csum_tx_good = 0
        self.hw_csum_tx_error = 0
        self.alloc_rx_buff_failed = 0
        self.tx_hang_count = 0  # "Detected Tx Unit Hang" reports (not in Linux; for tests)
        # Accumulated hardware statistics (struct ixgb_hw_stats), keyed by the lower-case
        # register name of the low half: tprl, tprh, gprcl, ..., rjc.
        self.stats: dict[str, int] = {}

    @property
    def down(self) -> bool:
        return DOWN in self.flags

    def name(self) -> str:
        return self.netdev.name

    def log(self, level: str, msg: str) -> None:
        """netdev_info/netif_err: "ixgb <pci name> <ifname>: msg" into the kernel log."""
        netdev_printk(level, self.netdev, msg)
