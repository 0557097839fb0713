"""Ethernet switches and hubs: a learning bridge like Linux's, and a repeater.

Mirrors Linux's ``net/bridge``: ``br_input.c`` (``br_handle_frame_finish``: learn the source,
look the destination up, forward or flood), ``br_fdb.c`` (the forwarding database, its ageing
sweep ``br_fdb_cleanup`` and ``bridge fdb show``), ``br_forward.c`` (``br_flood``: every port
but the ingress one, only ports that may send) and ``br_vlan.c`` (``br_allowed_ingress``,
``br_allowed_egress``, PVID and egress-untagged membership).  A :class:`Switch` is a device
element beside :class:`~device.cable.Cable`: its ports are :class:`~device.port.Port` objects
that cables plug into, and it sees frames only as they arrive on them.

Contract:

* **Forwarding takes no virtual time of its own.** A frame is forwarded in the delivery
  event of the ingress cable, at the end of its serialization on that cable (a
  store-and-forward switch with zero processing latency); the egress cable then serializes
  it again at its rate and adds its latency.  The frame reaches the next port from the
  egress cable's own scheduled event, never from inside the ingress delivery.
* **Learning and ageing** (``br_fdb_update``, ``br_fdb_cleanup``): every frame with a valid
  (unicast, non-zero) source address teaches the FDB where that address lives, per VLAN when
  VLAN filtering is on.  A dynamic entry expires ``ageing`` after the last frame that
  refreshed it (300 s by default, Linux's ``BR_DEFAULT_AGEING_TIME``), on virtual time: one
  sweep event is pending while dynamic entries exist, at the earliest expiry, and a lookup
  never uses an expired entry.  ``ageing=0`` makes learned entries permanent (no sweep),
  the meaning Linux's "bridge: allow zero ageing time" keeps for its users.  Static entries
  (``fdb_add``) never age.  When a port loses link its dynamic entries are flushed
  (``br_fdb_delete_by_port`` on port disable).
* **Flooding** (``br_flood``): broadcast, multicast and unicast to an unknown address go to
  every port whose link is up and that is a member of the frame's VLAN, except the ingress
  port.  A known unicast whose entry points back at the ingress port is discarded.  The
  802.1D reserved group addresses ``01:80:c2:00:00:01``-``0f`` (pause, LACP, LLDP, 802.1X,
  ...) are never forwarded; ``01:80:c2:00:00:00`` (STP BPDUs) is, as on a Linux bridge with
  STP off.
* **No STP.** A switch runs no spanning tree: two cables between two switches (or any
  cycle) make a forwarding loop, exactly as on a Linux bridge with ``stp_state 0``; avoiding
  it is the user's job.  So that a loop cannot spin the world forever, the world's switches
  and hubs share a :class:`~device.l2element.LoopGuard` that follows frames out of band:
  a copy that has already crossed ``max_hops`` bridges (16) is dropped, and so is any copy
  beyond the ``max_copies`` (1024) that one original frame may send between bridges in all
  (a storm that multiplies, as three parallel cables make, would outrun a hop limit).  Drops are
  counted in ``loop_dropped`` and reported once per switch as a fault (``w.faults``;
  ``World(strict=True)`` raises it).  The record travels with the frame object, so a cable
  stage that rewrites a frame (``corrupt``) starts it afresh.  The guard has no counterpart
  in Linux or in real hardware, and touches no frame that goes between a bridge and a NIC.
* **VLAN filtering** (802.1Q, TPID 0x8100) when the switch is created with
  ``vlan_filtering=True``: every port starts as an untagged member of VLAN 1 with PVID 1
  (Linux's ``default_pvid``); ``port(i, vlan=10)`` makes port ``i`` an access port (untagged
  member of VLAN 10, PVID 10), ``port(i, trunk=[10, 20])`` a tagged member of both with no
  PVID (untagged frames are dropped), and both together a trunk with a native VLAN.
  Ingress: an untagged or priority-tagged (VID 0) frame gets the port's PVID, a tagged frame
  is admitted only if the port is a member of its VLAN; otherwise it is dropped and counted
  in ``rx_vlan_filtered``.  Egress: a frame leaves tagged or untagged by the egress port's
  membership, keeping the PCP it came in with.  Without VLAN filtering tags are not looked
  at and frames are forwarded unchanged.
* **Counters** per port (:meth:`SwitchPort.counters`): the PHY's rx/tx packets and bytes
  and drops without link, plus the bridge's drops by reason; :meth:`Switch.counters` sums
  them and adds learning and forwarding totals.  Frames offered to a port whose link is
  down are counted by its PHY (``tx_dropped_link_down``).
* **Hub** (:class:`~device.hub.Hub`, re-exported here): a repeater.  Every frame that
  arrives on a port goes out of every other port with link up, unchanged, with no learning
  and no VLANs; the loop guard applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from device.faults import FaultLog
from device.hub import Hub, HubPort
from device.l2element import (
    DEFAULT_MAX_COPIES,
    DEFAULT_MAX_HOPS,
    MAX_PORTS,
    Element,
    Family,
    LoopGuard,
    format_mac,
)
from device.port import Port
from device.trace import PendingEvent
from device.units import NS_PER_S

__all__ = [
    "DEFAULT_AGEING_NS", "DEFAULT_MAX_COPIES", "DEFAULT_MAX_HOPS", "MAX_PORTS", "Family",
    "FdbEntry", "FdbTable", "Hub", "HubPort", "LoopGuard", "Switch", "SwitchPort",
    "check_vid", "format_mac", "parse_mac",
]

TPID_8021Q = 0x8100
VLAN_VID_MASK = 0x0FFF
VLAN_MIN = 1
VLAN_MAX = 4094
DEFAULT_PVID = 1
DEFAULT_AGEING_NS = 300 * NS_PER_S  # BR_DEFAULT_AGEING_TIME
_NEVER = 1 << 62  # the hold time of ageing 0: past any virtual time a run reaches
ETH_ZLEN = 60  # the minimum frame without FCS

_ZERO_MAC = bytes(6)
_LINK_LOCAL_PREFIX = b"\x01\x80\xc2\x00\x00"

PORT_COUNTERS = (
    "rx_packets",
    "rx_bytes",
    "tx_packets",
    "tx_bytes",
    "rx_dropped_link_down",
    "tx_dropped_link_down",
    "rx_vlan_filtered",
    "tx_vlan_filtered",
    "rx_invalid",
    "rx_link_local",
    "same_port",
    "loop_dropped",
)


def parse_mac(text: str | bytes) -> bytes:
    """``"02:00:00:00:01:00"`` (or 6 raw bytes) -> 6 bytes; a clear ValueError otherwise."""
    if isinstance(text, bytes):
        if len(text) != 6:
            raise ValueError(f"a MAC address is 6 bytes, got {len(text)}")
        return text
    parts = str(text).replace("-", ":").split(":")
    try:
        if len(parts) != 6 or any(len(p) not in (1, 2) for p in parts):
            raise ValueError
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"not a MAC address: {text!r} (use e.g. 02:00:00:00:01:00)") from None


def check_vid(vid: Any) -> int:
    if isinstance(vid, bool) or not isinstance(vid, int) or not VLAN_MIN <= vid <= VLAN_MAX:
        raise ValueError(f"a VLAN ID is an int from {VLAN_MIN} to {VLAN_MAX}, got {vid!r}")
    return vid


class FdbEntry(NamedTuple):
    """One forwarding database entry as ``bridge fdb show`` prints it (``str(entry)``)."""

    mac: str
    dev: str  # the port's name, "port3"
    port: int
    vlan: int | None  # None on a switch without VLAN filtering
    static: bool
    master: str  # the switch's name
    updated_ns: int  # when a frame last refreshed it (the time it was added, if static)

    def __str__(self) -> str:
        vlan = f" vlan {self.vlan}" if self.vlan is not None else ""
        flag = " static" if self.static else ""
        return f"{self.mac} dev {self.dev}{vlan} master {self.master}{flag}"


class FdbTable(list):
    """A list of :class:`FdbEntry`; ``str()`` is the ``bridge fdb show`` text."""

    def __str__(self) -> str:
        return "\n".join(str(entry) for entry in self)

    def lookup(self, mac: str | bytes, vlan: int | None = None) -> FdbEntry | None:
        text = format_mac(parse_mac(mac))
        for entry in self:
            if entry.mac == text and (vlan is None or entry.vlan == vlan):
                return entry
        return None


class _Fdb:
    """The mutable entry behind an :class:`FdbEntry` (``struct net_bridge_fdb_entry``)."""

    __slots__ = ("dst", "updated", "static")

    def __init__(self, dst: SwitchPort, updated: int, static: bool) -> None:
        self.dst = dst
        self.updated = updated
        self.static = static


class SwitchPort:
    """One port of a switch: its PHY (``.port``, what a cable plugs into) and its VLANs.

    ``w.cable(host.eth0, sw.port(0))`` accepts it as a cable end.  ``vlans`` maps each VLAN
    the port is a member of to True when it leaves untagged; ``pvid`` is the VLAN untagged
    ingress frames get (None: they are dropped).
    """

    __slots__ = (
        "switch",
        "index",
        "name",
        "port",
        "pvid",
        "vlans",
        "to_bridge",
        "rx_vlan_filtered",
        "tx_vlan_filtered",
        "rx_invalid",
        "rx_link_local",
        "same_port",
        "loop_dropped",
    )

    def __init__(self, switch: Any, index: int, port: Port) -> None:
        self.switch = switch
        self.index = index
        self.name = f"port{index}"
        self.port = port
        self.pvid: int | None = DEFAULT_PVID
        self.vlans: dict[int, bool] = {DEFAULT_PVID: True}
        self.to_bridge = False  # its cable leads to another bridge: mark what goes out
        self.rx_vlan_filtered = 0
        self.tx_vlan_filtered = 0
        self.rx_invalid = 0
        self.rx_link_local = 0
        self.same_port = 0
        self.loop_dropped = 0

    def __repr__(self) -> str:
        state = "up" if self.port.link_up else "down"
        return f"<SwitchPort {self.switch.name}:{self.name} {state}>"

    @property
    def link_up(self) -> bool:
        return self.port.link_up

    @property
    def trunk(self) -> list[int]:
        """The VLANs this port carries tagged."""
        return sorted(vid for vid, untagged in self.vlans.items() if not untagged)

    def counters(self) -> dict[str, int]:
        phy = self.port
        return {
            "rx_packets": phy.rx_frames,
            "rx_bytes": phy.rx_bytes,
            "tx_packets": phy.tx_frames,
            "tx_bytes": phy.tx_bytes,
            "rx_dropped_link_down": phy.rx_dropped_link_down,
            "tx_dropped_link_down": phy.tx_dropped_link_down,
            "rx_vlan_filtered": self.rx_vlan_filtered,
            "tx_vlan_filtered": self.tx_vlan_filtered,
            "rx_invalid": self.rx_invalid,
            "rx_link_local": self.rx_link_local,
            "same_port": self.same_port,
            "loop_dropped": self.loop_dropped,
        }


class Switch(Element):
    """A learning Ethernet bridge with ``ports`` ports (see the module docstring)."""

    kind = "switch"
    port_class = SwitchPort

    def __init__(
        self,
        sched: Any,
        name: str,
        ports: int = 8,
        vlan_filtering: bool = False,
        ageing_ns: int = DEFAULT_AGEING_NS,
        guard: LoopGuard | None = None,
        faults: FaultLog | None = None,
    ) -> None:
        if isinstance(ageing_ns, bool) or not isinstance(ageing_ns, int) or ageing_ns < 0:
            raise ValueError(f"switch {name}: ageing must be a non-negative duration, "
                             f"got {ageing_ns!r}")
        if not isinstance(vlan_filtering, bool):
            raise ValueError(f"switch {name}: vlan_filtering must be True or False, "
                             f"got {vlan_filtering!r}")
        self.vlan_filtering = vlan_filtering
        self.ageing_ns = ageing_ns
        self._hold = ageing_ns or _NEVER  # hold_time(): how long a dynamic entry lives
        self._fdb: dict[tuple[bytes, int], _Fdb] = {}
        self._gc: Any = None
        self.learned = 0
        self.moved = 0
        self.aged = 0
        self.flushed = 0
        self.forwarded = 0
        self.flooded = 0
        super().__init__(sched, name, ports, guard, faults)

    def __repr__(self) -> str:
        vlan = " vlan_filtering" if self.vlan_filtering else ""
        return f"<Switch {self.name} {len(self._ports)} ports{vlan} fdb={len(self._fdb)}>"

    # -- configuration ------------------------------------------------------------------
    def port(self, index: int, vlan: int | None = None,
             trunk: Iterable[int] | None = None) -> SwitchPort:
        """Port ``index`` (a cable end); with ``vlan``/``trunk``, set its VLAN membership.

        ``vlan=10``: untagged member of VLAN 10 with PVID 10 (an access port).
        ``trunk=[10, 20]``: tagged member of both; untagged frames are dropped unless
        ``vlan`` is also given (the native VLAN).  Either replaces the port's membership
        (the default is untagged VLAN 1) and flushes its dynamic FDB entries.
        """
        sp = self._port_at(index)
        if vlan is None and trunk is None:
            return sp
        if not self.vlan_filtering:
            raise ValueError(f"switch {self.name}: port VLANs need "
                             f"w.switch({self.name!r}, ..., vlan_filtering=True)")
        vlans: dict[int, bool] = {}
        if trunk is not None:
            if isinstance(trunk, int):
                trunk = [trunk]
            for vid in trunk:
                vlans[check_vid(vid)] = False
        pvid = None
        if vlan is not None:
            pvid = check_vid(vlan)
            if pvid in vlans:
                raise ValueError(f"switch {self.name} {sp.name}: VLAN {pvid} cannot be both "
                                 f"the untagged vlan and in trunk")
            vlans[pvid] = True
        if not vlans:
            raise ValueError(f"switch {self.name} {sp.name}: trunk needs at least one VLAN")
        sp.vlans = vlans
        sp.pvid = pvid
        self.fdb_flush(index)
        return sp

    def vlan_show(self) -> str:
        """The port VLAN table as ``bridge vlan show`` prints it."""
        lines = ["port     vlan-id"]
        for sp in self._ports:
            first = True
            for vid in sorted(sp.vlans):
                flags = (" PVID" if vid == sp.pvid else "") + (
                    " Egress Untagged" if sp.vlans[vid] else "")
                lines.append(f"{sp.name if first else '':<8} {vid}{flags}")
                first = False
        return "\n".join(lines)

    # -- the forwarding database --------------------------------------------------------
    def fdb(self) -> FdbTable:
        """Every live entry, in ``bridge fdb show`` order (by port, then address)."""
        now = self.sched.now
        out = FdbTable()
        for (mac, vid), entry in self._fdb.items():
            if not entry.static and entry.updated + self._hold <= now:
                continue
            out.append(FdbEntry(format_mac(mac), entry.dst.name, entry.dst.index,
                                vid if self.vlan_filtering else None, entry.static,
                                self.name, entry.updated))
        out.sort(key=lambda e: (e.port, e.vlan or 0, e.mac))
        return out

    def fdb_add(self, mac: str | bytes, port: int, vlan: int | None = None) -> None:
        """A static entry (``bridge fdb add MAC dev portN master static``): never ages."""
        sp = self._port_at(port)
        vid = self._fdb_vid(vlan)
        self._fdb[(parse_mac(mac), vid)] = _Fdb(sp, self.sched.now, True)

    def fdb_del(self, mac: str | bytes, vlan: int | None = None) -> None:
        """Remove one entry (``bridge fdb del``); a KeyError names a missing one."""
        key = (parse_mac(mac), self._fdb_vid(vlan))
        if key not in self._fdb:
            raise KeyError(f"switch {self.name} has no fdb entry for {format_mac(key[0])}"
                           + (f" vlan {key[1]}" if key[1] else ""))
        del self._fdb[key]

    def fdb_flush(self, port: int | None = None) -> int:
        """Drop the dynamic entries (of one port, or all); returns how many went."""
        sp = None if port is None else self._port_at(port)
        doomed = [key for key, entry in self._fdb.items()
                  if not entry.static and (sp is None or entry.dst is sp)]
        for key in doomed:
            del self._fdb[key]
        self.flushed += len(doomed)
        return len(doomed)

    def _fdb_vid(self, vlan: int | None) -> int:
        if vlan is None:
            return DEFAULT_PVID if self.vlan_filtering else 0
        if not self.vlan_filtering:
            raise ValueError(f"switch {self.name} has no VLAN filtering: give no vlan")
        return check_vid(vlan)

    def _learn(self, sp: SwitchPort, src: bytes, vid: int) -> None:
        """``br_fdb_update``: a new address, a refreshed one, or one that moved port."""
        entry = self._fdb.get((src, vid))
        now = self.sched.now
        if entry is None:
            self._fdb[(src, vid)] = _Fdb(sp, now, False)
            self.learned += 1
            if self._gc is None and self.ageing_ns:
                self._gc = self.sched.call_at(now + self.ageing_ns, self._cleanup)
        elif not entry.static:
            if entry.dst is not sp:
                entry.dst = sp
                self.moved += 1
            entry.updated = now

    def _cleanup(self) -> None:
        """``br_fdb_cleanup``: drop what expired, come back at the next expiry."""
        self._gc = None
        now = self.sched.now
        ageing = self._hold
        nxt = None
        doomed = []
        for key, entry in self._fdb.items():
            if entry.static:
                continue
            expires = entry.updated + ageing
            if expires <= now:
                doomed.append(key)
            elif nxt is None or expires < nxt:
                nxt = expires
        for key in doomed:
            del self._fdb[key]
        self.aged += len(doomed)
        if nxt is not None:
            self._gc = self.sched.call_at(nxt, self._cleanup)

    def pending_events(self) -> list[PendingEvent]:
        if self._gc is None or self._gc.cancelled:
            return []
        return [PendingEvent(self._gc, f"{self.name} FDB ageing sweep")]

    # -- link ---------------------------------------------------------------------------
    def _link_change(self, sp: SwitchPort, up: bool) -> None:
        sp.to_bridge = up and self.guard.leads_to_bridge(sp.port)
        if not up:
            self.fdb_flush(sp.index)

    # -- the data path ------------------------------------------------------------------
    def _receive(self, sp: SwitchPort, frame: bytes) -> None:
        """``br_handle_frame_finish``: admit, learn, then forward, flood or drop."""
        hops, family = self.guard.take(frame)
        if hops >= self.guard.max_hops:
            self._loop_drop(sp, frame, hops)
            return
        if len(frame) < 14:
            sp.rx_invalid += 1
            return
        src = frame[6:12]
        if src[0] & 1 or src == _ZERO_MAC:
            sp.rx_invalid += 1  # br_handle_frame: !is_valid_ether_addr(h_source)
            return
        if self.vlan_filtering:
            self._receive_vlan(sp, frame, src, hops, family)
            return
        dst = frame[0:6]
        self._learn(sp, src, 0)
        if dst[0] & 1:
            if dst[:5] == _LINK_LOCAL_PREFIX and dst[5] & 0x0F:
                sp.rx_link_local += 1
                return
        else:
            entry = self._fdb.get((dst, 0))
            if entry is not None and (entry.static
                                      or entry.updated + self._hold > self.sched.now):
                out = entry.dst
                if out is sp:
                    sp.same_port += 1
                    return
                self.forwarded += 1
                if out.to_bridge and not self._to_bridge(out, frame, hops + 1,
                                                         family or Family()):
                    return
                out.port.transmit(frame)
                return
        self.flooded += 1
        self._flood(sp, frame, hops + 1, family, self._ports)

    def _receive_vlan(self, sp: SwitchPort, frame: bytes, src: bytes, hops: int,
                      family: Family | None) -> None:
        """The 802.1Q half: classify (``br_allowed_ingress``), then egress per membership."""
        tagged = frame[12] == 0x81 and frame[13] == 0x00 and len(frame) >= 18
        if tagged:
            tci = frame[14] << 8 | frame[15]
            vid = tci & VLAN_VID_MASK
            pcp_bits = tci & 0xF000  # PCP and DEI, kept on egress
            if not vid:
                vid = sp.pvid  # priority-tagged: the PVID
        else:
            vid = sp.pvid
            pcp_bits = 0
        if vid is None or vid not in sp.vlans:
            sp.rx_vlan_filtered += 1
            return
        self._learn(sp, src, vid)
        dst = frame[0:6]
        if dst[0] & 1:
            if dst[:5] == _LINK_LOCAL_PREFIX and dst[5] & 0x0F:
                sp.rx_link_local += 1
                return
        else:
            entry = self._fdb.get((dst, vid))
            if entry is not None and (entry.static
                                      or entry.updated + self._hold > self.sched.now):
                out_port = entry.dst
                if out_port is sp:
                    sp.same_port += 1
                    return
                untagged = out_port.vlans.get(vid)
                if untagged is None:
                    out_port.tx_vlan_filtered += 1  # br_allowed_egress
                    return
                self.forwarded += 1
                out = _egress_form(frame, tagged, untagged, pcp_bits | vid)
                if out_port.to_bridge and not self._to_bridge(out_port, out, hops + 1,
                                                              family or Family()):
                    return
                out_port.port.transmit(out)
                return
        self.flooded += 1
        hops += 1
        forms: dict[bool, bytes] = {}  # each egress form, built once
        marked: set[bool] = set()  # the forms that went to a bridge already
        for out_port in self._ports:
            if out_port is sp or not out_port.port.link_up:
                continue
            untagged = out_port.vlans.get(vid)
            if untagged is None:
                continue
            out = forms.get(untagged)
            if out is None:
                out = forms[untagged] = _egress_form(frame, tagged, untagged, pcp_bits | vid)
            if out_port.to_bridge:
                if untagged in marked:
                    out = bytes(memoryview(out))  # a copy of its own, with its own count
                marked.add(untagged)
                if family is None:
                    family = Family()
                if not self._to_bridge(out_port, out, hops, family):
                    continue
            out_port.port.transmit(out)

    # -- statistics ---------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """Per-port counters summed, plus learning and forwarding totals."""
        total = dict.fromkeys(PORT_COUNTERS, 0)
        for sp in self._ports:
            for key, value in sp.counters().items():
                total[key] += value
        total.update(
            fdb_entries=len(self.fdb()),
            learned=self.learned,
            moved=self.moved,
            aged=self.aged,
            flushed=self.flushed,
            forwarded=self.forwarded,
            flooded=self.flooded,
        )
        return total


def _egress_form(frame: bytes, tagged: bool, untagged: bool, tci: int) -> bytes:
    """``br_handle_vlan``: the frame as it leaves a port, tagged with ``tci`` or not."""
    if untagged:
        if not tagged:
            return frame
        out = frame[:12] + frame[16:]
        # A switch pads what untagging made a runt back to the 60-byte minimum (802.1Q).
        return out if len(out) >= ETH_ZLEN else out.ljust(ETH_ZLEN, b"\0")
    if tagged and (frame[14] << 8 | frame[15]) == tci:
        return frame
    base = frame[:12] + frame[16:] if tagged else frame
    return base[:12] + bytes((0x81, 0x00, tci >> 8, tci & 0xFF)) + base[12:]
