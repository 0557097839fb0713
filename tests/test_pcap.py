"""Classic pcap files (device/pcap.py): round trip, header bytes, and real readers."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from decimal import Decimal

import pytest

from device.cable import Cable
from device.impair import PcapTap
from device.pcap import MAGIC_NS, PcapError, PcapReader, PcapWriter, read_pcap
from device.port import Port
from ixsim.sched import Scheduler


def frames(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        eth = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5"
        out.append(eth + bytes((i * 7 + j) & 0xFF for j in range(46 + (i * 97) % 1469)))
    return out


def test_round_trip_microseconds(tmp_path):
    path = tmp_path / "us.pcap"
    data = frames(50)
    times = [i * 1_234_567_000 + 1000 for i in range(50)]  # whole microseconds
    with PcapWriter(str(path)) as writer:
        for t, f in zip(times, data, strict=True):
            writer.write(t, f)
        assert writer.packets == 50
    assert read_pcap(path) == list(zip(times, data, strict=True))


def test_microsecond_file_truncates_nanoseconds(tmp_path):
    path = tmp_path / "trunc.pcap"
    with PcapWriter(path) as writer:
        writer.write(1_000_001_999, b"x" * 60)
    assert read_pcap(path) == [(1_000_001_000, b"x" * 60)]


def test_round_trip_nanoseconds_is_exact():
    buf = io.BytesIO()
    writer = PcapWriter(buf, nanosecond=True)
    data = frames(20)
    times = [i * 1_000_000_007 + 3 for i in range(20)]
    for t, f in zip(times, data, strict=True):
        writer.write(t, f)
    writer.close()  # a borrowed file stays open
    assert not buf.closed
    buf.seek(0)
    with PcapReader(buf) as reader:
        assert reader.nanosecond and reader.byteorder == "little"
        assert list(reader) == list(zip(times, data, strict=True))


def test_global_and_record_header_bytes():
    buf = io.BytesIO()
    writer = PcapWriter(buf, snaplen=128, linktype=1)
    writer.write(3_000_004_000, b"\xaa" * 200)
    raw = buf.getvalue()
    assert raw[:4] == bytes.fromhex("d4c3b2a1")  # 0xA1B2C3D4 little-endian
    assert struct.unpack("<IHHiIII", raw[:24]) == (0xA1B2C3D4, 2, 4, 0, 0, 128, 1)
    assert struct.unpack("<IIII", raw[24:40]) == (3, 4, 128, 200)  # cut to snaplen
    assert raw[40:] == b"\xaa" * 128
    buf.seek(0)
    assert read_pcap(buf) == [(3_000_004_000, b"\xaa" * 128)]


def test_reads_big_endian_nanosecond_files():
    raw = struct.pack(">IHHiIII", MAGIC_NS, 2, 4, 0, 0, 65535, 1)
    raw += struct.pack(">IIII", 7, 123_456_789, 4, 60) + b"abcd"
    reader = PcapReader(io.BytesIO(raw))
    assert reader.byteorder == "big" and reader.snaplen == 65535 and reader.version == (2, 4)
    assert list(reader) == [(7_123_456_789, b"abcd")]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x0a\x0d\x0d\x0a" + b"\0" * 20,  # pcapng, not classic pcap
        struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + b"\0" * 8,
        struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
        + struct.pack("<IIII", 0, 0, 100, 100)
        + b"short",
        struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
        + struct.pack("<IIII", 0, 0, 0xFFFFFFF0, 100),
    ],
)
def test_malformed_files_raise_pcap_error(raw):
    with pytest.raises(PcapError):
        list(PcapReader(io.BytesIO(raw)))


def capture_from_cable(path, count: int = 30, nanosecond: bool = False):
    sched = Scheduler(seed=1)
    a, b = Port(sched, "a"), Port(sched, "b")
    got: list[tuple[int, bytes]] = []
    b.attach(lambda f: got.append((sched.now, f)), lambda up: None)
    with PcapWriter(path, nanosecond=nanosecond) as writer:
        Cable(sched, a, b, latency_ns=50_000, stages=[PcapTap(writer)])
        for f in frames(count):
            a.transmit(f)
            sched.run_for(3_000)
        sched.run_for(1_000_000)
    return got


def test_cable_capture_round_trip(tmp_path):
    path = tmp_path / "cable.pcap"
    got = capture_from_cable(path)
    assert [(t // 1000 * 1000, f) for t, f in got] == read_pcap(path)


@pytest.mark.parametrize("tool", ["tcpdump", "tshark"])
@pytest.mark.parametrize("nanosecond", [False, True], ids=["us", "ns"])
def test_real_reader_opens_the_file(tmp_path, nanosecond, tool):
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed (apt-get install {tool})")
    path = tmp_path / "real.pcap"
    got = capture_from_cable(path, count=30, nanosecond=nanosecond)
    if tool == "tcpdump":
        cmd = ["tcpdump", "-n", "-tt", "-e", "--time-stamp-precision=nano", "-r", str(path)]
    else:
        cmd = [
            "tshark",
            "-n",
            "-r",
            str(path),
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.len",
        ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    # tcpdump hex-dumps unknown ethertypes on tab-indented lines; keep one line per frame
    lines = [line for line in result.stdout.splitlines() if not line.startswith("\t")]
    assert len(lines) == len(got) == 30
    unit = 1 if nanosecond else 1000
    for line, (ts_ns, data) in zip(lines, got, strict=True):
        stamp = Decimal(line.split()[0])
        assert stamp * 1_000_000_000 == ts_ns // unit * unit
        if tool == "tcpdump":
            assert "0x88b5" in line and f"length {len(data)}" in line
        else:
            assert int(line.split()[1]) == len(data)
