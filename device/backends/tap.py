"""A Linux tap as a medium: frames between an emulated NIC's port and a real kernel interface.

Mirrors QEMU's ``net/tap.c`` with ``net/tap-linux.c``: ``tap_open`` (TUNSETIFF with
IFF_TAP | IFF_NO_PI on /dev/net/tun, non-blocking), ``tap_send`` (read until EAGAIN from the
main loop's fd handler, a bounded batch at a time) and ``tap_receive`` (one write per frame).
Where QEMU leaves the link to the user (``set_link``), this backend also follows the Linux
interface's own state, so the emulated NIC sees what a NIC cabled to that interface would.

Contract:

* It is a :class:`~device.port.Medium`: ``port.connect(tap)`` plugs one port in.  Link is up
  while the tap is open and started on a real-time scheduler (``start(sched)``, which
  registers the fd with ``sched.add_reader``), its Linux interface is up with carrier (IFF_UP
  and IFF_RUNNING) and ``set_link(False)`` has not pulled it.  The Linux side is probed on
  ``start``, on connect, after a write fails with EIO and every ``link_poll_ns`` (500 ms); a
  change goes to the port with ``port.set_link``.
* Directions are the port's: ``rx`` is Linux -> emulated NIC, ``tx`` emulated NIC -> Linux.
* RX: when the fd is readable, up to ``batch`` frames are read (until EAGAIN) and each is
  handed to ``port.deliver`` by its own ``sched.call_soon`` event, never from inside the read
  callback (docs/hardware.md §3.11 lesson 3).  The read callback takes only the first frame; the
  rest of the batch, and the read that finds the queue empty, are done by a drain event
  queued right behind that frame's delivery, so a lone frame (a ping) reaches the NIC without
  waiting for that extra read (1-8 µs), which then happens while the NIC's receive interrupt
  delay runs.  While a drain is pending the callback reads nothing: frames stay in order.
  Linux hands a tap frames unpadded (a 42-byte ARP request); they are zero-padded to 60
  bytes, as the sending MAC would on a real wire and as QEMU's ``eth_pad_short_frame`` does,
  else the NIC would count them as runts (RUC).  The kernel queue is drained even with no
  port plugged in or the link pulled; those frames count in ``dropped_link_down``.
* TX: frames are written exactly as the device finished them (checksums, TSO segmentation
  and VLAN insertion done, no FCS), one ``write`` each.  A frame longer than the interface's
  MTU + 14 (+ 4 when it carries an 802.1Q/802.1ad tag) is dropped and counted in
  ``dropped_too_big``, logged once per MTU value rather than once per frame.  Linux would take
  it, but no link of that MTU could carry it: a deliberate deviation from QEMU, which writes
  whatever the guest sends.  EAGAIN/ENOBUFS count ``dropped_eagain``; EIO (the interface went
  down before the poll noticed) counts ``dropped_link_down``; anything else ``tx_errors``.
* The interface may be moved to another network namespace once open: the fd stays valid.
  ``follow_netns(ns)`` tells the tap where to read the interface's flags and MTU from.
  Opening with ``netns=`` creates (or attaches to) the interface inside that namespace.
* ``close()`` is idempotent: the port sees link down, the fd is closed, which deletes the
  interface unless it is persistent (``ip tuntap add`` or ``persist=True``), as with QEMU.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

TUN_PATH = "/dev/net/tun"
NETNS_RUN_DIR = "/run/netns"

# include/uapi/linux/if_tun.h
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
# include/uapi/linux/if.h, include/uapi/linux/sockios.h, include/uapi/linux/sched.h
IFF_UP = 0x1
IFF_RUNNING = 0x40
IFNAMSIZ = 16
SIOCGIFFLAGS = 0x8913
SIOCGIFMTU = 0x8921
SIOCSIFMTU = 0x8922
CLONE_NEWNET = 0x40000000

ETH_HLEN = 14
ETH_ZLEN = 60  # minimum frame without FCS
VLAN_HLEN = 4
VLAN_TPIDS = (b"\x81\x00", b"\x88\xa8")  # 802.1Q, 802.1ad
MAX_TAP_MTU = 65521  # tun's max_mtu: MAX_MTU - ETH_HLEN
READ_SIZE = MAX_TAP_MTU + ETH_HLEN + VLAN_HLEN
DEFAULT_BATCH = 64
LINK_POLL_NS = 500_000_000

_ZEROS = bytes(ETH_ZLEN)
_IFREQ_FLAGS = struct.Struct("16sH22x")  # struct ifreq: ifr_name + ifr_flags, 40 bytes
_IFREQ_INT = struct.Struct("16si20x")  # struct ifreq: ifr_name + ifr_mtu

STAT_NAMES = (
    "rx_frames",
    "rx_bytes",
    "tx_frames",
    "tx_bytes",
    "dropped_too_big",
    "dropped_eagain",
    "dropped_link_down",
    "tx_errors",
)

# (linux_up, mtu or None when unknown); the default reads the interface by ioctl.
Probe = Callable[[], tuple[bool, int | None]]

_logger = logging.getLogger("ixsim.tap")


class TapError(RuntimeError):
    """A tap that cannot be opened or configured; the message says why and what to do."""

    def __init__(self, message: str, errno_: int = 0) -> None:
        super().__init__(message)
        self.errno = errno_


def netns_path(ns: str) -> str:
    """A namespace name as ``ip netns`` keeps it (``/run/netns/NAME``), or a path as given."""
    return ns if "/" in ns else os.path.join(NETNS_RUN_DIR, ns)


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python 3.12+
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def in_netns(ns: str | None, fn: Callable[[], Any]) -> Any:
    """Run ``fn()`` with this thread inside network namespace ``ns`` (None: where it is).

    Sockets and tap interfaces belong to the namespace they were made in for their whole
    life, so this is only needed around their creation.  Raises :class:`TapError` when the
    namespace does not exist.
    """
    if ns is None:
        return fn()
    try:
        target = os.open(netns_path(ns), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise TapError(f"network namespace {ns!r} does not exist", errno.ENOENT) from None
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
            try:
                return fn()
            finally:
                _setns(home)
        finally:
            os.close(home)
    finally:
        os.close(target)


def _explain(exc: OSError, ifname: str) -> TapError:
    code = exc.errno or 0
    if code == errno.EPERM:
        text = f"creating tap {ifname}: permission denied (needs root or CAP_NET_ADMIN)"
    elif code == errno.EBUSY:
        text = f"tap {ifname} is in use by another process"
    elif code == errno.EINVAL:
        text = (f"cannot attach to {ifname}: it exists and is not a tap without packet "
                "info (IFF_TAP | IFF_NO_PI)")
    else:
        text = f"opening tap {ifname}: {os.strerror(code) if code else exc}"
    return TapError(text, code)


class TapMedium:
    """One Linux tap interface, carrying the frames of one emulated port."""

    def __init__(
        self,
        ifname: str,
        *,
        sched: Any = None,
        mtu: int | None = None,
        netns: str | None = None,
        persist: bool | None = None,
        batch: int = DEFAULT_BATCH,
        link_poll_ns: int = LINK_POLL_NS,
        probe: Probe | None = None,
        fd: int | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        name = ifname.encode()
        if not 0 < len(name) < IFNAMSIZ or any(c in ifname for c in "/ \t\n:"):
            raise ValueError(f"not an interface name: {ifname!r} (1-15 characters, no '/', "
                             "':' or blanks)")
        if mtu is not None and not 68 <= mtu <= MAX_TAP_MTU:
            raise ValueError(f"tap MTU {mtu} outside 68..{MAX_TAP_MTU}")
        if batch < 1 or link_poll_ns <= 0:
            raise ValueError("batch and link_poll_ns must be positive")
        self.ifname = ifname
        self.netns = netns
        self.persist = persist
        self.batch = batch
        self.link_poll_ns = link_poll_ns
        self.sched: Any = None
        self.port: Any = None
        self.fd = -1 if fd is None else fd  # an adopted fd: any frame-preserving descriptor
        if fd is not None:
            os.set_blocking(fd, False)
        self.created = False  # this object made the interface (closing the fd deletes it)
        self.plugged = True  # set_link(False) pulls the link whatever Linux says
        self.linux_up = False
        self.closed = False
        self.failed = ""  # why reading stopped, if the fd broke under us
        self.mtu = mtu or 1500
        self._want_mtu = mtu
        self._max_frame = self.mtu + ETH_HLEN
        self._warned_mtu: int | None = None
        self._probe: Probe = probe or self._probe_kernel
        self._log = log or _logger.warning
        self._ctl: socket.socket | None = None
        self._timer: Any = None
        self._reading = False
        self._drain: Any = None  # the pending drain event (see _on_readable)
        self._buf = bytearray(READ_SIZE)
        self._bufs = [self._buf]
        self._view = memoryview(self._buf)
        self.rx_frames = 0
        self.rx_bytes = 0
        self.tx_frames = 0
        self.tx_bytes = 0
        self.dropped_too_big = 0
        self.dropped_eagain = 0
        self.dropped_link_down = 0
        self.tx_errors = 0
        if sched is not None:
            self.start(sched)

    @property
    def trace_name(self) -> str:
        return f"tap {self.ifname}"

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("up" if self.link_up else "down")
        return f"<TapMedium {self.ifname} mtu={self.mtu} {state}>"

    # -- opening --------------------------------------------------------------------------
    def open(self) -> TapMedium:
        """Create the interface, or attach to an existing tap of that name (e.g. a persistent
        one from ``ip tuntap add mode tap``); returns self.  Idempotent."""
        if self.closed:
            raise TapError(f"tap {self.ifname} is closed")
        if self.fd >= 0:
            return self
        if not os.path.exists(TUN_PATH):
            raise TapError(f"{TUN_PATH} does not exist (load the tun module: modprobe tun)",
                           errno.ENOENT)
        in_netns(self.netns, self._open_here)
        if self._want_mtu is not None:
            self._set_kernel_mtu(self._want_mtu)
        return self

    def _open_here(self) -> None:
        existed = self._exists()
        try:
            fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise _explain(exc, self.ifname) from None
        try:
            ifr = struct.pack("16sH", self.ifname.encode(), IFF_TAP | IFF_NO_PI)
            answer = fcntl.ioctl(fd, TUNSETIFF, ifr)
            if self.persist is not None:
                fcntl.ioctl(fd, TUNSETPERSIST, int(self.persist))
        except OSError as exc:
            os.close(fd)
            raise _explain(exc, self.ifname) from None
        self.ifname = answer[:IFNAMSIZ].split(b"\0", 1)[0].decode()
        self.fd = fd
        self.created = not existed

    def _exists(self) -> bool:
        try:
            self._ioctl_int(SIOCGIFMTU)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return False
            raise
        return True

    def _control(self) -> socket.socket:
        """The datagram socket the interface ioctls go through, in the interface's namespace."""
        if self._ctl is None:
            self._ctl = in_netns(
                self.netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        return self._ctl

    def _ioctl_int(self, request: int, value: int = 0) -> int:
        ifr = _IFREQ_INT.pack(self.ifname.encode(), value)
        return _IFREQ_INT.unpack(fcntl.ioctl(self._control().fileno(), request, ifr))[1]

    def _set_kernel_mtu(self, mtu: int) -> None:
        try:
            self._ioctl_int(SIOCSIFMTU, mtu)
        except OSError as exc:
            raise TapError(f"setting MTU {mtu} on {self.ifname}: {exc.strerror}",
                           exc.errno or 0) from None
        self._note_mtu(mtu)

    def follow_netns(self, ns: str | None) -> None:
        """The interface now lives in network namespace ``ns`` (a name under /run/netns, a
        path, or None for ours): read its flags and MTU there from now on."""
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        self.netns = ns
        self.refresh_link()

    # -- the Medium protocol (device.port) ------------------------------------------------
    def sender(self, port: Any) -> Callable[[bytes], None]:
        if self.port is not None and self.port is not port and self.port.medium is self:
            raise ValueError(f"tap {self.ifname} already carries port {self.port.name}")
        self.port = port
        if self.sched is not None:
            self.sched.call_soon(self.refresh_link)  # after connect() has returned
        return self._transmit

    def start(self, sched: Any) -> None:
        """Open if needed, read the fd on ``sched`` (real time) and watch the Linux link."""
        if self.sched is not None:
            if sched is not self.sched:
                raise ValueError(f"tap {self.ifname} is already started on another scheduler")
            return
        self.open()
        sched.add_reader(self.fd, self._on_readable)  # raises unless realtime
        self.sched = sched
        self._reading = True
        self._timer = sched.call_later(self.link_poll_ns, self._poll_link)
        self.refresh_link()

    # -- link -----------------------------------------------------------------------------
    @property
    def link_up(self) -> bool:
        """What the port is told: open, started, plugged and the Linux side up."""
        return self.plugged and self.linux_up and self._reading and not self.closed

    def set_link(self, up: bool) -> None:
        """Plug (True) or pull (False) the virtual cable; plugged, the link follows Linux."""
        self.plugged = bool(up)
        self.refresh_link()

    def refresh_link(self) -> bool:
        """Probe the Linux interface now and tell the port if the link changed."""
        if self.closed or self.fd < 0 or not self._reading:
            self.linux_up = False
        else:
            self.linux_up, mtu = self._probe()
            if mtu is not None:
                self._note_mtu(mtu)
        up = self.link_up
        port = self.port
        if port is not None and port.medium is self and port.link_up != up:
            port.set_link(up)
        return up

    def _poll_link(self) -> None:
        self._timer = None
        if self.closed:
            return
        self.refresh_link()
        self._timer = self.sched.call_later(self.link_poll_ns, self._poll_link)

    def _probe_kernel(self) -> tuple[bool, int | None]:
        """IFF_UP and IFF_RUNNING (carrier: a tap has it while its fd is attached), and MTU."""
        name = self.ifname.encode()
        try:
            fd = self._control().fileno()
            flags = _IFREQ_FLAGS.unpack(
                fcntl.ioctl(fd, SIOCGIFFLAGS, _IFREQ_FLAGS.pack(name, 0)))[1]
            mtu = self._ioctl_int(SIOCGIFMTU)
        except OSError as exc:
            if exc.errno in (errno.ENODEV, errno.ENXIO):
                return False, None  # moved to a namespace we were not told of, or gone
            raise
        return bool(flags & IFF_UP) and bool(flags & IFF_RUNNING), mtu

    def _note_mtu(self, mtu: int) -> None:
        if mtu != self.mtu:
            self.mtu = mtu
            self._max_frame = mtu + ETH_HLEN

    # -- data path ------------------------------------------------------------------------
    def _on_readable(self) -> None:
        """The fd is readable: read one frame now, the rest of the batch by a drain event
        that runs right after that frame's delivery."""
        if self._drain is None and self._read(1):
            self._drain = self.sched.call_soon(self._drain_rest)

    def _drain_rest(self) -> None:
        self._drain = None
        if self._reading:
            self._read(self.batch - 1)  # more left: the fd stays readable, the loop calls again

    def _read(self, limit: int) -> bool:
        """Read up to ``limit`` frames, each delivered by its own event; True unless the
        kernel queue ran empty (EAGAIN) or the fd broke."""
        readv = os.readv
        fd = self.fd
        bufs = self._bufs
        view = self._view
        port = self.port
        live = port is not None and port.medium is self and self.plugged
        call_soon = self.sched.call_soon
        for _ in range(limit):
            try:
                n = readv(fd, bufs)
            except BlockingIOError:
                return False
            except OSError as exc:
                self._read_failed(exc)
                return False
            if not live:
                self.dropped_link_down += 1
                continue
            if n < ETH_ZLEN:  # what Linux's MAC would have padded on a real wire
                view[n:ETH_ZLEN] = _ZEROS[: ETH_ZLEN - n]
                n = ETH_ZLEN
            self.rx_frames += 1
            self.rx_bytes += n
            call_soon(port.deliver, bytes(view[:n]))
        return True

    def _read_failed(self, exc: OSError) -> None:
        """The fd broke (e.g. EBADFD: the interface was deleted): stop reading, drop link."""
        self.failed = f"read from tap {self.ifname} failed: {exc.strerror or exc}"
        self._log(f"{self.failed}; the link stays down")
        self._stop_reading()
        self.refresh_link()

    def _stop_reading(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None
        if self._reading:
            self._reading = False
            self.sched.remove_reader(self.fd)

    def _transmit(self, frame: bytes) -> None:
        n = len(frame)
        if n > self._max_frame and (
            n > self._max_frame + VLAN_HLEN or frame[12:14] not in VLAN_TPIDS
        ):
            self._too_big(n)
            return
        try:
            os.write(self.fd, frame)
        except OSError as exc:
            self._write_failed(exc)
            return
        self.tx_frames += 1
        self.tx_bytes += n

    def _too_big(self, n: int) -> None:
        self.dropped_too_big += 1
        if self._warned_mtu != self.mtu:
            self._warned_mtu = self.mtu
            self._log(f"tap {self.ifname}: dropping frames longer than MTU {self.mtu} + "
                      f"{ETH_HLEN} (first: {n} bytes); counted in dropped_too_big, "
                      "logged once per MTU")

    def _write_failed(self, exc: OSError) -> None:
        code = exc.errno
        if code in (errno.EAGAIN, errno.ENOBUFS):
            self.dropped_eagain += 1
        elif code == errno.EIO:  # interface down: tun refuses frames
            self.dropped_link_down += 1
            if self.sched is not None:
                self.sched.call_soon(self.refresh_link)
        else:
            if not self.tx_errors:
                self._log(f"write to tap {self.ifname} failed: {exc.strerror or exc}; "
                          "counted in tx_errors, logged once")
            self.tx_errors += 1

    # -- teardown and statistics ----------------------------------------------------------
    def close(self) -> None:
        """Drop the port's link, stop reading, close the fd (deleting a non-persistent tap)."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.sched is not None:
            self._stop_reading()
        port = self.port
        if port is not None and port.medium is self and port.link_up:
            port.set_link(False)
        self.linux_up = False
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None

    def __enter__(self) -> TapMedium:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def counters(self) -> dict[str, int]:
        """Every counter by name, for the shell, the CLI and tests."""
        return {name: getattr(self, name) for name in STAT_NAMES}
