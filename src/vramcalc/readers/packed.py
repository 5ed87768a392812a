"""Packed quantized checkpoints: their headers count int32/uint8 storage elements, not parameters.

A GPTQ qweight of int32 [in·bits/32, out] holds in·out weights; counting its elements gives ~1/8 of the
model. This module recognises the common layouts and returns the true parameter count beside the scheme.
"""

from __future__ import annotations

from typing import Any

from vramcalc.inventory import Inventory, QuantizationInfo, TensorInfo

# Tensors that hold scales, zero points or bookkeeping: bytes, but not parameters.
_AUX_SUFFIXES = (
    ".qzeros", ".scales", ".g_idx", ".absmax", ".quant_map", ".SCB", ".weight_scale", ".weight_scale_inv",
    ".weight_zero_point", ".weight_shape", ".input_scale", ".weight_global_scale", ".input_global_scale",
    "_scales", ".nested_absmax", ".nested_quant_map", ".k_scale", ".v_scale",
)


def _is_aux(name: str) -> bool:
    return name.endswith(_AUX_SUFFIXES) or ".quant_state." in name or name.endswith(".weight_format")


def detect_packed(inventory: Inventory, config: dict[str, Any] | None) -> tuple[QuantizationInfo | None, int | None]:
    """(scheme, true parameter count) of the inventory's tensors under `config`, or (None, None) for an ordinary
    checkpoint."""
    qcfg = (config or {}).get("quantization_config") or {}
    if not isinstance(qcfg, dict):  # a malformed section: read the tensors as they are
        qcfg = {}
    method = str(qcfg.get("quant_method", "")).lower()
    # per group of tensors alike but for their layer or expert index (DeepSeek-V3's 90,427 tensors are 37 groups):
    # the name pattern keeps every part these tests read, and a group shares dtype and shape
    groups = inventory.groups
    last: set[str] = set()  # after a name's last dot
    tails: set[str] = set()  # the same, and whole names without a dot
    middle: set[str] = set()  # between its last two dots
    for pattern, *_ in groups:
        parts = pattern.rsplit(".", 2)
        tails.add(parts[-1])
        if len(parts) > 1:
            last.add(parts[-1])
        if len(parts) > 2:
            middle.add(parts[-2])

    def ends_with(suffix: str) -> bool:  # some name ends with `suffix` (".qweight", "_blocks")
        if suffix.startswith("."):
            return suffix[1:] in last
        return any(e.endswith(suffix) for e in tails)

    raw_bits = qcfg.get("bits") or qcfg.get("w_bit") or 4
    bits = raw_bits if isinstance(raw_bits, int) and not isinstance(raw_bits, bool) and 1 <= raw_bits <= 32 else 4
    scheme: str | None = None
    if ends_with(".qweight"):
        scheme = "awq" if method == "awq" or not ends_with(".g_idx") and method != "gptq" else "gptq"
    elif ends_with(".weight_packed"):
        scheme = "compressed-tensors"
    elif ends_with(".absmax") or "quant_state" in middle:  # bitsandbytes: `<weight>.quant_state.bitsandbytes__nf4`
        scheme = "bitsandbytes-4bit"
    elif ends_with(".SCB"):
        scheme = "bitsandbytes-int8"
    elif ends_with("_blocks") and ends_with("_scales"):
        scheme = "mxfp4"
    elif ends_with(".weight_scale_inv"):
        scheme = "fp8-block"
    elif ends_with(".weight_scale") and any(dtype.startswith("F8_E4M3") for _, dtype, *_ in groups):
        scheme = "fp8"
    if scheme is None:
        return None, None
    if scheme.startswith("fp8"):  # the weights are stored one per byte: only the scales are not parameters
        params = sum(alike[0].numel * len(alike) for (pattern, *_), alike in groups.items() if not _is_aux(pattern))
    else:
        params = sum(_unpacked_numel(alike[0], scheme, bits) * len(alike)
                     for (pattern, *_), alike in groups.items() if not _is_aux(pattern))
    group = qcfg.get("group_size") or qcfg.get("q_group_size")
    if isinstance(group, bool):
        group = None
    details = {k: v for k, v in qcfg.items() if isinstance(v, str | int | float | bool)}
    return QuantizationInfo(scheme=scheme, bits=float(bits) if scheme in _BIT_SCHEMES else None,
                            group_size=int(group) if isinstance(group, int) else None, details=details), params


_BIT_SCHEMES = ("gptq", "awq", "compressed-tensors")  # packed integers whose width the config states


def param_count(t: TensorInfo, quant: QuantizationInfo | None) -> int:
    """Parameters one stored tensor holds: a packed weight's unpacked count, 0 for the scales, zero points and
    bookkeeping of a packed checkpoint, the element count otherwise. Sums to detect_packed's true count."""
    if quant is None:
        return t.numel
    if _is_aux(t.name):
        return 0
    return _unpacked_numel(t, quant.scheme, int(quant.bits or 4))


def _unpacked_numel(t: TensorInfo, scheme: str, bits: int) -> int:
    n = t.numel
    if t.name.endswith(".qweight"):
        # GPTQ [in·bits/32, out] and AWQ [in, out·bits/32]: each int32 holds 32/bits weights.
        return n * 32 // bits
    if t.name.endswith(".weight_packed"):
        return n * (32 // bits) if t.dtype in ("I32", "U32") else n * 2
    if scheme == "bitsandbytes-4bit" and t.dtype == "U8" and t.name.endswith(".weight"):
        return n * 2
    if t.name.endswith("_blocks") and t.dtype == "U8":
        return n * 2  # two FP4 values per byte
    return n
