"""minidriver: a complete, minimal driver for the 82597EX, in the order a driver runs.

What it does, and the Linux idiom each step copies (the full-size reference is
``driver/ixgb``, after ``drivers/net/ethernet/intel/ixgb``):

* **probe**: enable the PCI function and bus mastering, map BAR0, reset the MAC (CTRL0.RST),
  read the MAC address the part loaded from its EEPROM into RAL0/RAH0, register a
  net_device (``alloc_etherdev``, ``register_netdev``) with one NAPI instance.
* **open** (``ndo_open``): one TX and one RX ring of 256 descriptors in coherent DMA memory;
  every RX descriptor gets a buffer mapped from-device; TDBAL/TDLEN/TDH/TDT, RDBAL/RDLEN/
  RDH/RDT, the frame size (MFS, CTRL0.JFE for jumbo frames), TCTL and RCTL; ``request_irq``;
  interrupt moderation (RDTR, TIDV with IDE on every TX descriptor); IMS.
* **xmit** (``ndo_start_xmit``): copy the packet into a guest buffer (skbs are Python
  buffers here), map it to-device, one data descriptor with EOP|RS, ring the TDT doorbell;
  stop the queue when the ring cannot take another packet.
* **interrupt**: read ICR (which clears it), follow the link on LSC, mask everything
  (IMC = ~0) and schedule NAPI.
* **poll**: reclaim sent packets (DD: unmap, free, wake the queue), pass up to ``budget``
  received frames, give the RX buffers back with RDT, and unmask (IMS) only when it finished
  under budget, so a busy device is polled, not interrupted.
* **close** / **remove**: the reverse, leaving no mapping, allocation or IRQ behind.

It has no offloads (no checksum, TSO, scatter-gather or VLAN features), no ethtool, no
statistics beyond the interface counters, and no watchdog: the stack's TX watchdog calls
``ndo_tx_timeout``, which resets the device from the workqueue.  Every frame must fit one RX
buffer (the buffer size follows the MTU), as the device never chains RX descriptors.
"""

from __future__ import annotations

import errno
from typing import Any

from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import DMA_FROM_DEVICE, DMA_TO_DEVICE, IRQ_HANDLED, IRQ_NONE, PciDevice
from device.spec.ids import IXGB_DEVICE_ID_82597EX, PCI_VENDOR_ID_INTEL
from stack.core import (
    IFF_ALLMULTI,
    IFF_PROMISC,
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    NapiStruct,
    NetDevice,
    NetDeviceOps,
    Work,
    __napi_schedule,
    alloc_etherdev,
    dev_consume_skb_any,
    eth_hw_addr_set,
    eth_type_trans,
    free_netdev,
    is_valid_ether_addr,
    napi_complete_done,
    napi_disable,
    napi_enable,
    napi_gro_receive,
    napi_schedule_prep,
    netdev_alloc_skb_ip_align,
    netdev_mc_count,
    netif_carrier_off,
    netif_carrier_on,
    netif_napi_add,
    netif_napi_del,
    netif_queue_stopped,
    netif_running,
    netif_start_queue,
    netif_stop_queue,
    netif_wake_queue,
    register_netdev,
    schedule_work,
    unregister_netdev,
)

DRIVER_NAME = "minidriver"
RING_SIZE = 256  # descriptors per ring: 4 KiB, a multiple of 128 bytes as TDLEN/RDLEN need
NAPI_WEIGHT = 64
RX_DELAY = 72  # RDTR and TIDV, in 0.8192 us units (ixgb's defaults): interrupt moderation
TX_DELAY = 32
RX_ERRORS = D.RXD_ERR_CE | D.RXD_ERR_SE | D.RXD_ERR_P | D.RXD_ERR_RXE  # a bad frame
IRQ_CAUSES = R.INT_RXT0 | R.INT_RXDMT0 | R.INT_TXDW | R.INT_LSC
ETH_OVERHEAD = 14 + 4  # Ethernet header and FCS around the MTU
RX_BUFFER_SIZES = ((2048, R.RCTL_BSIZE_2048), (4096, R.RCTL_BSIZE_4096),
                   (8192, R.RCTL_BSIZE_8192), (16384, R.RCTL_BSIZE_16384))


class ProbeError(OSError):
    """probe refused the device; the message is the kernel log line."""


class Slot:
    """One descriptor's software side: its guest buffer, the live mapping, the packet."""

    __slots__ = ("buf", "dma", "length", "skb")

    def __init__(self) -> None:
        self.buf = 0  # guest-memory buffer (0: none)
        self.dma = 0  # its DMA mapping (0: unmapped)
        self.length = 0  # the mapped length
        self.skb: Any = None  # TX: the packet to free on completion


class Ring:
    """A descriptor ring: coherent memory at ``dma``, the CPU's view ``desc``, one Slot per
    descriptor, and the two software indices (Linux's next_to_use / next_to_clean)."""

    __slots__ = ("dma", "desc", "slots", "next_to_use", "next_to_clean")

    def __init__(self, pdev: PciDevice) -> None:
        self.dma = pdev.dma_alloc_coherent(RING_SIZE * D.DESC_SIZE)
        self.desc = pdev.mem.slice(self.dma, RING_SIZE * D.DESC_SIZE)
        self.slots = [Slot() for _ in range(RING_SIZE)]
        self.next_to_use = 0
        self.next_to_clean = 0

    def unused(self) -> int:
        """Free descriptors, one kept empty so that a full ring differs from an empty one."""
        return (self.next_to_clean - self.next_to_use - 1) % RING_SIZE


class Mini:
    """The driver's private state (``netdev_priv``)."""

    def __init__(self, kernel: Any, netdev: NetDevice, pdev: PciDevice) -> None:
        self.kernel = kernel
        self.netdev = netdev
        self.pdev = pdev
        self.mem = pdev.mem
        self.regs = pdev.iomap(0)  # BAR0: read32 / write32, the only way to the device
        self.napi = NapiStruct()
        self.tx: Ring | None = None
        self.rx: Ring | None = None
        self.rx_buffer_len = 2048
        self.reset_task = Work(kernel, lambda work: reset_task(self), f"{DRIVER_NAME} reset")


# -- probe and remove ---------------------------------------------------------------------------
def match(pci_dev: PciDevice) -> bool:
    """The one part this driver knows: an Intel 82597EX."""
    return (pci_dev.vendor, pci_dev.device) == (PCI_VENDOR_ID_INTEL, IXGB_DEVICE_ID_82597EX)


def probe(kernel: Any, pdev: PciDevice, **params: Any) -> NetDevice:
    """Bind to ``pdev``: PCI, reset, MAC address, net_device.  ProbeError leaves nothing."""
    if params:
        raise TypeError(f"{DRIVER_NAME} has no module parameters: {', '.join(params)}")
    if not match(pdev):
        raise ProbeError(errno.ENODEV, f"{DRIVER_NAME} {pdev.name}: not an 82597EX")
    pdev.enable_device()  # memory decoding: MMIO works
    pdev.set_master()  # bus mastering: the device may DMA
    netdev = alloc_etherdev(kernel)
    mini = Mini(kernel, netdev, pdev)
    netdev.priv = mini
    netdev.parent = pdev
    netdev.driver_name = DRIVER_NAME
    netdev.irq = pdev.irq
    hw_reset(mini)
    # The MAC loads receive address 0 from EEPROM words 0-2 at reset: RAL0 holds bytes 0-3,
    # RAH0 bytes 4-5 and the Address Valid bit (little-endian, docs/hardware.md §1.3).
    ral, rah = mini.regs.read32(R.RAL(0)), mini.regs.read32(R.RAH(0))
    mac = ral.to_bytes(4, "little") + (rah & 0xFFFF).to_bytes(2, "little")
    if not rah & R.RAH_AV or not is_valid_ether_addr(mac):
        message = f"{DRIVER_NAME} {pdev.name}: invalid MAC address {mac.hex(':')}"
        kernel.log("err", message)
        free_netdev(netdev)
        pdev.disable_device()
        raise ProbeError(errno.EIO, message)
    eth_hw_addr_set(netdev, mac)
    netdev.netdev_ops = NETDEV_OPS
    netdev.min_mtu = 68
    netdev.max_mtu = R.MAX_JUMBO_FRAME_SIZE - 14  # 16114: the largest frame the MAC takes
    netdev.watchdog_timeo = 5_000_000_000  # the stack's TX watchdog: 5 s, as ixgb
    netdev.name = "eth%d"  # register_netdev picks the number
    netif_napi_add(netdev, mini.napi, poll, NAPI_WEIGHT)
    err = register_netdev(netdev)
    if err:
        netif_napi_del(mini.napi)
        free_netdev(netdev)
        pdev.disable_device()
        raise ProbeError(errno.EIO, f"{DRIVER_NAME} {pdev.name}: register_netdev: {err}")
    netif_carrier_off(netdev)
    kernel.log("info", f"{DRIVER_NAME} {pdev.name} {netdev.name}: {mac.hex(':')}")
    return netdev


def remove(netdev: NetDevice) -> None:
    """Undo probe: unregister (which closes an open device), free, disable the function."""
    mini: Mini = netdev.priv
    unregister_netdev(netdev)
    free_netdev(netdev)
    mini.pdev.disable_device()


def hw_reset(mini: Mini) -> None:
    """Global reset: every register to its default, DMA stopped, interrupts masked."""
    regs = mini.regs
    regs.write32(R.IMC, 0xFFFFFFFF)
    regs.write32(R.CTRL0, R.CTRL0_RST)  # self-clearing; the model resets at once
    regs.write32(R.IMC, 0xFFFFFFFF)
    regs.read32(R.ICR)  # drop the causes raised during reset


# -- open and close ------------------------------------------------------------------------------
def open_(netdev: NetDevice) -> int:
    """ndo_open: rings and buffers, the device programmed, the IRQ requested, interrupts on."""
    mini: Mini = netdev.priv
    regs = mini.regs
    pdev = mini.pdev
    max_frame = netdev.mtu + ETH_OVERHEAD
    mini.rx_buffer_len, bsize = next(s for s in RX_BUFFER_SIZES if s[0] >= max_frame)
    try:
        mini.tx = tx = Ring(pdev)
        mini.rx = rx = Ring(pdev)
        for slot in rx.slots:
            slot.buf = mini.mem.alloc(mini.rx_buffer_len)
    except MemoryError:
        free_rings(mini)
        return -errno.ENOMEM
    # TX: base, length, head = tail = 0 (empty), moderation, then enable with padding.
    regs.write32(R.TDBAL, tx.dma & 0xFFFFFFFF)
    regs.write32(R.TDBAH, tx.dma >> 32)
    regs.write32(R.TDLEN, RING_SIZE * D.DESC_SIZE)
    regs.write32(R.TDH, 0)
    regs.write32(R.TDT, 0)
    regs.write32(R.TIDV, TX_DELAY)
    regs.write32(R.TCTL, R.TCTL_TCE | R.TCTL_TXEN | R.TCTL_TPDE)
    # RX: frame size, base, length, every buffer posted, then enable.
    regs.write32(R.MFS, max_frame << R.MFS_SHIFT)
    if max_frame > 1518:
        regs.write32(R.CTRL0, regs.read32(R.CTRL0) | R.CTRL0_JFE)
    regs.write32(R.RDTR, RX_DELAY)
    regs.write32(R.RDBAL, rx.dma & 0xFFFFFFFF)
    regs.write32(R.RDBAH, rx.dma >> 32)
    regs.write32(R.RDLEN, RING_SIZE * D.DESC_SIZE)
    regs.write32(R.RDH, 0)
    for i in range(RING_SIZE):
        post_rx_buffer(mini, rx, i)
    regs.write32(R.RDT, RING_SIZE - 1)  # hardware owns [RDH, RDT): all but one slot
    regs.write32(R.RCTL, R.RCTL_RXEN | R.RCTL_BAM | R.RCTL_SECRC | bsize)
    set_rx_mode(netdev)
    try:
        pdev.request_irq(lambda irq: interrupt(mini, irq), netdev.name)
    except RuntimeError:
        hw_reset(mini)
        free_rings(mini)
        return -errno.EBUSY
    napi_enable(mini.napi)
    regs.write32(R.IMS, IRQ_CAUSES)
    if regs.read32(R.STATUS) & R.STATUS_LU:
        netif_carrier_on(netdev)
    netif_start_queue(netdev)
    return 0


def close(netdev: NetDevice) -> int:
    """ndo_stop: interrupts off, IRQ freed, NAPI stopped, device reset, buffers freed."""
    mini: Mini = netdev.priv
    netif_stop_queue(netdev)
    netif_carrier_off(netdev)
    mini.regs.write32(R.IMC, 0xFFFFFFFF)
    mini.pdev.synchronize_irq()
    mini.pdev.free_irq()
    napi_disable(mini.napi)
    hw_reset(mini)  # DMA stops before the buffers it might touch are unmapped
    free_rings(mini)
    return 0


def free_rings(mini: Mini) -> None:
    """Unmap and free every buffer, drop unsent packets, free the ring memory."""
    for ring, direction in ((mini.tx, DMA_TO_DEVICE), (mini.rx, DMA_FROM_DEVICE)):
        if ring is None:
            continue
        for slot in ring.slots:
            if slot.dma:
                mini.pdev.dma_unmap_single(slot.dma, slot.length, direction)
            if slot.buf:
                mini.mem.free(slot.buf)
            if slot.skb is not None:
                dev_consume_skb_any(slot.skb)
        mini.pdev.dma_free_coherent(ring.dma)
    mini.tx = mini.rx = None


def reset_task(mini: Mini) -> None:
    """From the workqueue: close and reopen, the recovery for a stuck transmitter."""
    if netif_running(mini.netdev):
        close(mini.netdev)
        open_(mini.netdev)


def tx_timeout(netdev: NetDevice, txqueue: int) -> None:
    """ndo_tx_timeout (the stack's TX watchdog, in timer context): reset from process context."""
    schedule_work(netdev.priv.reset_task)


def change_mtu(netdev: NetDevice, new_mtu: int) -> int:
    """ndo_change_mtu: the RX buffer size and MFS follow the MTU, so reopen a running device."""
    running = netif_running(netdev)
    if running:
        close(netdev)
    netdev.mtu = new_mtu
    return open_(netdev) if running else 0


def set_rx_mode(netdev: NetDevice) -> None:
    """ndo_set_rx_mode: unicast promiscuous (UPE) and all multicast (MPE).  With no hash
    table programmed, any multicast subscription turns MPE on: more frames, never fewer."""
    mini: Mini = netdev.priv
    rctl = mini.regs.read32(R.RCTL) & ~(R.RCTL_UPE | R.RCTL_MPE)
    if netdev.flags & IFF_PROMISC:
        rctl |= R.RCTL_UPE | R.RCTL_MPE
    elif netdev.flags & IFF_ALLMULTI or netdev_mc_count(netdev):
        rctl |= R.RCTL_MPE
    mini.regs.write32(R.RCTL, rctl)


# -- transmit ------------------------------------------------------------------------------------
def xmit(skb: Any, netdev: NetDevice) -> int:
    """ndo_start_xmit: one packet, one buffer, one descriptor, one doorbell."""
    mini: Mini = netdev.priv
    tx = mini.tx
    assert tx is not None
    if tx.unused() < 1:
        netif_stop_queue(netdev)
        return NETDEV_TX_BUSY  # the stack requeues it
    i = tx.next_to_use
    slot = tx.slots[i]
    length = skb.len
    slot.buf = mini.mem.alloc(length)
    mini.mem.write(slot.buf, skb.head[skb.data : skb.data + length])
    slot.dma = mini.pdev.dma_map_single(slot.buf, length, DMA_TO_DEVICE)
    slot.length = length
    slot.skb = skb
    cmd = D.TXD_TYPE_DATA | D.TXD_CMD_EOP | D.TXD_CMD_RS | D.TXD_CMD_IDE | length
    D.TX_DESC.pack_into(tx.desc, i * D.DESC_SIZE, slot.dma, cmd, 0, 0, 0)
    tx.next_to_use = (i + 1) % RING_SIZE
    mini.regs.write32(R.TDT, tx.next_to_use)  # the device fetches in its own event
    if tx.unused() < 1:
        netif_stop_queue(netdev)  # woken by clean_tx once a completion frees a slot
    return NETDEV_TX_OK


def clean_tx(mini: Mini) -> None:
    """Reclaim every descriptor the device wrote back (DD): unmap, free, count, wake."""
    tx = mini.tx
    assert tx is not None
    stats = mini.netdev.stats
    i = tx.next_to_clean
    while i != tx.next_to_use and tx.desc[i * D.DESC_SIZE + 12] & D.TXD_STAT_DD:
        slot = tx.slots[i]
        mini.pdev.dma_unmap_single(slot.dma, slot.length, DMA_TO_DEVICE)
        mini.mem.free(slot.buf)
        stats.tx_packets += 1
        stats.tx_bytes += slot.length
        dev_consume_skb_any(slot.skb)
        slot.buf = slot.dma = slot.length = 0
        slot.skb = None
        tx.desc[i * D.DESC_SIZE + 12] = 0
        i = (i + 1) % RING_SIZE
    tx.next_to_clean = i
    if netif_queue_stopped(mini.netdev) and tx.unused() >= 1:
        netif_wake_queue(mini.netdev)


# -- receive -------------------------------------------------------------------------------------
def post_rx_buffer(mini: Mini, rx: Ring, i: int) -> None:
    """Map slot ``i``'s buffer from-device and write its address into the descriptor."""
    slot = rx.slots[i]
    slot.dma = mini.pdev.dma_map_single(slot.buf, mini.rx_buffer_len, DMA_FROM_DEVICE)
    slot.length = mini.rx_buffer_len
    D.RX_DESC.pack_into(rx.desc, i * D.DESC_SIZE, slot.dma, 0, 0, 0, 0, 0)


def clean_rx(mini: Mini, budget: int) -> int:
    """Pass up to ``budget`` frames to the stack; each buffer is copied out and re-posted."""
    rx = mini.rx
    assert rx is not None
    netdev = mini.netdev
    i = rx.next_to_clean
    done = 0
    while done < budget:
        off = i * D.DESC_SIZE
        length, _csum, status, errors, _special = D.RX_WB.unpack_from(rx.desc, off + 8)
        if not status & D.RXD_STAT_DD:
            break  # read the write-back only after DD says it is complete
        slot = rx.slots[i]
        mini.pdev.dma_unmap_single(slot.dma, slot.length, DMA_FROM_DEVICE)
        slot.dma = 0
        if status & D.RXD_STAT_EOP and not errors & RX_ERRORS:
            skb = netdev_alloc_skb_ip_align(netdev, length)
            skb.put_data(mini.mem.slice(slot.buf, length))
            skb.protocol = eth_type_trans(skb, netdev)
            netdev.stats.rx_packets += 1
            netdev.stats.rx_bytes += length
            napi_gro_receive(mini.napi, skb)
        else:
            netdev.stats.rx_errors += 1
        post_rx_buffer(mini, rx, i)  # same buffer again: its contents were copied
        i = (i + 1) % RING_SIZE
        done += 1
    if done:
        rx.next_to_clean = i
        mini.regs.write32(R.RDT, (i - 1) % RING_SIZE)  # the slot before next_to_clean stays
    return done


# -- interrupt and NAPI --------------------------------------------------------------------------
def interrupt(mini: Mini, irq: int) -> int:
    """The hard-IRQ handler: ICR read-to-clear, link, mask, schedule the poll."""
    icr = mini.regs.read32(R.ICR)
    if not icr:
        return IRQ_NONE  # not ours (a shared line)
    if icr & R.INT_LSC:
        if mini.regs.read32(R.STATUS) & R.STATUS_LU:
            netif_carrier_on(mini.netdev)
        else:
            netif_carrier_off(mini.netdev)
    if napi_schedule_prep(mini.napi):
        mini.regs.write32(R.IMC, 0xFFFFFFFF)  # quiet until the poll is done
        __napi_schedule(mini.napi)
    return IRQ_HANDLED


def poll(napi: Any, budget: int) -> int:
    """NAPI poll: TX completions, then RX within budget; unmask only under budget."""
    mini: Mini = napi.dev.priv
    clean_tx(mini)
    done = clean_rx(mini, budget)
    if done < budget and napi_complete_done(napi, done):
        mini.regs.write32(R.IMS, IRQ_CAUSES)
    return done


class MiniNetdevOps(NetDeviceOps):
    ndo_open = staticmethod(open_)
    ndo_stop = staticmethod(close)
    ndo_start_xmit = staticmethod(xmit)
    ndo_set_rx_mode = staticmethod(set_rx_mode)
    ndo_change_mtu = staticmethod(change_mtu)
    ndo_tx_timeout = staticmethod(tx_timeout)


NETDEV_OPS = MiniNetdevOps()
