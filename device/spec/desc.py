"""ixgb descriptor layouts (16 bytes, little-endian), shared by the device and the driver.

Hot-path access uses the precompiled ``struct.Struct`` objects and the plain-int bit
constants; the ``construct`` declarations (built from the same field table) serve the
debugger's ring dump and the tests.  Spec: spec/ixgb.md §1.5.
"""

from __future__ import annotations

import struct

import construct as cs

DESC_SIZE = 16

# -- RX descriptor: buff_addr u64, length u16, reserved u16, status u8, errors u8, special u16
RX_DESC = struct.Struct("<QHHBBH")
RX_WB = struct.Struct("<HHBBH")  # the write-back half at offset 8
RX_WB_OFFSET = 8
RXD_STAT_DD = 0x01
RXD_STAT_EOP = 0x02
RXD_STAT_IXSM = 0x04
RXD_STAT_VP = 0x08
RXD_STAT_TCPCS = 0x20
RXD_STAT_IPCS = 0x40
RXD_STAT_PIF = 0x80
RXD_ERR_CE = 0x01
RXD_ERR_SE = 0x02
RXD_ERR_P = 0x08
RXD_ERR_TCPE = 0x20
RXD_ERR_IPE = 0x40
RXD_ERR_RXE = 0x80
RXD_SPECIAL_VLAN_MASK = 0x0FFF
RXD_SPECIAL_PRI_SHIFT = 13

# -- TX data descriptor: buff_addr u64, cmd_type_len u32, status u8, popts u8, vlan u16
TX_DESC = struct.Struct("<QIBBH")
TX_STATUS_OFFSET = 12
TXD_LEN_MASK = 0x000F_FFFF
TXD_TYPE_SHIFT = 20
TXD_TYPE_MASK = 0xF << 20
TXD_TYPE_DATA = 1 << 20
TXD_TYPE_CONTEXT = 0 << 20
TXD_CMD_EOP = 1 << 24
TXD_CMD_TSE = 1 << 26
TXD_CMD_RS = 1 << 27
TXD_CMD_VLE = 1 << 30
TXD_CMD_IDE = 1 << 31
TXD_STAT_DD = 0x01
TXD_POPTS_IXSM = 0x01
TXD_POPTS_TXSM = 0x02

# -- TX context descriptor: ipcss u8, ipcso u8, ipcse u16, tucss u8, tucso u8, tucse u16,
#    cmd_type_len u32, status u8, hdr_len u8, mss u16
TX_CTX = struct.Struct("<BBHBBHIBBH")
TXC_PAYLEN_MASK = 0x000F_FFFF
TXC_CMD_TCP = 1 << 24
TXC_CMD_IP = 1 << 25
TXC_CMD_TSE = 1 << 26
TXC_CMD_RS = 1 << 27
TXC_CMD_IDE = 1 << 31

MAX_TXD_PWR = 14
MAX_DATA_PER_TXD = 1 << MAX_TXD_PWR  # 16 KiB per data descriptor

# -- construct declarations (cold path: debugger, tests) -----------------------------------
RX_DESC_CONSTRUCT = cs.Struct(
    "buff_addr" / cs.Int64ul,
    "length" / cs.Int16ul,
    "reserved" / cs.Int16ul,
    "status" / cs.FlagsEnum(cs.Int8ul, DD=RXD_STAT_DD, EOP=RXD_STAT_EOP, IXSM=RXD_STAT_IXSM,
                            VP=RXD_STAT_VP, TCPCS=RXD_STAT_TCPCS, IPCS=RXD_STAT_IPCS,
                            PIF=RXD_STAT_PIF),
    "errors" / cs.FlagsEnum(cs.Int8ul, CE=RXD_ERR_CE, SE=RXD_ERR_SE, P=RXD_ERR_P,
                            TCPE=RXD_ERR_TCPE, IPE=RXD_ERR_IPE, RXE=RXD_ERR_RXE),
    "special" / cs.Int16ul,
)

TX_DESC_CONSTRUCT = cs.Struct(
    "buff_addr" / cs.Int64ul,
    "cmd_type_len" / cs.Int32ul,
    "status" / cs.Int8ul,
    "popts" / cs.Int8ul,
    "vlan" / cs.Int16ul,
)

TX_CTX_CONSTRUCT = cs.Struct(
    "ipcss" / cs.Int8ul, "ipcso" / cs.Int8ul, "ipcse" / cs.Int16ul,
    "tucss" / cs.Int8ul, "tucso" / cs.Int8ul, "tucse" / cs.Int16ul,
    "cmd_type_len" / cs.Int32ul, "status" / cs.Int8ul, "hdr_len" / cs.Int8ul,
    "mss" / cs.Int16ul,
)

_TX_CMD_NAMES = ((TXD_CMD_EOP, "EOP"), (TXD_CMD_TSE, "TSE"), (TXD_CMD_RS, "RS"),
                 (TXD_CMD_VLE, "VLE"), (TXD_CMD_IDE, "IDE"))
_CTX_CMD_NAMES = ((TXC_CMD_TCP, "TCP"), (TXC_CMD_IP, "IP"), (TXC_CMD_TSE, "TSE"),
                  (TXC_CMD_RS, "RS"), (TXC_CMD_IDE, "IDE"))
_RX_STATUS_NAMES = ((RXD_STAT_DD, "DD"), (RXD_STAT_EOP, "EOP"), (RXD_STAT_IXSM, "IXSM"),
                    (RXD_STAT_VP, "VP"), (RXD_STAT_TCPCS, "TCPCS"), (RXD_STAT_IPCS, "IPCS"),
                    (RXD_STAT_PIF, "PIF"))
_RX_ERR_NAMES = ((RXD_ERR_CE, "CE"), (RXD_ERR_SE, "SE"), (RXD_ERR_P, "P"),
                 (RXD_ERR_TCPE, "TCPE"), (RXD_ERR_IPE, "IPE"), (RXD_ERR_RXE, "RXE"))


def _flags(value: int, names: tuple[tuple[int, str], ...]) -> str:
    return "|".join(n for bit, n in names if value & bit) or "-"


def describe_tx(raw: bytes | memoryview) -> str:
    """One line for a TX descriptor, data or context, as the ring dump prints it."""
    addr, ctl, status, popts, vlan = TX_DESC.unpack(raw)
    dtype = (ctl & TXD_TYPE_MASK) >> TXD_TYPE_SHIFT
    cmd = ctl & 0xFF00_0000
    if dtype == 1:
        return (f"data addr=0x{addr:x} len={ctl & TXD_LEN_MASK} cmd={_flags(cmd, _TX_CMD_NAMES)}"
                f" popts={popts:#x} vlan={vlan} sta={'DD' if status & 1 else '-'}")
    if dtype == 0:
        (ipcss, ipcso, ipcse, tucss, tucso, tucse, ctl, status, hdr_len, mss) = TX_CTX.unpack(raw)
        return (f"ctx ipcss={ipcss} ipcso={ipcso} ipcse={ipcse} tucss={tucss} tucso={tucso} "
                f"tucse={tucse} paylen={ctl & TXC_PAYLEN_MASK} "
                f"cmd={_flags(cmd, _CTX_CMD_NAMES)} hdr_len={hdr_len} mss={mss} "
                f"sta={'DD' if status & 1 else '-'}")
    return f"type={dtype} (invalid) raw={bytes(raw).hex()}"


def describe_rx(raw: bytes | memoryview) -> str:
    addr, length, _res, status, errors, special = RX_DESC.unpack(raw)
    text = (f"addr=0x{addr:x} len={length} sta={_flags(status, _RX_STATUS_NAMES)} "
            f"err={_flags(errors, _RX_ERR_NAMES)}")
    if status & RXD_STAT_VP:
        text += f" vlan={special & RXD_SPECIAL_VLAN_MASK} pri={special >> 13}"
    return text
