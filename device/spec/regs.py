"""The ixgb (82597EX) register map: the datasheet, declared once, read by both sides.

Like Linux's ``ixgb_hw.h``, this is the only part of ``device/`` a driver imports.  Each
register is a :class:`Reg` (offset, name, access kind, reset value, writable mask, doc, bit
fields, self-clearing bits); the device builds its read and write dispatch from it, the driver
takes offsets and bits from it, and the debugger decodes from it.  Spec: docs/hardware.md §1.2-1.3.

One home per fact:
- Bits are declared once, as the :class:`Field` tables of the registers below.  The plain
  ``int`` constants the hot paths use (``CTRL0_RST``, ``RCTL_BSIZE_SHIFT``, ``INT_LSC``,
  ``MSCA_READ``) are generated from those tables at import by :func:`export_fields`, the way
  the standard library's ``signal`` and ``socket`` modules publish their enum members as module
  constants.  The naming rule: ``<REG>_<FIELD>`` is the mask of a one-bit field;
  ``<REG>_<FIELD>_SHIFT`` and ``_MASK`` place a wider one (``<REG>_SHIFT``/``_MASK`` when the
  field is named after its register, as MFS's); ``<REG>_<NAME>`` is an enumerated value the
  field declares in ``consts``, already shifted into place.  The interrupt causes shared by
  ICR/ICS/IMS/IMC are exported as ``INT_*``, the receive-address bits as ``RAH_*``.
- Statistics counters are declared once in :data:`STATS`; their registers (``TPRL``/``TPRH``
  for a 64-bit counter, ``RNBC`` for a 32-bit one) and offsets are generated from it.
- An access kind (:data:`ACCESS`) says what a read and a write do, so the device applies
  read-to-clear, write-1-to-set/-clear, aliases (ICS sets ICR, IMC clears IMS) and
  self-clearing bits from this table rather than from special cases.
"""

from __future__ import annotations

from typing import Any, NamedTuple

# Access kinds: what a read and a write of the register do (the device applies them).
RW = "RW"
RO = "RO"
WO = "WO"
RC = "RC"
RC_W1C = "RC/W1C"
W1S = "W1S"
W1C = "W1C"
PARTIAL = "PARTIAL"
ACCESS: dict[str, str] = {
    RW: "read/write: a write stores the bits in `writable`; setting any other bit is a fault",
    RO: "read-only: a write is a device fault and is ignored",
    WO: "write-only: a write stores the bits in `writable`; reads return 0",
    RC: "read clears (statistics): with an `alias`, the 64-bit pair's low half clears too; "
        "a write is a device fault",
    RC_W1C: "read clears; a write of 1 clears that bit (ICR, as on the e1000 family)",
    W1S: "write-1-to-set: the 1 bits of a write (within `writable`) are set in `alias`, or in "
         "the register itself; an alias reads 0",
    W1C: "write-1-to-clear: the 1 bits of a write are cleared in `alias`, or in the register "
         "itself; an alias reads 0",
    PARTIAL: "stored but not modelled: read/write like RW; the first write is logged once "
             "(QEMU e1000's MAC_ACCESS_PARTIAL)",
}


class Field(NamedTuple):
    """A bit field: ``width`` bits from ``shift``; ``values`` name values for display,
    ``consts`` name values for code (exported as ``<REG>_<NAME>``, shifted into place)."""

    name: str
    shift: int
    width: int = 1
    doc: str = ""
    values: dict[int, str] | None = None
    consts: dict[str, int] | None = None
    sc: bool = False  # self-clearing: acts on the write and always reads back 0

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
    alias: int | None = None  # W1S/W1C: the register the write acts on; RC: cleared along

    @property
    def sc(self) -> int:
        """The self-clearing bits: a write stores them as 0 (the device acts on them)."""
        return field_mask(tuple(f for f in self.fields if f.sc))


# ---------------------------------------------------------------------------------------
# Offsets (plain ints for the hot path)
CTRL0 = 0x00000
CTRL1 = 0x00008
STATUS = 0x00010
EECD = 0x00018
MFS = 0x00020
# The largest frame (FCS excluded) the MAC is built for: 16,114-byte MTU + 14-byte header
# (Linux's IXGB_MAX_JUMBO_FRAME_SIZE; docs/hardware.md §1.2, MFS).
MAX_JUMBO_FRAME_SIZE = 0x3F00
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




def field_mask(fields: tuple[Field, ...], *names: str) -> int:
    """The OR of the named fields' masks (of every field when no name is given)."""
    return sum(f.mask for f in fields if not names or f.name in names)


def field_value(fields: tuple[Field, ...], **values: int) -> int:
    """A register value with each named field set to a value (``FWE=1``)."""
    by_name = {f.name: f for f in fields}
    return sum(v << by_name[name].shift for name, v in values.items())


def export_fields(namespace: dict[str, Any], prefix: str, fields: tuple[Field, ...]) -> None:
    """Publish a field table as plain-int constants (the naming rule is the module's doc).

    A name that already exists is an error: two homes for one fact, or a clash."""
    for f in fields:
        base = prefix if f.name == prefix else f"{prefix}_{f.name}"
        made = {base: f.mask} if f.width == 1 else {f"{base}_SHIFT": f.shift,
                                                    f"{base}_MASK": f.mask}
        for name, value in (f.consts or {}).items():
            made[f"{prefix}_{name}"] = value << f.shift
        for name, value in made.items():
            if name in namespace:
                raise ValueError(f"register spec: {name} is declared twice")
            namespace[name] = value


# Bit tables shared by several registers, or read by the table itself.
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
_INT_ALL = field_mask(_INT_FIELDS)  # exported as INT_MASK: every defined cause bit
_RAH_FIELDS = (Field("RAH", 0, 16), Field("ASEL", 16, 2), Field("AV", 31, doc="address valid"))
_EECD_FIELDS = (
    Field("SK", 0, doc="clock"), Field("CS", 1, doc="chip select"),
    Field("DI", 2, doc="data into the EEPROM"), Field("DO", 3, doc="data out (RO)"),
    Field("FWE", 4, 2, values={1: "disabled", 2: "enabled"}, consts={"FWE_DIS": 1, "FWE_EN": 2}),
)
_PCSS2_FIELDS = (
    Field("10GBR", 0), Field("10GBX", 1), Field("10GBW", 2),
    Field("RX_LF", 10), Field("TX_LF", 11),
    Field("DEV_PRES", 14, 2, consts={"DEV_PRES": 1}),
)
_XPCSS_FIELDS = (
    Field("LANE_0_SYNC", 0), Field("LANE_1_SYNC", 1), Field("LANE_2_SYNC", 2),
    Field("LANE_3_SYNC", 3), Field("PATTERN_TEST", 11), Field("ALIGN_STATUS", 12),
)

_REGS: list[Reg] = [
    Reg(CTRL0, "CTRL0", RW, 0, 0x7FFF_FFFF & ~0x3, "device control 0", (
        Field("LRST", 3, doc="link reset (self-clearing)", sc=True),
        Field("JFE", 4, doc="jumbo frame enable"),
        Field("XLE", 5), Field("MDCS", 6), Field("CMDC", 7),
        Field("SDP0", 18), Field("SDP1", 19), Field("SDP2", 20), Field("SDP3", 21),
        Field("SDP0_DIR", 22), Field("SDP1_DIR", 23), Field("SDP2_DIR", 24),
        Field("SDP3_DIR", 25),
        Field("RST", 26, doc="global reset (self-clearing)", sc=True),
        Field("RPE", 27, doc="RX pause enable"), Field("TPE", 28, doc="TX pause enable"),
        Field("VME", 30, doc="VLAN tag insert/strip enable"),
    )),
    Reg(CTRL1, "CTRL1", RW, 0, 0x00C2_3FFF, "device control 1", (
        Field("GPI0_EN", 0), Field("GPI1_EN", 1), Field("GPI2_EN", 2), Field("GPI3_EN", 3),
        Field("SDP4", 4), Field("SDP5", 5), Field("SDP6", 6), Field("SDP7", 7),
        Field("SDP4_DIR", 8), Field("SDP5_DIR", 9), Field("SDP6_DIR", 10),
        Field("SDP7_DIR", 11),
        Field("EE_RST", 13, doc="reload the EEPROM (self-clearing)", sc=True),
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
    Reg(EECD, "EECD", RW, field_value(_EECD_FIELDS, FWE=1), 0x37, "EEPROM bit-bang",
        _EECD_FIELDS),
    Reg(MFS, "MFS", RW, 1518 << 16, 0xFFFF_0000, "max frame size", (
        Field("MFS", 16, 16, doc="bytes, FCS included"),
    )),
    Reg(ICR, "ICR", RC_W1C, 0, _INT_ALL, "interrupt cause read (read clears)", _INT_FIELDS),
    Reg(ICS, "ICS", W1S, 0, _INT_ALL, "interrupt cause set", _INT_FIELDS, alias=ICR),
    Reg(IMS, "IMS", W1S, 0, _INT_ALL, "interrupt mask set/read", _INT_FIELDS),
    Reg(IMC, "IMC", W1C, 0, 0xFFFF_FFFF, "interrupt mask clear", _INT_FIELDS, alias=IMS),
    Reg(RCTL, "RCTL", RW, 0, 0x04FF_F31E, "receive control", (
        Field("RXEN", 1), Field("SBP", 2), Field("UPE", 3, doc="unicast promiscuous"),
        Field("MPE", 4, doc="multicast promiscuous"),
        Field("RDMTS", 8, 2, values={0: "1/2", 1: "1/4", 2: "1/8"},
              consts={"RDMTS_1_2": 0, "RDMTS_1_4": 1, "RDMTS_1_8": 2}),
        Field("MO", 12, 2, values={0: "[47:36]", 1: "[46:35]", 2: "[45:34]", 3: "[43:32]"}),
        Field("BAM", 15, doc="accept broadcast"),
        Field("BSIZE", 16, 2, values={0: "2048", 1: "4096", 2: "8192", 3: "16384"},
              consts={"BSIZE_2048": 0, "BSIZE_4096": 1, "BSIZE_8192": 2, "BSIZE_16384": 3}),
        Field("VFE", 18, doc="VLAN filter enable"), Field("CFIEN", 19), Field("CFI", 20),
        Field("RPDA", 21, 2, consts={"RPDA_MC_ONLY": 2}), Field("CFF", 23),
        Field("SECRC", 26, doc="strip CRC"),
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
    Reg(RXDCTL, "RXDCTL", PARTIAL, 0, 0x07FF_FFFF, "RX descriptor thresholds", (
        Field("PTHRESH", 0, 9), Field("HTHRESH", 9, 9), Field("WTHRESH", 18, 9),
    )),
    Reg(RAIDC, "RAIDC", PARTIAL, 0, 0xDFFF_F83F, "RX adaptive interrupt delay", (
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
    Reg(TXDCTL, "TXDCTL", PARTIAL, 0, 0x007F_7F7F, "TX descriptor thresholds", (
        Field("PTHRESH", 0, 7), Field("HTHRESH", 8, 7), Field("WTHRESH", 16, 7),
    )),
    Reg(TSPMT, "TSPMT", PARTIAL, 0x0400_0000, 0xFFFF_FFFF, "TSO pad and minimum threshold",
        (Field("TSMT", 0, 16), Field("TSPBP", 16, 16))),
    Reg(PAP, "PAP", RW, 0, 0x000F_FFFF, "pause and pace",
        (Field("TXPC", 0, 16), Field("TXPV", 16, 4))),
    Reg(PCSC1, "PCSC1", PARTIAL, 0, 0xFFFF, "PCS control 1", (Field("LOOPBACK", 14),)),
    Reg(PCSC2, "PCSC2", PARTIAL, 1, 0x3, "PCS control 2",
        (Field("PCS_TYPE", 0, 2, values={1: "10GBASE-X"}),)),
    Reg(PCSS1, "PCSS1", RO, 0, 0, "PCS status 1",
        (Field("RX_LINK_STATUS", 2), Field("LOCAL_FAULT", 7))),
    Reg(PCSS2, "PCSS2", RO, field_value(_PCSS2_FIELDS, DEV_PRES=1, **{"10GBX": 1}), 0,
        "PCS status 2", _PCSS2_FIELDS),
    Reg(XPCSS, "XPCSS", RO, 0, 0, "10GBASE-X PCS status", _XPCSS_FIELDS),
    Reg(UCCR, "UCCR", PARTIAL, 0, 0xFFFF_FFFF, "unilink circuit control"),
    Reg(XPCSTC, "XPCSTC", PARTIAL, 0, 0xFFFF_FFFF, "10GBASE-X PCS test control"),
    Reg(MACA, "MACA", PARTIAL, 0, 0xFFFF_FFFF, "MDI autoscan command and address"),
    Reg(APAE, "APAE", PARTIAL, 0, 0xFFFF_FFFF, "autoscan PHY address enable"),
    Reg(ARD, "ARD", RO, 0, 0, "autoscan read data"),
    Reg(AIS, "AIS", RO, 0, 0, "autoscan interrupt status"),
    Reg(MSCA, "MSCA", RW, 0, 0xFFFF_FFFF, "MDI single command and address", (
        Field("NP_ADDR", 0, 16), Field("DEV_TYPE", 16, 5), Field("PHY_ADDR", 21, 5),
        Field("OP_CODE", 26, 2, values={0: "addr", 1: "write", 2: "read", 3: "read-inc"},
              consts={"ADDR_CYCLE": 0, "WRITE": 1, "READ": 2, "READ_AUTOINC": 3}),
        Field("ST_CODE", 28, 2),
        Field("MDI_COMMAND", 30, doc="start; completes at once and self-clears", sc=True),
        Field("MDI_IN_PROG_EN", 31),
    )),
    Reg(MSRWD, "MSRWD", RW, 0, 0xFFFF, "MDI read/write data",
        (Field("WRITE_DATA", 0, 16), Field("READ_DATA", 16, 16))),
    Reg(WUFC, "WUFC", PARTIAL, 0, 0xFFFF_FFFF, "wake-up filter control"),
    Reg(WUS, "WUS", RO, 0, 0, "wake-up status"),
]

for _n in range(NUM_RA):
    _REGS.append(Reg(RAL(_n), f"RAL{_n}", RW, 0, 0xFFFF_FFFF, f"receive address {_n} low"))
    _REGS.append(Reg(RAH(_n), f"RAH{_n}", RW, 0, 0x8003_FFFF, f"receive address {_n} high",
                     _RAH_FIELDS))
for _i in range(NUM_MTA):
    _REGS.append(Reg(MTA + 4 * _i, f"MTA{_i}", RW, 0, 0xFFFF_FFFF, "multicast table"))
for _i in range(NUM_VFTA):
    _REGS.append(Reg(VFTA + 4 * _i, f"VFTA{_i}", RW, 0, 0xFFFF_FFFF, "VLAN filter table"))
for _i in range(8):  # flexible filter length table
    _REGS.append(Reg(FFLT + 8 * _i, f"FFLT{_i}", PARTIAL, 0, 0x7FF, "flexible filter length"))
for _i in range(256):  # flexible filter mask and value tables
    _REGS.append(Reg(FFMT + 4 * _i, f"FFMT{_i}", PARTIAL, 0, 0xF, "flexible filter mask"))
    _REGS.append(Reg(FFVT + 4 * _i, f"FFVT{_i}", PARTIAL, 0, 0xFF, "flexible filter value"))

# Statistics: clear-on-read, saturating (docs/hardware.md §1.2 and its ixsim decisions).
class Stat(NamedTuple):
    name: str  # a 64-bit counter's registers are NAME + "L" / "H"
    offset: int
    width: int  # bits: 64 (an L/H pair) or 32
    doc: str


STATS: tuple[Stat, ...] = tuple(Stat(*s) for s in (
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
))
STAT_OFFSET = {s.name: s.offset for s in STATS}
_STAT_REGS: list[Reg] = []
for _s in STATS:
    if _s.width == 64:
        _STAT_REGS.append(Reg(_s.offset, _s.name + "L", RO, 0, 0,
                              _s.doc + " (low; cleared with the high half)"))
        _STAT_REGS.append(Reg(_s.offset + 4, _s.name + "H", RC, 0, 0, _s.doc + " (high)",
                              alias=_s.offset))
    else:
        _STAT_REGS.append(Reg(_s.offset, _s.name, RC, 0, 0, _s.doc))
STAT_REGS: tuple[Reg, ...] = tuple(_STAT_REGS)  # every counter word, in register order
STAT_FIRST = STAT_REGS[0].offset
STAT_END = STAT_REGS[-1].offset + 4
_REGS.extend(STAT_REGS)

REGISTERS: dict[int, Reg] = {r.offset: r for r in _REGS}
BY_NAME: dict[str, Reg] = {r.name: r for r in _REGS}

# The plain-int names: stat register offsets (TPRL, RNBC, ...) and every bit table.
_namespace = globals()
for _reg in STAT_REGS:
    if _reg.name in _namespace:
        raise ValueError(f"register spec: {_reg.name} is declared twice")
    _namespace[_reg.name] = _reg.offset
export_fields(_namespace, "INT", _INT_FIELDS)
export_fields(_namespace, "RAH", _RAH_FIELDS)
for _reg in _REGS:
    if _reg.fields and _reg.fields is not _INT_FIELDS and _reg.fields is not _RAH_FIELDS:
        export_fields(_namespace, _reg.name, _reg.fields)
INT_MASK = _INT_ALL
XPCSS_LANE_SYNC = field_mask(_XPCSS_FIELDS, "LANE_0_SYNC", "LANE_1_SYNC", "LANE_2_SYNC",
                             "LANE_3_SYNC")
BSIZE_BYTES = tuple(int(text) for text in next(
    f for f in BY_NAME["RCTL"].fields if f.name == "BSIZE").values.values())
# Writes that may not set bits outside ``writable``: registers that store what is written.
STRICT_WRITES = frozenset(r.offset for r in _REGS if r.access in (RW, PARTIAL)
                          or (r.access == W1S and r.alias is None))

# ethtool's 136-word register dump order (docs/hardware.md §2.14), registers only.
ETHTOOL_DUMP_ORDER: tuple[str, ...] = (
    "CTRL0", "CTRL1", "STATUS", "EECD", "MFS", "ICR", "ICS", "IMS", "IMC", "RCTL", "FCRTL",
    "FCRTH", "RDBAL", "RDBAH", "RDLEN", "RDH", "RDT", "RDTR", "RXDCTL", "RAIDC", "RXCSUM",
    *[f"RA{kind}{n}" for n in range(NUM_RA) for kind in ("L", "H")],
    "TCTL", "TDBAL", "TDBAH", "TDLEN", "TDH", "TDT", "TIDV", "TXDCTL", "TSPMT", "PAP",
    "PCSC1", "PCSC2", "PCSS1", "PCSS2", "XPCSS", "UCCR", "XPCSTC", "MACA", "APAE", "ARD",
    "AIS", "MSCA", "MSRWD",
)


def reads_zero(reg: Reg) -> bool:
    """Whether reads return 0: write-only, or a W1S/W1C alias of another register."""
    return reg.access == WO or (reg.access in (W1S, W1C) and reg.alias is not None)


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
