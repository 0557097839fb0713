"""A dummy NIC driver for the netdev core's tests (Linux's ``drivers/net/dummy.c``, with knobs).

``DummyHost`` is one host: a scheduler, a kernel and one registered ``eth0`` whose driver
- records every transmitted frame (bytes, ``xmit_more``, time) and frees the skb, or answers
  NETDEV_TX_BUSY after ``accept`` more frames (stopping its queue unless told not to), or loops
  frames back through ``netif_rx`` (``loopback=True``);
- has a NAPI receive "ring": ``deliver(frames)`` puts frames in it and raises the interrupt as
  an event; the IRQ handler masks itself and schedules NAPI; the poll receives up to its budget
  with ``eth_type_trans`` + ``netif_receive_skb`` and unmasks when it completes.
The ``test_core_*`` files and ``test_gro`` use it; ``tests/test_core_dummy.py`` checks it.
"""

from __future__ import annotations

import struct
from collections import deque

from ixsim.sched import Scheduler
from stack.core import (
    ETH_P_IP,
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    EthtoolDrvinfo,
    EthtoolOps,
    Kernel,
    NapiStruct,
    NetDevice,
    NetDeviceOps,
    PacketType,
    SkBuff,
    alloc_etherdev,
    alloc_skb,
    dev_consume_skb_any,
    dev_open,
    dev_queue_xmit,
    eth_hw_addr_set,
    eth_mac_addr,
    eth_type_trans,
    napi_complete_done,
    napi_enable,
    napi_schedule_prep,
    napi_schedule_prepped,
    netdev_alloc_skb,
    netif_napi_add,
    netif_receive_skb,
    netif_rx,
    netif_start_queue,
    netif_stop_queue,
    register_netdev,
)

MAC_A = bytes.fromhex("02000000000a")
MAC_B = bytes.fromhex("02000000000b")
BCAST = b"\xff" * 6


def frame(dst: bytes = MAC_A, src: bytes = MAC_B, proto: int = ETH_P_IP,
          payload: bytes = b"\x45" + bytes(45)) -> bytes:
    return dst + src + struct.pack("!H", proto) + payload


class DummyOps(NetDeviceOps):
    def __init__(self, host: DummyHost) -> None:
        self.host = host
        self.sent: list[tuple[bytes, bool, int]] = []  # (frame, xmit_more, time)
        self.accept: int | None = None  # frames to take before answering BUSY
        self.stop_on_busy = True
        self.loopback = False
        self.calls: list[str] = []
        self.timeouts: list[tuple[int, int]] = []
        self.rx_modes: list[tuple[int, list[bytes]]] = []
        self.open_ret = 0

    def ndo_open(self, dev: NetDevice) -> int:
        self.calls.append("open")
        if self.open_ret:
            return self.open_ret
        napi_enable(self.host.napi)
        netif_start_queue(dev)
        return 0

    def ndo_stop(self, dev: NetDevice) -> int:
        self.calls.append("stop")
        return 0

    def ndo_start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        if self.accept is not None:
            if self.accept == 0:
                if self.stop_on_busy:
                    netif_stop_queue(dev)
                return NETDEV_TX_BUSY
            self.accept -= 1
        self.sent.append((skb.tobytes(), skb.xmit_more, dev.kernel.sched.now))
        if self.loopback:
            rx = netdev_alloc_skb(dev, len(skb))
            rx.put_data(skb.view())
            eth_type_trans(rx, dev)
            netif_rx(rx)
        dev_consume_skb_any(skb)
        return NETDEV_TX_OK

    def ndo_set_rx_mode(self, dev: NetDevice) -> None:
        self.rx_modes.append((dev.flags, list(dev.mc)))

    def ndo_change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        self.calls.append(f"mtu {new_mtu}")
        dev.mtu = new_mtu
        return 0

    def ndo_set_mac_address(self, dev: NetDevice, addr: bytes) -> int:
        return eth_mac_addr(dev, addr)

    def ndo_tx_timeout(self, dev: NetDevice, txqueue: int) -> None:
        self.timeouts.append((dev.kernel.sched.now, txqueue))


class DummyEthtool(EthtoolOps):
    def get_drvinfo(self, dev: NetDevice) -> EthtoolDrvinfo:
        return EthtoolDrvinfo(driver="dummy", version="1.0", bus_info="0000:00:03.0")


class DummyHost:
    """One host with one dummy eth0 (registered, not yet up)."""

    def __init__(self, seed: int = 1, hostname: str = "a", weight: int = 64) -> None:
        self.sched = Scheduler(seed=seed)
        self.kernel = Kernel(self.sched, hostname)
        self.dev = alloc_etherdev(self.kernel, priv_factory=lambda dev: self)
        self.ops = DummyOps(self)
        self.dev.netdev_ops = self.ops
        self.dev.ethtool_ops = DummyEthtool()
        eth_hw_addr_set(self.dev, MAC_A)
        self.napi = netif_napi_add(self.dev, NapiStruct(), self.poll, weight)
        self.rx_ring: deque[bytes] = deque()
        self.irq_enabled = True
        self.irqs = 0
        self.poll_log: list[tuple[int, int]] = []  # (events_run at poll time, work)
        self.received: list[SkBuff] = []
        assert register_netdev(self.dev) == 0

    # -- the "hardware" side ---------------------------------------------------------------
    def deliver(self, frames: list[bytes]) -> None:
        """Frames land in the RX ring; the interrupt fires as an event if unmasked."""
        self.rx_ring.extend(frames)
        if self.irq_enabled:
            self.sched.call_soon(self.interrupt)

    def interrupt(self) -> None:
        """The hard-IRQ handler: mask, schedule NAPI, never poll inline."""
        self.irqs += 1
        if napi_schedule_prep(self.napi):
            self.irq_enabled = False
            napi_schedule_prepped(self.napi)

    def poll(self, napi: NapiStruct, budget: int) -> int:
        work = 0
        while work < budget and self.rx_ring:
            data = self.rx_ring.popleft()
            skb = netdev_alloc_skb(self.dev, len(data))
            skb.put_data(data)
            eth_type_trans(skb, self.dev)
            netif_receive_skb(skb)
            work += 1
        self.poll_log.append((self.sched.events_run, work))
        if work < budget and napi_complete_done(napi, work):
            self.irq_enabled = True
            if self.rx_ring:  # frames that came in while masked raise the line again
                self.sched.call_soon(self.interrupt)
        return work

    # -- the stack side ---------------------------------------------------------------------
    def up(self) -> None:
        assert dev_open(self.dev) == 0
        self.settle()

    def settle(self) -> None:
        """Run every event due now (softirqs, link watch, work)."""
        self.sched.run_for(0)

    def xmit(self, data: bytes, priority: int = 0) -> int:
        skb = alloc_skb(self.kernel, len(data) + 64)
        skb.reserve(64)
        skb.put_data(data)
        skb.dev = self.dev
        skb.priority = priority
        return dev_queue_xmit(skb)

    def catch(self, proto: int = ETH_P_IP) -> PacketType:
        """A protocol handler that keeps what it receives in ``self.received``."""

        def rcv(skb: SkBuff, dev: NetDevice, pt: PacketType, orig: NetDevice) -> int:
            self.received.append(skb)
            return 0

        pt = PacketType(proto, rcv)
        self.kernel.dev_add_pack(pt)
        return pt
