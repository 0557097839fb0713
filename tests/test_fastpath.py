"""fastpath: the C core and its pure-Python twins agree bit for bit, and both are right.

Three kinds of check: C against the twin on random inputs (hypothesis); each against an
independent reference (a ``struct`` word sum for RFC 1071, a field-by-field reading of the
frames for TSO); the twin's TSO against the device's own engine (device/ixgb/offload.py
``tso_segments``), which ``fastpath.tso_segment`` is to replace without changing a byte.
The C-against-twin checks are skipped, saying why, only when the extension is not built;
``IXSIM_REQUIRE_C=1`` turns that skip into a failure (for a machine that has a compiler).
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastpath
from device.ixgb.offload import TxContext, tso_segments
from device.spec import desc as D
from fastpath import _pure

ROOT = Path(__file__).resolve().parent.parent

try:
    from fastpath import _c
except ImportError as err:
    _c = None
    C_MISSING = str(err)
else:
    C_MISSING = ""

needs_c = pytest.mark.skipif(_c is None, reason=f"C core not built, nothing to compare: "
                             f"{C_MISSING}")
IMPLS = [pytest.param(_pure, id="python"),
         pytest.param(_c, id="c", marks=needs_c)]
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- references -----------------------------------------------------------------------------

def ref_sum(data: bytes, initial: int = 0) -> int:
    """RFC 1071 §4.1 as written: add big-endian words (odd byte padded), fold the carries."""
    b = bytes(data) + b"\0" * (len(data) & 1)
    total = sum(struct.unpack(f">{len(b) // 2}H", b)) + initial
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


# -- checksum strategies --------------------------------------------------------------------

lengths = st.integers(0, 9000)
payloads = st.one_of(
    st.binary(max_size=9000),
    lengths.map(lambda n: b"\xff" * n),
    lengths.map(bytes),
    st.tuples(lengths, st.integers(0, 2**32)).map(
        lambda t: random.Random(t[1]).randbytes(t[0])),
)
initials = st.one_of(st.just(0), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1),
                     st.integers(0, 2**64 - 1), st.just(2**64 - 1))
any_ints = st.one_of(initials, st.integers(2**63, 2**80), st.integers(-2**70, -1))
KINDS = ("bytes", "bytearray", "memoryview", "readonly-view", "view-at-odd-offset")


def as_kind(data: bytes, kind: str) -> bytes | bytearray | memoryview:
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(bytearray(data))
    if kind == "readonly-view":
        return memoryview(data)
    return memoryview(b"\x5a" + data + b"\xa5")[1 : 1 + len(data)]


# -- checksums: right, and the same in C --------------------------------------------------------

@pytest.mark.parametrize("impl", IMPLS)
@SETTINGS
@given(data=payloads, initial=initials, kind=st.sampled_from(KINDS))
def test_csum_partial_is_rfc1071(impl: ModuleType, data: bytes, initial: int,
                                 kind: str) -> None:
    want = ref_sum(data, initial)
    assert impl.csum_partial(as_kind(data, kind), initial) == want
    assert impl.internet_checksum(as_kind(data, kind), initial) == ~want & 0xFFFF


@pytest.mark.parametrize("impl", IMPLS)
def test_checksum_edges(impl: ModuleType) -> None:
    assert impl.csum_partial(b"") == 0
    assert impl.csum_partial(bytes(1501)) == 0  # all zero stays 0 ...
    assert impl.csum_partial(b"\xff" * 1500) == 0xFFFF  # ... a non-zero multiple is 0xFFFF
    assert impl.csum_partial(b"\xff\xff", 0) == 0xFFFF
    assert impl.csum_partial(b"\x01") == 0x0100  # odd tail: high byte of a padded word
    assert impl.csum_partial(b"\x12\x34\x56", 0xFFFF_FFFF_FFFF) == ref_sum(b"\x12\x34\x56",
                                                                         0xFFFF_FFFF_FFFF)
    # RFC 1071 §3 example words: 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
    assert impl.csum_partial(bytes.fromhex("0001f203f4f5f6f7")) == 0xDDF2
    assert impl.internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert impl.csum_fold(0) == 0xFFFF and impl.csum_fold(0x1_FFFE) == 0
    # RFC 1624 §4: an update that must give 0x0000, not 0xFFFF (eqn 3, not eqn 2).
    assert impl.csum_replace2(0xDD2F, 0x5555, 0x3285) == 0x0000


@needs_c
@SETTINGS
@given(data=payloads, initial=any_ints, kind=st.sampled_from(KINDS))
def test_c_sums_equal_twin(data: bytes, initial: int, kind: str) -> None:
    buf = as_kind(data, kind)
    assert _c.csum_partial(buf, initial) == _pure.csum_partial(buf, initial)
    assert _c.internet_checksum(buf, initial) == _pure.internet_checksum(buf, initial)


@needs_c
@SETTINGS
@given(total=any_ints, check=any_ints, old=any_ints, new=any_ints)
def test_c_fold_and_replace2_equal_twin(total: int, check: int, old: int, new: int) -> None:
    assert _c.csum_fold(total) == _pure.csum_fold(total)
    assert _c.csum_replace2(check, old, new) == _pure.csum_replace2(check, old, new)
    word = (check & 0xFFFF, old & 0xFFFF, new & 0xFFFF)
    assert _c.csum_replace2(*word) == _pure.csum_replace2(*word)


@needs_c
def test_c_odd_buffers_go_to_twin() -> None:
    """What C cannot take (wide items, strided views, lists) gets the twin's answer."""
    wide = memoryview(bytes(range(7)) + b"\x09").cast("H")
    strided = memoryview(bytes(range(50)))[::3]
    for data in (wide, strided, [1, 2, 3]):
        assert _c.csum_partial(data, 5) == _pure.csum_partial(data, 5)  # type: ignore[arg-type]
    for bad in (1.5, "x", None):
        with pytest.raises(TypeError):
            _pure.csum_partial(b"ab", bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            _c.csum_partial(b"ab", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("impl", IMPLS)
@SETTINGS
@given(data=payloads, initial=initials, off=st.integers(0, 9), spare=st.integers(0, 9),
       kind=st.sampled_from(KINDS), as_view=st.booleans())
def test_csum_copy(impl: ModuleType, data: bytes, initial: int, off: int, spare: int,
                   kind: str, as_view: bool) -> None:
    before = bytes(range(256)) * ((len(data) + off + spare) // 256 + 1)
    dst = bytearray(before[: len(data) + off + spare])
    target = memoryview(dst) if as_view else dst
    assert impl.csum_copy(target, off, as_kind(data, kind), initial) == ref_sum(data, initial)
    assert dst == before[:off] + data + before[off + len(data) : len(dst)]


@pytest.mark.parametrize("impl", IMPLS)
def test_csum_copy_bounds(impl: ModuleType) -> None:
    dst = bytearray(8)
    for off, src in ((-1, b"ab"), (7, b"ab"), (0, bytes(9))):
        with pytest.raises(ValueError, match="do not fit"):
            impl.csum_copy(dst, off, src)
    assert dst == bytearray(8)


# -- TSO ---------------------------------------------------------------------------------

class Case:
    """One TSO super-packet and the parameters a context descriptor would carry for it."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.ipv6 = draw(st.integers(0, 4)) == 0
        self.tcp = draw(st.integers(0, 4)) != 0
        self.l3 = draw(st.sampled_from([0, 14, 18, 22]))
        ip_hl = 40 if self.ipv6 else draw(st.sampled_from([20, 24, 60]))
        self.l4 = self.l3 + ip_hl
        self.hdr_len = self.l4 + (draw(st.sampled_from([20, 32, 60])) if self.tcp else 8)
        total = draw(st.integers(0, 3000) | st.integers(3000, 70_000)
                     | st.sampled_from([0, 1, 65536 - self.hdr_len, 200_000]))
        top = 16384 - self.hdr_len
        self.mss = draw(st.integers(min(top, max(1, -(-total // 200))), top)
                        | st.sampled_from([536, 1448, 1460, 8948]))
        seed = draw(st.integers(0, 2**32))
        fill = draw(st.sampled_from(["random", "zeros", "ones"]))
        rnd = random.Random(seed)
        body = {"random": rnd.randbytes, "zeros": bytes, "ones": lambda n: b"\xff" * n}[fill]
        self.packet = rnd.randbytes(self.hdr_len) + body(total)
        self.ip_id = draw(st.none() | st.integers(0, 0xFFFF))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    return Case(draw)


@st.composite
def device_contexts(draw: st.DrawFn) -> tuple[Case, TxContext, bool, bool]:
    """A case with the offsets a driver may put in a context, as the device checks them."""
    c = draw(cases())
    h = c.hdr_len
    ipcso = draw(st.sampled_from([c.l3 + 10]) | st.integers(0, h - 2))
    tucso = draw(st.sampled_from([c.l4 + (16 if c.tcp else 6)]) | st.integers(0, h - 2))
    ipcse = draw(st.sampled_from([c.l4 - 1, 0]) | st.integers(c.l3 + 1, h - 1))
    cmd = ((D.TXC_CMD_TCP if c.tcp else 0) | (0 if c.ipv6 else D.TXC_CMD_IP)
           | D.TXC_CMD_TSE)
    mss = max(c.mss, D.TSO_MIN_MSS)  # the device faults a smaller one (test_tx_bounded.py)
    ctx = TxContext(c.l3, ipcso, ipcse, c.l4, tucso, 0, cmd, len(c.packet) - h, h, mss)
    return c, ctx, draw(st.booleans()), draw(st.booleans())


@SETTINGS
@given(dc=device_contexts())
def test_tso_twin_is_the_device_engine(dc: tuple[Case, TxContext, bool, bool]) -> None:
    """fastpath.tso_segment (both twins) gives the frames device/ixgb/offload.py gives."""
    c, ctx, ixsm, txsm = dc
    want = [bytes(f) for f in tso_segments(c.packet, ctx, ixsm, txsm)]
    kw = dict(ipv6=c.ipv6, ip_csum=ixsm, ip_csum_off=ctx.ipcso,
              ip_csum_end=ctx.ipcse + 1 if ctx.ipcse else 0, l4_csum=txsm,
              l4_csum_off=ctx.tucso)
    for impl in (_pure, _c) if _c is not None else (_pure,):
        got = impl.tso_segment(c.packet, c.l3, c.l4, c.hdr_len, ctx.mss, None, c.tcp, **kw)
        assert got == want, impl.__name__


@needs_c
@SETTINGS
@given(c=cases(), kind=st.sampled_from(["bytes", "bytearray", "memoryview"]),
       ip_csum=st.booleans(), l4_csum=st.booleans())
def test_c_tso_equals_twin(c: Case, kind: str, ip_csum: bool, l4_csum: bool) -> None:
    args = (c.l3, c.l4, c.hdr_len, c.mss, c.ip_id, c.tcp)
    kw = dict(ipv6=c.ipv6, ip_csum=ip_csum, l4_csum=l4_csum)
    got = _c.tso_segment(as_kind(c.packet, kind), *args, **kw)
    want = _pure.tso_segment(c.packet, *args, **kw)
    assert got == want
    assert all(type(f) is bytes for f in got)


@pytest.mark.parametrize("impl", IMPLS)
@SETTINGS
@given(c=cases())
def test_tso_frames_are_right(impl: ModuleType, c: Case) -> None:
    """Read every field of every frame back with struct and check it against RFC rules."""
    frames = impl.tso_segment(c.packet, c.l3, c.l4, c.hdr_len, c.mss, c.ip_id, c.tcp,
                              ipv6=c.ipv6)
    h, l3, l4, mss = c.hdr_len, c.l3, c.l4, c.mss
    payload = c.packet[h:]
    assert len(frames) == max(1, -(-len(payload) // mss))
    assert b"".join(f[h:] for f in frames) == payload
    orig = c.packet
    proto = 6 if c.tcp else 17
    for k, f in enumerate(frames):
        n = len(f)
        last = k == len(frames) - 1
        assert n == h + (len(payload) - k * mss if last else mss)
        if c.ipv6:
            assert struct.unpack_from(">H", f, l3 + 4)[0] == n - l3 - 40
            addr = f[l3 + 8 : l3 + 40]
        else:
            assert struct.unpack_from(">H", f, l3 + 2)[0] == n - l3
            first_id = c.ip_id if c.ip_id is not None else orig[l3 + 4] << 8 | orig[l3 + 5]
            assert struct.unpack_from(">H", f, l3 + 4)[0] == (first_id + k) & 0xFFFF
            assert ref_sum(f[l3:l4]) == 0xFFFF  # the header checksum verifies
            assert f[l3 + 10 : l3 + 12] != b"\0\0"  # "no zero": a 0 goes out as 0xFFFF
            addr = f[l3 + 12 : l3 + 20]
        if c.tcp:
            seq0, flags = struct.unpack_from(">I", orig, l4 + 4)[0], orig[l4 + 13]
            assert struct.unpack_from(">I", f, l4 + 4)[0] == (seq0 + k * mss) & 0xFFFF_FFFF
            assert f[l4 + 13] == (flags if last else flags & ~0x09)
        else:
            assert struct.unpack_from(">H", f, l4 + 4)[0] == n - l4
        pseudo = addr + struct.pack(">HH", proto, n - l4)
        assert ref_sum(pseudo + f[l4:]) == 0xFFFF  # the L4 checksum verifies
        assert f[l4 + (16 if c.tcp else 6) :][:2] != b"\0\0"


@pytest.mark.parametrize("impl", IMPLS)
def test_tso_zero_checksum_goes_out_as_ffff(impl: ModuleType) -> None:
    """A TCP sum that complements to 0 is stored as 0xFFFF (the device's "no zero" rule)."""
    addrs = bytes([10, 0, 0, 1, 10, 0, 0, 2])
    packet = bytearray(54 + 100)
    packet[14] = 0x45
    packet[23] = 6
    packet[26:34] = addrs
    packet[46] = 0x50
    pseudo = addrs + struct.pack(">HH", 6, 120)
    # With the last payload word W, the words summed (field as 0) come to fold(R + W):
    # W = 0xFFFF - R makes that 0xFFFF, whose complement 0 goes out as 0xFFFF.
    segment = bytearray(impl.tso_segment(bytes(packet), 14, 34, 54, 1448, 1, True)[0][34:])
    segment[16:18] = b"\0\0"
    packet[-2:] = struct.pack(">H", 0xFFFF - ref_sum(pseudo + segment))
    frame = impl.tso_segment(bytes(packet), 14, 34, 54, 1448, 1, True)[0]
    assert frame[50:52] == b"\xff\xff"
    assert ref_sum(pseudo + frame[34:]) == 0xFFFF


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("size", "args", "kw", "what"), [
    (154, (14, 34, 0, 1448, 0, True), {}, "header length 0 "),
    (60, (14, 34, 80, 1448, 0, True), {}, "header length 80 "),
    (154, (14, 34, 54, 0, 0, True), {}, "MSS 0 "),
    (154, (40, 60, 54, 1448, 0, True), {}, "IP header at 40 "),
    (154, (14, 40, 54, 1448, 0, True), {}, "L4 header at 40 "),
    (154, (20, 34, 54, 1448, 0, True), {"ipv6": True}, "40-byte IP header at 20 "),
    (154, (14, 34, 54, 1448, 0, True), {"ip_csum_off": 53}, "IP checksum offset 53 "),
    (154, (14, 34, 54, 1448, 0, True), {"ip_csum_end": 14}, "IP checksum end 14 "),
    (154, (14, 34, 54, 1448, 0, True), {"l4_csum_off": -2}, "L4 checksum offset -2 "),
    (70054, (14, 34, 54, 65536, 0, False), {}, "overflows a 16-bit length"),
])
def test_tso_rejects_what_would_overflow(impl: ModuleType, size: int, args: tuple, kw: dict,
                                         what: str) -> None:
    with pytest.raises(ValueError, match=what):
        impl.tso_segment(bytes(size), *args, **kw)


# -- which implementation ----------------------------------------------------------------

def run_fastpath(code: str, cwd: Path = ROOT, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "IXSIM_PURE"} | env
    out = subprocess.run([sys.executable, "-c", "import fastpath; " + code], cwd=cwd,
                         env=environ, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_implementation_reported() -> None:
    pure = os.environ.get("IXSIM_PURE", "") not in ("", "0")
    want = "c" if _c is not None and not pure else "python"
    assert fastpath.IMPLEMENTATION == want
    assert (fastpath.PURE_REASON == "") == (want == "c")
    impl = _c if want == "c" else _pure
    for name in ("csum_partial", "csum_fold", "internet_checksum", "csum_replace2",
                 "csum_copy", "tso_segment"):
        assert getattr(fastpath, name) is getattr(impl, name)


def test_ixsim_pure_honoured() -> None:
    assert run_fastpath("print(fastpath.IMPLEMENTATION)", IXSIM_PURE="1") == "python"
    assert run_fastpath("print(fastpath.PURE_REASON)", IXSIM_PURE="1") == "IXSIM_PURE is set"
    unset = run_fastpath("print(fastpath.IMPLEMENTATION)")
    assert unset == ("c" if _c is not None else "python")


def test_c_core_built_when_required() -> None:
    if os.environ.get("IXSIM_REQUIRE_C") != "1":
        pytest.skip("IXSIM_REQUIRE_C=1 not set: a missing C core is allowed")
    assert _c is not None, C_MISSING


@needs_c
def test_digest_names_the_sources(tmp_path: Path) -> None:
    """The extension is used with the sources it was built from, and refused with others."""
    built = _c._ffi.string(_c._lib.ix_source_digest()).decode()
    assert built == _c._source_digest(ROOT / "fastpath")
    for changed in (False, True):
        tree = tmp_path / ("changed" if changed else "same")
        shutil.copytree(ROOT / "fastpath", tree / "fastpath",
                        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
        shutil.copy(_c.ORIGIN, tree / "fastpath")
        if changed:
            with open(tree / "fastpath" / "_core.c", "a") as f:
                f.write("/* edited after the build */\n")
        got = run_fastpath("print(fastpath.IMPLEMENTATION, fastpath.PURE_REASON)", cwd=tree)
        if changed:
            assert got.startswith("python") and "built from other sources" in got
        else:
            assert got == "c"
