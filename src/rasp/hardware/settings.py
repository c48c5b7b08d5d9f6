"""Hardware settings of one dataset: the ``hardware.<dataset>`` block of config/config.yaml.

Every key with its default, unit, limits and meaning: ``$defs/target`` of
src/rasp/schemas/hardware.schema.yaml (read through :mod:`rasp.schemas`);
:meth:`HardwareSettings.from_dict` validates with it, rejects unknown keys and adds the
checks that span keys. The reuse factor is not a setting: it comes from the experiment
(wildcard ``rf``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from rasp import schemas
from rasp.hardware.fixed import FixedType, parse_precision
from rasp.schemas import SettingsError

#: The schema of one ``hardware.<dataset>`` block.
_TARGET = "hardware#/$defs/target"
BACKENDS = schemas.enum(_TARGET, "backend")
IO_TYPES = schemas.enum(_TARGET, "io_type")
STRATEGIES = tuple(s for s in schemas.enum(_TARGET, "strategy") if s != "auto")
BRAM18K_BITS = 18 * 1024  # bits in one BRAM_18K primitive
RASP_KEY = "RaspHardware"  # key of the rasp block inside an hls4ml config dict


def _checked(cls: type, data: Any, where: str, *keys: str) -> dict[str, Any]:
    """``data`` as a dict of known keys that the block's schema allows."""
    if data is not None and not isinstance(data, dict):
        raise SettingsError(f"{where} must be a mapping, got {type(data).__name__}")
    data = schemas.known_keys(cls, data, where)
    schemas.check(data, _TARGET, *keys, where=where, ignore=("dsp", "bram") if not keys else ())
    return data


#: Keys of earlier versions whose rule changed; using one is an error that names the new keys.
_RENAMED_DSP_KEYS = {
    "lut_max_weight_bits": "fabric_max_weight_bits",
    "lut_max_input_bits": "fabric_max_input_bits",
}


@dataclass(frozen=True)
@schemas.defaults_from(_TARGET, "dsp")
class DspModel:
    """Rule for the number of DSP48E2 slices one multiplication uses (all widths in bits).

    ``impl``: ``fabric`` builds every product in LUTs (0 DSP), ``dsp`` puts every product
    on DSPs (HLS ``BIND_OP ... impl=dsp``), ``auto`` follows what Vivado/Vitis HLS does
    by default: a product goes to fabric only when BOTH operands are narrow (weight type
    at most ``fabric_max_weight_bits`` AND input type at most ``fabric_max_input_bits``
    bits, declared widths); published hls4ml reports show 6- and 8-bit weights fed by
    16-bit data on DSPs. Otherwise the signed operand widths ``a >= b`` are tiled onto the
    ``mult_a_bits x mult_b_bits`` multiplier: ``ceil(a / mult_a_bits) * ceil(b /
    mult_b_bits)`` DSPs, i.e. 1 up to 27x18, 2 up to 54x18 or 27x36, and so on.
    """

    mult_a_bits: int
    mult_b_bits: int
    impl: str
    fabric_max_weight_bits: int
    fabric_max_input_bits: int

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "hardware.dsp") -> DspModel:
        for old, new in _RENAMED_DSP_KEYS.items():
            if isinstance(data, dict) and old in data:
                raise SettingsError(
                    f"{where}.{old} was replaced by {where}.{new}: a product is now built in "
                    "fabric only when weight AND input are narrow (docs/hardware_model.md, D2)"
                )
        obj = cls(**_checked(cls, data, where, "dsp"))
        if obj.mult_b_bits > obj.mult_a_bits:
            raise SettingsError(f"{where}: mult_b_bits must not exceed mult_a_bits")
        return obj

    def dsp_per_multiplication(self, input_type: FixedType, weight_type: FixedType) -> int:
        """DSPs for one ``input x weight`` product (0 when it is built in LUTs)."""
        narrow = (weight_type.width <= self.fabric_max_weight_bits
                  and input_type.width <= self.fabric_max_input_bits)
        if self.impl == "fabric" or (self.impl == "auto" and narrow):
            return 0
        a, b = sorted((input_type.signed_width, weight_type.signed_width), reverse=True)
        return math.ceil(a / self.mult_a_bits) * math.ceil(b / self.mult_b_bits)


@dataclass(frozen=True)
@schemas.defaults_from(_TARGET, "bram")
class BramModel:
    """Geometry of the block RAM that holds Resource-strategy weights.

    One BRAM *unit* is ``width_bits`` wide and ``depth`` words deep and costs
    ``ceil(width_bits * depth / 18432)`` BRAM_18K (36x512 -> 1, 72x512 -> 2, 18x1024 -> 1).
    Weight arrays at most ``lutram_max_depth`` words deep (default 32: Vivado logic
    synthesis maps such shallow ROMs to LUTRAM), or of at most ``lutram_max_bits`` bits in
    total, are put in LUTRAM instead (0 disables either rule; 0 and 0 is the HLS
    C-synthesis view, an upper bound on BRAM).
    """

    width_bits: int
    depth: int
    lutram_max_depth: int
    lutram_max_bits: int

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "hardware.bram") -> BramModel:
        obj = cls(**_checked(cls, data, where, "bram"))
        if obj.width_bits * obj.depth > 2 * BRAM18K_BITS:
            raise SettingsError(
                f"{where}: width_bits x depth = {obj.width_bits * obj.depth} bits exceeds one "
                f"RAMB36 ({2 * BRAM18K_BITS} bits); use e.g. 36x512, 72x512 or 18x1024"
            )
        return obj

    @property
    def bram18k_per_unit(self) -> int:
        """BRAM_18K primitives in one unit."""
        return math.ceil(self.width_bits * self.depth / BRAM18K_BITS)


@dataclass(frozen=True)
@schemas.defaults_from(_TARGET)
class HardwareSettings:
    """One dataset's hls4ml target (see the module docstring for the keys)."""

    backend: str
    part: str
    clock_period_ns: float
    io_type: str
    precision: str
    weight_precision: str | None
    strategy: str
    rf_policy: str
    dsp: DspModel = field(default_factory=DspModel)
    bram: BramModel = field(default_factory=BramModel)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "hardware") -> HardwareSettings:
        """Validate a ``hardware.<dataset>`` block; unknown keys and bad values raise."""
        data = _checked(cls, data, where)
        dsp = DspModel.from_dict(data.pop("dsp", None), f"{where}.dsp")
        bram = BramModel.from_dict(data.pop("bram", None), f"{where}.bram")
        obj = cls(dsp=dsp, bram=bram, **data)
        for key in ("precision", "weight_precision"):
            value = getattr(obj, key)
            if value is None and key == "weight_precision":
                continue
            try:
                parse_precision(value)
            except ValueError as err:
                raise SettingsError(f"{where}.{key}: {err}") from err
        return obj

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (round-trips through :meth:`from_dict`)."""
        return asdict(self)

    @property
    def weight_type(self) -> str:
        """Precision string of the weights (``weight_precision`` or ``precision``)."""
        return self.weight_precision or self.precision

    def resolve_strategy(self, reuse_factor: int, kind: str = "linear") -> str:
        """Strategy for a layer of ``kind`` (``linear`` | ``conv1d`` | ``conv2d``) at
        ``reuse_factor``.

        ``auto``: Latency at RF 1; Resource_Unrolled at RF > 1, except convolutions with
        io_parallel, which hls4ml 1.3.0 cannot unroll (it would fall back to Resource), so
        Resource is chosen there.
        """
        if self.strategy != "auto":
            return self.strategy
        if reuse_factor == 1:
            return "Latency"
        if kind in ("conv1d", "conv2d") and self.io_type == "io_parallel":
            return "Resource"
        return "Resource_Unrolled"


def settings_from_hls_config(hls_config: dict[str, Any]) -> HardwareSettings:
    """The :class:`HardwareSettings` stored in a config made by ``make_hls_config``."""
    block = hls_config.get(RASP_KEY) if isinstance(hls_config, dict) else None
    if not block or "settings" not in block:
        raise SettingsError(
            f"this hls4ml config has no '{RASP_KEY}' block: build it with "
            "rasp.hardware.make_hls_config, or pass settings= explicitly"
        )
    return HardwareSettings.from_dict(block["settings"])
