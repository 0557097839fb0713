"""Module parameters: names, Linux defaults and ranges, and ``check_options``.

Mirrors Linux's ``ixgb_param.c`` (plus ``copybreak`` from ``ixgb_main.c``).  Linux takes one
value per board from the module command line; ixsim takes them as keyword arguments of
``probe(kernel, pci_dev, **params)``.  An out-of-range value is logged and replaced by the
default, exactly as ``ixgb_validate_option`` does; an unknown name is a ``TypeError`` (a typo
must not pass silently).  Spec: docs/hardware.md §1.6.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from driver.ixgb.adapter import (
    DEFAULT_RXD,
    DEFAULT_TXD,
    FC_DEFAULT,
    FC_FULL,
    FC_NONE,
    FC_RX_PAUSE,
    FC_TX_PAUSE,
    MAX_RXD,
    MAX_TXD,
    MIN_RXD,
    MIN_TXD,
    REQ_RX_DESCRIPTOR_MULTIPLE,
    REQ_TX_DESCRIPTOR_MULTIPLE,
    Adapter,
)

DEFAULT_TIDV = 32
DEFAULT_RDTR = 72
DEFAULT_FCRTL = 0x28000
DEFAULT_FCRTH = 0x30000
DEFAULT_FCPAUSE = 0xFFFF
COPYBREAK = 256

_FC_LIST = {
    FC_NONE: "Flow Control Disabled",
    FC_RX_PAUSE: "Flow Control Receive Only",
    FC_TX_PAUSE: "Flow Control Transmit Only",
    FC_FULL: "Flow Control Enabled",
    FC_DEFAULT: "Flow Control Hardware Default",
}


@dataclass(frozen=True, slots=True)
class Option:
    """One parameter: ``kind`` is "range" (min..max), "enable" (0/1) or "list" (``choices``)."""

    name: str
    desc: str
    kind: str
    default: int
    min: int = 0
    max: int = 0
    choices: Mapping[int, str] | None = None


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("TxDescriptors", "Transmit Descriptors", "range", DEFAULT_TXD, MIN_TXD, MAX_TXD),
    Option("RxDescriptors", "Receive Descriptors", "range", DEFAULT_RXD, MIN_RXD, MAX_RXD),
    Option("XsumRX", "Receive Checksum Offload", "enable", 1),
    Option("FlowControl", "Flow Control", "list", FC_TX_PAUSE, choices=_FC_LIST),
    Option("RxFCHighThresh", "Rx Flow Control High Threshold", "range", DEFAULT_FCRTH,
           8, 0x3FFF0),
    Option("RxFCLowThresh", "Rx Flow Control Low Threshold", "range", DEFAULT_FCRTL,
           0, 0x3FFE8),
    Option("FCReqTimeout", "Flow Control Pause Time Request", "range", DEFAULT_FCPAUSE,
           1, 0xFFFF),
    Option("RxIntDelay", "Receive Interrupt Delay", "range", DEFAULT_RDTR, 0, 0xFFFF),
    Option("TxIntDelay", "Transmit Interrupt Delay", "range", DEFAULT_TIDV, 0, 0xFFFF),
    Option("IntDelayEnable", "Tx Interrupt Delay Enable", "enable", 1),
    Option("copybreak", "Maximum size of packet that is copied to a new buffer on receive",
           "range", COPYBREAK, 0, 0xFFFFFFFF),
    Option("debug", "Debug level (0=none,...,16=all)", "range", -1, -1, 16),
)}


def validate_params(params: Mapping[str, Any]) -> None:
    unknown = sorted(set(params) - set(OPTIONS))
    if unknown:
        raise TypeError(f"ixgb: unknown module parameter(s) {', '.join(unknown)}; "
                        f"known: {', '.join(OPTIONS)}")


def validate_option(adapter: Adapter, params: Mapping[str, Any], name: str) -> int:
    """The value to use: the given one when valid (logged), else the default (logged)."""
    opt = OPTIONS[name]
    if name not in params:
        return opt.default
    value = params[name]
    if isinstance(value, int):  # bool included: XsumRX=False reads as 0
        value = int(value)
        if opt.kind == "enable" and value in (0, 1):
            adapter.kernel.log("info", f"ixgb: {opt.desc} {'Enabled' if value else 'Disabled'}")
            return value
        if opt.kind == "range" and opt.min <= value <= opt.max:
            adapter.kernel.log("info", f"ixgb: {opt.desc} set to {value}")
            return value
        if opt.kind == "list" and opt.choices and value in opt.choices:
            adapter.kernel.log("info", f"ixgb: {opt.choices[value]}")
            return value
    adapter.kernel.log("info", f"ixgb: Invalid {opt.desc} specified ({value}) "
                       f"using default of {opt.default}")
    return opt.default


def _align(value: int, multiple: int) -> int:
    return (value + multiple - 1) // multiple * multiple


def check_options(adapter: Adapter, params: Mapping[str, Any]) -> None:
    """Fill the adapter's tunables from the parameters (``ixgb_check_options``)."""
    hw = adapter.hw
    adapter.tx_ring.count = _align(validate_option(adapter, params, "TxDescriptors"),
                                   REQ_TX_DESCRIPTOR_MULTIPLE)
    adapter.rx_ring.count = _align(validate_option(adapter, params, "RxDescriptors"),
                                   REQ_RX_DESCRIPTOR_MULTIPLE)
    adapter.rx_csum = bool(validate_option(adapter, params, "XsumRX"))
    hw.fc.type = validate_option(adapter, params, "FlowControl")
    if hw.fc.type == FC_DEFAULT:
        # "Hardware default" reads the EEPROM's choice in Linux's e1000; ixgb's setup_fc
        # has no case for it, so ixsim settles it to the ixgb default (Tx only).
        hw.fc.type = FC_TX_PAUSE
    hw.fc.high_water = validate_option(adapter, params, "RxFCHighThresh")
    hw.fc.low_water = validate_option(adapter, params, "RxFCLowThresh")
    hw.fc.pause_time = validate_option(adapter, params, "FCReqTimeout")
    if hw.fc.type & FC_TX_PAUSE and hw.fc.high_water < hw.fc.low_water + 8:
        adapter.kernel.log("info", "ixgb: RxFCHighThresh must be >= (RxFCLowThresh + 8), "
                           "Using Defaults")
        hw.fc.high_water = DEFAULT_FCRTH
        hw.fc.low_water = DEFAULT_FCRTL
    adapter.rx_int_delay = validate_option(adapter, params, "RxIntDelay")
    adapter.tx_int_delay = validate_option(adapter, params, "TxIntDelay")
    adapter.tx_int_delay_enable = bool(validate_option(adapter, params, "IntDelayEnable"))
    adapter.copybreak = validate_option(adapter, params, "copybreak")
