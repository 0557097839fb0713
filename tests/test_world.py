"""The World and Host assembly: firmware at power-on, several NICs, determinism, the API."""

from __future__ import annotations

import socket

import pytest

from device.pcap import read_pcap
from firmware import FirmwareError, build_words, write_elf
from ixsim.world import World, parse_rate


def test_host_loads_each_nic_eeprom_from_an_elf_image(tmp_path):
    image = tmp_path / "nic.elf"
    write_elf(build_words("02:aa:00:00:00:01", device_id=0x1048), image)
    with World(seed=1) as w:
        h = w.host("h", firmware=image, macs=["image"])
        assert h.eth0.dev_addr == bytes.fromhex("02aa00000001")
        g = w.host("g", firmware=image)  # the MAC is overridden per host by default
        assert g.eth0.dev_addr == bytes.fromhex("020000000200")


def test_bad_firmware_image_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"not an elf at all")
    with World() as w, pytest.raises(FirmwareError) as info:
        w.host("h", firmware=bad)
    assert "not an ELF file" in str(info.value) and "\n" not in str(info.value)


def test_corrupt_eeprom_fails_probe_and_registers_nothing():
    words = build_words("02:00:00:00:00:09")
    words[0x10] ^= 0x1  # checksum no longer 0xBABA
    with World() as w:
        h = w.host("h", eeproms=[words])
        assert h.probe_errors and "Checksum" in h.probe_errors[0]
        assert "eth0" not in h.interfaces
        assert h.machine.dma.live == 0


def test_two_nics_per_host_each_with_bar_irq_and_mac():
    with World() as w:
        r = w.host("r", "10.0.1.1/24", "10.0.2.1/24", nics=2)
        assert set(r.interfaces) >= {"eth0", "eth1"}
        s0, s1 = r.nics
        assert s0.pci.irq != s1.pci.irq and s0.pci.bar0_addr != s1.pci.bar0_addr
        assert r.eth0.dev_addr != r.eth1.dev_addr


def test_design_md_user_surface_example(tmp_path):
    pcap = tmp_path / "ab.pcap"
    with World(seed=7) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0, latency="50us", loss=0.01, pcap=str(pcap))
        srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("0.0.0.0", 7))
        srv.listen()
        c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.connect(("10.0.0.2", 7))
        conn, peer = srv.accept()
        assert peer[0] == "10.0.0.1"
        c.sendall(b"hello")
        assert conn.recv(5) == b"hello"
        assert a.ping("10.0.0.2").received == 1
        w.run_for("10ms")
        assert a.eth0.device.regs["STATUS"].LU == 1
    assert len(read_pcap(pcap)) > 5


def _run_once(seed: int, path) -> bytes:
    with World(seed=seed) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0, latency="20us", loss=0.05, reorder=0.05, pcap=str(path))
        srv = b.socket()
        srv.bind(("0.0.0.0", 9))
        srv.listen()
        c = a.socket()
        c.connect(("10.0.0.2", 9))
        conn, _ = srv.accept()
        c.sendall(bytes(range(256)) * 400)
        got = b""
        while len(got) < 256 * 400:
            got += conn.recv(65536)
        assert got == bytes(range(256)) * 400
    return path.read_bytes()


def test_same_seed_same_packets_byte_for_byte(tmp_path):
    first = _run_once(11, tmp_path / "1.pcap")
    second = _run_once(11, tmp_path / "2.pcap")
    other = _run_once(12, tmp_path / "3.pcap")
    assert first == second
    assert first != other


def test_parse_rate():
    assert parse_rate("10G") == 10_000_000_000
    assert parse_rate("100M") == 100_000_000
    assert parse_rate(1000) == 1000
    with pytest.raises(ValueError):
        parse_rate("fast")
