"""The ixgb (82597EX) register map: the datasheet, declared once, read by both sides.

Like Linux's ``ixgb_hw.h``, this is the only part of ``device/`` a driver imports.  Each
register is a :class:`Reg` (offset, name, access, reset value, writable mask, doc, bit fields);
the device builds its dispatch from it, the driver takes offsets and bits from it, and the
debugger decodes from it.  Plain ``int`` constants for the hot path; ``Field`` tuples for
decoding.  Spec: spec/ixgb.md §1.2-1.3.
"""

from __future__ import annotations

from typing import NamedTuple

# Access kinds
RW = "RW"  # read/write (masked by ``writable``)
RO = "RO"  # read-only; a write is a device fault
WO = "WO"  # write-only; reads return 0
RC = "RC"  # read clears (ICR, statistics)


class Field(NamedTuple):
    name: str
    shift: int
    width: int = 1
    doc: str = ""
    values: dict[int, str] | None = None

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.shift


class Reg(NamedTuple):
    offset: int
    name: str
    access: str
    reset: int = 0
    writable: int = 0xFFFFFFFF
    doc: str = ""
    fields: tuple[Field, ...] = ()


# ---------------------------------------------------------------------------------------
# Offsets (plain ints for the hot path)
CTRL0 = 0x00000
CTRL1 = 0x00008
STATUS = 0x00010
EECD = 0x00018
MFS = 0x00020
ICR = 0x00080
ICS = 0x00088
IMS = 0x00090
IMC = 0x00098
RCTL = 0x00100
FCRTL = 0x00108
FCRTH = 0x00110
RDBAL = 0x00118
RDBAH = 0x0011C
RDLEN = 0x00120
RDH = 0x00128
RDT = 0x00130
RDTR = 0x00138
RXDCTL = 0x00140
RAIDC = 0x00148
RXCSUM = 0x00158
RA = 0x00180  # RAL(n) = RA + 8n, RAH(n) = RA + 8n + 4
MTA = 0x00200
VFTA = 0x00400
TCTL = 0x00600
TDBAL = 0x00608
TDBAH = 0x0060C
TDLEN = 0x00610
TDH = 0x00618
TDT = 0x00620
TIDV = 0x00628
TXDCTL = 0x00630
TSPMT = 0x00638
PAP = 0x00640
PCSC1 = 0x00700
PCSC2 = 0x00708
PCSS1 = 0x00710
PCSS2 = 0x00718
XPCSS = 0x00720
UCCR = 0x00728
XPCSTC = 0x00730
MACA = 0x00738
APAE = 0x00740
ARD = 0x00748
AIS = 0x00750
MSCA = 0x00758
MSRWD = 0x00760
WUFC = 0x00808
WUS = 0x00810
FFLT = 0x01000
FFMT = 0x01020
FFVT = 0x01420

NUM_RA = 16
NUM_MTA = 128
NUM_VFTA = 128
BAR0_SIZE = 128 * 1024


def RAL(n: int) -> int:  # noqa: N802 - the datasheet's name
    return RA + 8 * n


def RAH(n: int) -> int:  # noqa: N802
    return RA + 8 * n + 4


# CTRL0
CTRL0_LRST = 1 << 3
CTRL0_JFE = 1 << 4
CTRL0_XLE = 1 << 5
CTRL0_MDCS = 1 << 6
CTRL0_CMDC = 1 << 7
CTRL0_SDP0 = 1 << 18
CTRL0_SDP1 = 1 << 19
CTRL0_SDP2 = 1 << 20
CTRL0_SDP3 = 1 << 21
CTRL0_SDP0_DIR = 1 << 22
CTRL0_SDP1_DIR = 1 << 23
CTRL0_SDP2_DIR = 1 << 24
CTRL0_SDP3_DIR = 1 << 25
CTRL0_RST = 1 << 26
CTRL0_RPE = 1 << 27
CTRL0_TPE = 1 << 28
CTRL0_VME = 1 << 30
# CTRL1
CTRL1_EE_RST = 1 << 13
# STATUS
STATUS_LU = 1 << 1
STATUS_AIP = 1 << 2
STATUS_TXOFF = 1 << 4
STATUS_XAUIME = 1 << 5
STATUS_PCI_SPD = 1 << 11
STATUS_BUS64 = 1 << 12
STATUS_PCIX_MODE = 1 << 13
STATUS_PCIX_SPD_SHIFT = 14
STATUS_REV_ID_SHIFT = 16
# EECD
EECD_SK = 1 << 0
EECD_CS = 1 << 1
EECD_DI = 1 << 2
EECD_DO = 1 << 3
EECD_FWE_SHIFT = 4
EECD_FWE_DIS = 1 << 4
EECD_FWE_EN = 2 << 4
# MFS
MFS_SHIFT = 16
# Interrupt causes
INT_TXDW = 1 << 0
INT_TXQE = 1 << 1
INT_LSC = 1 << 2
INT_RXSEQ = 1 << 3
INT_RXDMT0 = 1 << 4
INT_RXO = 1 << 6
INT_RXT0 = 1 << 7
INT_AUTOSCAN = 1 << 9
INT_GPI0 = 1 << 11
INT_GPI1 = 1 << 12
INT_GPI2 = 1 << 13
INT_GPI3 = 1 << 14
INT_MASK = 0x7ADF  # every defined cause bit
# RCTL
RCTL_RXEN = 1 << 1
RCTL_SBP = 1 << 2
RCTL_UPE = 1 << 3
RCTL_MPE = 1 << 4
RCTL_RDMTS_SHIFT = 8
RCTL_RDMTS_MASK = 3 << 8
RCTL_RDMTS_1_2 = 0 << 8
RCTL_RDMTS_1_4 = 1 << 8
RCTL_RDMTS_1_8 = 2 << 8
RCTL_MO_SHIFT = 12
RCTL_MO_MASK = 3 << 12
RCTL_BAM = 1 << 15
RCTL_BSIZE_SHIFT = 16
RCTL_BSIZE_MASK = 3 << 16
RCTL_BSIZE_2048 = 0 << 16
RCTL_BSIZE_4096 = 1 << 16
RCTL_BSIZE_8192 = 2 << 16
RCTL_BSIZE_16384 = 3 << 16
RCTL_VFE = 1 << 18
RCTL_CFIEN = 1 << 19
RCTL_CFI = 1 << 20
RCTL_RPDA_MC_ONLY = 1 << 22
RCTL_CFF = 1 << 23
RCTL_SECRC = 1 << 26
RDT_FPDB = 1 << 31
BSIZE_BYTES = (2048, 4096, 8192, 16384)
# FCRTL
FCRTL_XONE = 1 << 31
# RXCSUM
RXCSUM_IPOFL = 1 << 8
RXCSUM_TUOFL = 1 << 9
# RAH
RAH_ASEL_SHIFT = 16
RAH_AV = 1 << 31
# TCTL
TCTL_TCE = 1 << 0
TCTL_TXEN = 1 << 1
TCTL_TPDE = 1 << 2
# XPCSS
XPCSS_LANE_SYNC = 0xF
XPCSS_PATTERN_TEST = 1 << 11
XPCSS_ALIGN_STATUS = 1 << 12
# PCSS1 / PCSS2
PCSS1_RX_LINK_STATUS = 1 << 2
PCSS1_LOCAL_FAULT = 1 << 7
PCSS2_10GBX = 1 << 1
PCSS2_DEV_PRES = 1 << 14
# MSCA / MSRWD
MSCA_NP_ADDR_MASK = 0xFFFF
MSCA_DEV_TYPE_SHIFT = 16
MSCA_PHY_ADDR_SHIFT = 21
MSCA_OP_CODE_SHIFT = 26
MSCA_ADDR_CYCLE = 0 << 26
MSCA_WRITE = 1 << 26
MSCA_READ = 2 << 26
MSCA_READ_AUTOINC = 3 << 26
MSCA_ST_CODE_SHIFT = 28
MSCA_MDI_COMMAND = 1 << 30
MSCA_MDI_IN_PROG_EN = 1 << 31
MSRWD_READ_DATA_SHIFT = 16

_INT_FIELDS = (
    Field("TXDW", 0, doc="TX descriptor written back"),
    Field("TXQE", 1, doc="TX queue empty"),
    Field("LSC", 2, doc="link status change"),
    Field("RXSEQ", 3, doc="RX sequence error"),
    Field("RXDMT0", 4, doc="RX descriptors below minimum threshold"),
    Field("RXO", 6, doc="RX overrun"),
    Field("RXT0", 7, doc="RX timer: packet received"),
    Field("AUTOSCAN", 9),
    Field("GPI0", 11),
    Field("GPI1", 12),
    Field("GPI2", 13),
    Field("GPI3", 14),
)

_REGS: list[Reg] = [
    Reg(CTRL0, "CTRL0", RW, 0, 0x7FFF_FFFF & ~0x3, "device control 0", (
        Field("LRST", 3, doc="link reset (self-clearing)"),
        Field("JFE", 4, doc="jumbo frame enable"),
        Field("XLE", 5), Field("MDCS", 6), Field("CMDC", 7),
        Field("SDP0", 18), Field("SDP1", 19), Field("SDP2", 20), Field("SDP3", 21),
        Field("SDP0_DIR", 22), Field("SDP1_DIR", 23), Field("SDP2_DIR", 24),
        Field("SDP3_DIR", 25),
        Field("RST", 26, doc="global reset (self-clearing)"),
        Field("RPE", 27, doc="RX pause enable"), Field("TPE", 28, doc="TX pause enable"),
        Field("VME", 30, doc="VLAN tag insert/strip enable"),
    )),
    Reg(CTRL1, "CTRL1", RW, 0, 0x00C2_3FFF, "device control 1", (
        Field("GPI0_EN", 0), Field("GPI1_EN", 1), Field("GPI2_EN", 2), Field("GPI3_EN", 3),
        Field("SDP4", 4), Field("SDP5", 5), Field("SDP6", 6), Field("SDP7", 7),
        Field("EE_RST", 13, doc="reload the EEPROM (self-clearing)"),
        Field("RO_DIS", 17),
        Field("PCIXHM", 22, 2, values={0: "1/2", 1: "5/8", 2: "3/4", 3: "7/8"}),
    )),
    Reg(STATUS, "STATUS", RO, 0, 0, "device status", (
        Field("LU", 1, doc="link up"), Field("AIP", 2), Field("TXOFF", 4),
        Field("XAUIME", 5), Field("RES", 6), Field("RIS", 7), Field("RIE", 8),
        Field("RLF", 9), Field("RRF", 10),
        Field("PCI_SPD", 11, doc="66 MHz"), Field("BUS64", 12), Field("PCIX_MODE", 13),
        Field("PCIX_SPD", 14, 2, values={0: "66", 1: "100", 2: "133"}),
        Field("REV_ID", 16, 4),
    )),
    Reg(EECD, "EECD", RW, EECD_FWE_DIS, 0x37, "EEPROM bit-bang", (
        Field("SK", 0, doc="clock"), Field("CS", 1, doc="chip select"),
        Field("DI", 2, doc="data into the EEPROM"), Field("DO", 3, doc="data out (RO)"),
        Field("FWE", 4, 2, values={1: "disabled", 2: "enabled"}),
    )),
    Reg(MFS, "MFS", RW, 1518 << 16, 0xFFFF_0000, "max frame size", (
        Field("MFS", 16, 16, doc="bytes, FCS included"),
    )),
    Reg(ICR, "ICR", RC, 0, 0, "interrupt cause read (read clears)", _INT_FIELDS),
    Reg(ICS, "ICS", WO, 0, INT_MASK, "interrupt cause set", _INT_FIELDS),
    Reg(IMS, "IMS", RW, 0, INT_MASK, "interrupt mask set/read", _INT_FIELDS),
    Reg(IMC, "IMC", WO, 0, 0xFFFF_FFFF, "interrupt mask clear", _INT_FIELDS),
    Reg(RCTL, "RCTL", RW, 0, 0x04FF_F31E, "receive control", (
        Field("RXEN", 1), Field("SBP", 2), Field("UPE", 3, doc="unicast promiscuous"),
        Field("MPE", 4, doc="multicast promiscuous"),
        Field("RDMTS", 8, 2, values={0: "1/2", 1: "1/4", 2: "1/8"}),
        Field("MO", 12, 2, values={0: "[47:36]", 1: "[46:35]", 2: "[45:34]", 3: "[43:32]"}),
        Field("BAM", 15, doc="accept broadcast"),
        Field("BSIZE", 16, 2, values={0: "2048", 1: "4096", 2: "8192", 3: "16384"}),
        Field("VFE", 18, doc="VLAN filter enable"), Field("CFIEN", 19), Field("CFI", 20),
        Field("RPDA", 21, 2), Field("CFF", 23), Field("SECRC", 26, doc="strip CRC"),
    )),
    Reg(FCRTL, "FCRTL", RW, 0, 0x8007_FFF8, "flow control RX threshold low",
        (Field("RTL", 3, 16), Field("XONE", 31))),
    Reg(FCRTH, "FCRTH", RW, 0, 0x0007_FFF8, "flow control RX threshold high",
        (Field("RTH", 3, 16),)),
    Reg(RDBAL, "RDBAL", RW, 0, 0xFFFF_FFF0, "RX ring base low (16-byte aligned)"),
    Reg(RDBAH, "RDBAH", RW, 0, 0xFFFF_FFFF, "RX ring base high"),
    Reg(RDLEN, "RDLEN", RW, 0, 0x000F_FF80, "RX ring length in bytes (x128)"),
    Reg(RDH, "RDH", RW, 0, 0xFFFF, "RX head (hardware)"),
    Reg(RDT, "RDT", RW, 0, 0x8000_FFFF, "RX tail (software)",
        (Field("RDT", 0, 16), Field("FPDB", 31))),
    Reg(RDTR, "RDTR", RW, 0, 0xFFFF, "RX delay timer (x0.8192 us)", (Field("DELAY", 0, 16),)),
    Reg(RXDCTL, "RXDCTL", RW, 0, 0x07FF_FFFF, "RX descriptor thresholds", (
        Field("PTHRESH", 0, 9), Field("HTHRESH", 9, 9), Field("WTHRESH", 18, 9),
    )),
    Reg(RAIDC, "RAIDC", RW, 0, 0xDFFF_F83F, "RX adaptive interrupt delay", (
        Field("HIGHTHRS", 0, 6), Field("DELAY", 11, 9), Field("POLL", 20, 9),
        Field("RXT_GATE", 30), Field("EN", 31),
    )),
    Reg(RXCSUM, "RXCSUM", RW, 0, 0x300, "RX checksum offload",
        (Field("IPOFL", 8), Field("TUOFL", 9))),
    Reg(TCTL, "TCTL", RW, 0, 0x7, "transmit control",
        (Field("TCE", 0), Field("TXEN", 1), Field("TPDE", 2))),
    Reg(TDBAL, "TDBAL", RW, 0, 0xFFFF_FFF0, "TX ring base low (16-byte aligned)"),
    Reg(TDBAH, "TDBAH", RW, 0, 0xFFFF_FFFF, "TX ring base high"),
    Reg(TDLEN, "TDLEN", RW, 0, 0x000F_FF80, "TX ring length in bytes (x128)"),
    Reg(TDH, "TDH", RW, 0, 0xFFFF, "TX head (hardware)"),
    Reg(TDT, "TDT", RW, 0, 0xFFFF, "TX tail (software; a write starts transmission)"),
    Reg(TIDV, "TIDV", RW, 0, 0xFFFF, "TX interrupt delay (x0.8192 us)", (Field("IDV", 0, 16),)),
    Reg(TXDCTL, "TXDCTL", RW, 0, 0x007F_7F7F, "TX descriptor thresholds", (
        Field("PTHRESH", 0, 7), Field("HTHRESH", 8, 7), Field("WTHRESH", 16, 7),
    )),
    Reg(TSPMT, "TSPMT", RW, 0x0400_0000, 0xFFFF_FFFF, "TSO pad and minimum threshold",
        (Field("TSMT", 0, 16), Field("TSPBP", 16, 16))),
    Reg(PAP, "PAP", RW, 0, 0x000F_FFFF, "pause and pace",
        (Field("TXPC", 0, 16), Field("TXPV", 16, 4))),
    Reg(PCSC1, "PCSC1", RW, 0, 0xFFFF, "PCS control 1", (Field("LOOPBACK", 14),)),
    Reg(PCSC2, "PCSC2", RW, 1, 0x3, "PCS control 2",
        (Field("PCS_TYPE", 0, 2, values={1: "10GBASE-X"}),)),
    Reg(PCSS1, "PCSS1", RO, 0, 0, "PCS status 1",
        (Field("RX_LINK_STATUS", 2), Field("LOCAL_FAULT", 7))),
    Reg(PCSS2, "PCSS2", RO, PCSS2_DEV_PRES | PCSS2_10GBX, 0, "PCS status 2", (
        Field("10GBR", 0), Field("10GBX", 1), Field("10GBW", 2),
        Field("RX_LF", 10), Field("TX_LF", 11), Field("DEV_PRES", 14, 2),
    )),
    Reg(XPCSS, "XPCSS", RO, 0, 0, "10GBASE-X PCS status", (
        Field("LANE_0_SYNC", 0), Field("LANE_1_SYNC", 1), Field("LANE_2_SYNC", 2),
        Field("LANE_3_SYNC", 3), Field("PATTERN_TEST", 11), Field("ALIGN_STATUS", 12),
    )),
    Reg(UCCR, "UCCR", RW, 0, 0xFFFF_FFFF, "unilink circuit control"),
    Reg(XPCSTC, "XPCSTC", RW, 0, 0xFFFF_FFFF, "10GBASE-X PCS test control"),
    Reg(MACA, "MACA", RW, 0, 0xFFFF_FFFF, "MDI autoscan command and address"),
    Reg(APAE, "APAE", RW, 0, 0xFFFF_FFFF, "autoscan PHY address enable"),
    Reg(ARD, "ARD", RO, 0, 0, "autoscan read data"),
    Reg(AIS, "AIS", RO, 0, 0, "autoscan interrupt status"),
    Reg(MSCA, "MSCA", RW, 0, 0xFFFF_FFFF, "MDI single command and address", (
        Field("NP_ADDR", 0, 16), Field("DEV_TYPE", 16, 5), Field("PHY_ADDR", 21, 5),
        Field("OP_CODE", 26, 2, values={0: "addr", 1: "write", 2: "read", 3: "read-inc"}),
        Field("ST_CODE", 28, 2), Field("MDI_COMMAND", 30), Field("MDI_IN_PROG_EN", 31),
    )),
    Reg(MSRWD, "MSRWD", RW, 0, 0xFFFF, "MDI read/write data",
        (Field("WRITE_DATA", 0, 16), Field("READ_DATA", 16, 16))),
    Reg(WUFC, "WUFC", RW, 0, 0xFFFF_FFFF, "wake-up filter control"),
    Reg(WUS, "WUS", RO, 0, 0, "wake-up status"),
]

for _n in range(NUM_RA):
    _REGS.append(Reg(RAL(_n), f"RAL{_n}", RW, 0, 0xFFFF_FFFF, f"receive address {_n} low"))
    _REGS.append(Reg(RAH(_n), f"RAH{_n}", RW, 0, 0x8003_FFFF, f"receive address {_n} high",
                     (Field("RAH", 0, 16), Field("ASEL", 16, 2), Field("AV", 31))))
for _i in range(NUM_MTA):
    _REGS.append(Reg(MTA + 4 * _i, f"MTA{_i}", RW, 0, 0xFFFF_FFFF, "multicast table"))
for _i in range(NUM_VFTA):
    _REGS.append(Reg(VFTA + 4 * _i, f"VFTA{_i}", RW, 0, 0xFFFF_FFFF, "VLAN filter table"))
for _i in range(8):  # flexible filter length table
    _REGS.append(Reg(FFLT + 8 * _i, f"FFLT{_i}", RW, 0, 0x7FF, "flexible filter length"))
for _i in range(256):  # flexible filter mask and value tables
    _REGS.append(Reg(FFMT + 4 * _i, f"FFMT{_i}", RW, 0, 0xF, "flexible filter mask"))
    _REGS.append(Reg(FFVT + 4 * _i, f"FFVT{_i}", RW, 0, 0xFF, "flexible filter value"))

# Statistics: clear-on-read, saturating (spec/ixgb.md §1.2 and its ixsim decisions).
STATS: list[tuple[str, int, int, str]] = [  # name, offset, width in bits, doc
    ("TPR", 0x2000, 64, "total packets received"), ("GPRC", 0x2008, 64, "good packets rx"),
    ("BPRC", 0x2010, 64, "broadcast packets rx"), ("MPRC", 0x2018, 64, "multicast rx"),
    ("UPRC", 0x2020, 64, "unicast rx"), ("VPRC", 0x2028, 64, "VLAN packets rx"),
    ("JPRC", 0x2030, 64, "jumbo packets rx"), ("GORC", 0x2038, 64, "good octets rx"),
    ("TOR", 0x2040, 64, "total octets rx"), ("RNBC", 0x2048, 32, "rx no buffers"),
    ("RUC", 0x2050, 32, "rx undersize"), ("ROC", 0x2058, 32, "rx oversize"),
    ("RLEC", 0x2060, 32, "rx length errors"), ("CRCERRS", 0x2068, 32, "CRC errors"),
    ("ICBC", 0x2070, 32, "illegal control bytes"), ("ECBC", 0x2078, 32, "error control bytes"),
    ("MPC", 0x2080, 32, "missed packets"),
    ("TPT", 0x2100, 64, "total packets tx"), ("GPTC", 0x2108, 64, "good packets tx"),
    ("BPTC", 0x2110, 64, "broadcast tx"), ("MPTC", 0x2118, 64, "multicast tx"),
    ("UPTC", 0x2120, 64, "unicast tx"), ("VPTC", 0x2128, 64, "VLAN tx"),
    ("JPTC", 0x2130, 64, "jumbo tx"), ("GOTC", 0x2138, 64, "good octets tx"),
    ("TOT", 0x2140, 64, "total octets tx"), ("DC", 0x2148, 32, "deferred"),
    ("PLT64C", 0x2150, 32, "tx packets < 64 bytes"), ("TSCTC", 0x2170, 32, "TSO contexts tx"),
    ("TSCTFC", 0x2178, 32, "TSO context failures"), ("IBIC", 0x2180, 32, "illegal idle bytes"),
    ("RFC", 0x2188, 32, "remote faults"), ("LFC", 0x2190, 32, "local faults"),
    ("PFRC", 0x2198, 32, "pause frames rx"), ("PFTC", 0x21A0, 32, "pause frames tx"),
    ("MCFRC", 0x21A8, 32, "MAC control frames rx"), ("MCFTC", 0x21B0, 32, "MAC control tx"),
    ("XONRXC", 0x21B8, 32, "XON rx"), ("XONTXC", 0x21C0, 32, "XON tx"),
    ("XOFFRXC", 0x21C8, 32, "XOFF rx"), ("XOFFTXC", 0x21D0, 32, "XOFF tx"),
    ("RJC", 0x21D8, 32, "rx jabber"),
]
STAT_OFFSET = {name: off for name, off, _w, _d in STATS}
for _name, _off, _width, _doc in STATS:
    if _width == 64:
        _REGS.append(Reg(_off, _name + "L", RC, 0, 0, _doc + " (low)"))
        _REGS.append(Reg(_off + 4, _name + "H", RC, 0, 0, _doc + " (high)"))
    else:
        _REGS.append(Reg(_off, _name, RC, 0, 0, _doc))

# Named stat offsets for the hot path.
TPRL, GPRCL, BPRCL, MPRCL, UPRCL, VPRCL, JPRCL, GORCL, TORL = (
    0x2000, 0x2008, 0x2010, 0x2018, 0x2020, 0x2028, 0x2030, 0x2038, 0x2040)
RNBC, RUC, ROC, RLEC, CRCERRS, ICBC, ECBC, MPC = (
    0x2048, 0x2050, 0x2058, 0x2060, 0x2068, 0x2070, 0x2078, 0x2080)
TPTL, GPTCL, BPTCL, MPTCL, UPTCL, VPTCL, JPTCL, GOTCL, TOTL = (
    0x2100, 0x2108, 0x2110, 0x2118, 0x2120, 0x2128, 0x2130, 0x2138, 0x2140)
DC, PLT64C, TSCTC, TSCTFC, IBIC, RFC, LFC = (
    0x2148, 0x2150, 0x2170, 0x2178, 0x2180, 0x2188, 0x2190)

REGISTERS: dict[int, Reg] = {r.offset: r for r in _REGS}
BY_NAME: dict[str, Reg] = {r.name: r for r in _REGS}

# ethtool's 136-word register dump order (spec/ixgb.md §2.14), registers only.
ETHTOOL_DUMP_ORDER: tuple[str, ...] = (
    "CTRL0", "CTRL1", "STATUS", "EECD", "MFS", "ICR", "ICS", "IMS", "IMC", "RCTL", "FCRTL",
    "FCRTH", "RDBAL", "RDBAH", "RDLEN", "RDH", "RDT", "RDTR", "RXDCTL", "RAIDC", "RXCSUM",
    *[f"RA{kind}{n}" for n in range(NUM_RA) for kind in ("L", "H")],
    "TCTL", "TDBAL", "TDBAH", "TDLEN", "TDH", "TDT", "TIDV", "TXDCTL", "TSPMT", "PAP",
    "PCSC1", "PCSC2", "PCSS1", "PCSS2", "XPCSS", "UCCR", "XPCSTC", "MACA", "APAE", "ARD",
    "AIS", "MSCA", "MSRWD",
)


def lookup(name_or_offset: str | int) -> Reg:
    """Find a register by name (``"TDT"``, ``"RAL0"``, ``"gprcl"``) or offset; KeyError."""
    if isinstance(name_or_offset, int):
        return REGISTERS[name_or_offset]
    text = name_or_offset.strip()
    key = text.upper()
    if key in BY_NAME:
        return BY_NAME[key]
    if key in STAT_OFFSET:  # a 64-bit counter named without L/H: its low half
        return REGISTERS[STAT_OFFSET[key]]
    try:
        return REGISTERS[int(text, 0)]
    except (ValueError, KeyError):
        raise KeyError(f"unknown register {name_or_offset!r}") from None


def decode(reg: Reg, value: int) -> list[tuple[str, int, str]]:
    """Split a value into (field, value, meaning) for display; unknown values stay raw."""
    out = []
    for f in reg.fields:
        v = (value >> f.shift) & ((1 << f.width) - 1)
        meaning = f.values.get(v, "") if f.values else ""
        out.append((f.name, v, meaning))
    return out


def describe_bits(reg: Reg, value: int) -> str:
    """Compact text like ``LU|ALIGN_STATUS BSIZE=2048`` for traces and the shell."""
    parts = []
    for name, v, meaning in decode(reg, value):
        f_width = next(f.width for f in reg.fields if f.name == name)
        if f_width == 1:
            if v:
                parts.append(name)
        elif v:
            parts.append(f"{name}={meaning or hex(v)}")
    return "|".join(parts) if parts else "0"
