"""Explain where a format's bytes go, per tensor class: types chosen, payload vs scale/zero bits, share, bpw.

Answers questions such as "why is model_q4.onnx not a quarter of model.onnx?" (the embedding table stays
float and the LM head is stored a second time) and "why is Q4_K_M bigger than Q4_0?" (super-block scales, and
half of attn_v/ffn_down plus the output in Q6_K): every line is bytes the plan really holds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from vramcalc.units import format_bytes, format_count

if TYPE_CHECKING:
    from vramcalc.calculator.weights import TensorPlan, WeightPlan

# Display order and names of tensor classes; attention and MLP are split by projection.
_GROUPS = [
    ("embeddings", "embeddings"), ("attn_q", "attention q"), ("attn_k", "attention k"), ("attn_v", "attention v"),
    ("attn_o", "attention o"), ("attn_other", "attention (other)"), ("mlp_gate", "MLP gate"), ("mlp_up", "MLP up"),
    ("mlp_down", "MLP down"), ("mlp_other", "MLP (other)"), ("experts", "experts"),
    ("shared_experts", "shared experts"),
    ("router", "router"), ("lm_head", "lm_head"), ("modulation", "modulation (AdaLN)"), ("norms", "norms"),
    ("vision", "vision"),
    ("projector", "projector"), ("other", "other"),
]
_LABEL = dict(_GROUPS)


def _group(p: TensorPlan) -> str:
    n = p.tensor.name
    if p.cls == "attention":
        for key, g in (("q_proj", "attn_q"), ("attn_q.", "attn_q"), ("k_proj", "attn_k"), ("attn_k.", "attn_k"),
                       ("v_proj", "attn_v"), ("attn_v.", "attn_v"), ("o_proj", "attn_o"), ("attn_output", "attn_o")):
            if key in n:
                return g
        return "attn_other"
    if p.cls == "mlp":
        for key, g in (("gate_proj", "mlp_gate"), ("ffn_gate", "mlp_gate"), ("up_proj", "mlp_up"),
                       ("ffn_up", "mlp_up"), ("down_proj", "mlp_down"), ("ffn_down", "mlp_down")):
            if key in n:
                return g
        return "mlp_other"
    return p.cls


@dataclass
class _Acc:
    tensors: int = 0
    params: int = 0
    bytes: int = 0
    payload_bits: Fraction = Fraction(0)
    types: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # type → tensor count


def _type_name(p: TensorPlan) -> str:
    return p.spec.name if p.spec is not None else p.kept_dtype


def _payload_bits(p: TensorPlan) -> Fraction:
    """Bits holding the weights themselves; the rest of the tensor's bytes are scales, zeros, codebooks."""
    if p.spec is None or p.spec.payload_bits is None:
        return Fraction(p.nbytes * 8)
    return min(Fraction(p.nbytes * 8), p.spec.payload * p.tensor.numel)


def explain_plan(plan: WeightPlan, units: str) -> list[str]:
    """Lines explaining `plan` class by class, then where the bytes above the base type go."""
    total, params = plan.nbytes, plan.params
    if params == 0:
        return [f"{plan.spec.name}: no tensors"]
    acc: dict[str, _Acc] = defaultdict(_Acc)
    for p in plan.tensors:
        a = acc[_group(p)]
        a.tensors += 1
        a.params += p.tensor.numel
        a.bytes += p.nbytes
        a.payload_bits += _payload_bits(p)
        a.types[_type_name(p)] += 1
    bpw = Fraction(total * 8, params)
    lines = [
        f"{plan.spec.name}: {params:,} parameters in {len(plan.tensors)} tensors → {total:,} bytes "
        f"({format_bytes(total, units)}), {float(bpw):.4f} bits per weight",
        f"  {'class':<17} {'tensors':>7} {'params':>8}  {'types (tensor count)':<22} {'payload':>7} "
        f"{'scales':>7} {'bpw':>7} {'bytes':>11} {'share':>6}",
    ]
    for key, label in _GROUPS:
        if key not in acc:
            continue
        a = acc[key]
        types = ", ".join(f"{t} ×{n}" for t, n in sorted(a.types.items(), key=lambda kv: -kv[1]))
        payload = a.payload_bits / a.params
        over = Fraction(a.bytes * 8, a.params) - payload
        lines.append(
            f"  {label:<17} {a.tensors:>7} {format_count(a.params):>8}  {types:<22} {float(payload):>7.3f} "
            f"{float(over):>7.3f} {float(Fraction(a.bytes * 8, a.params)):>7.3f} "
            f"{format_bytes(a.bytes, units):>11} {a.bytes / total:>6.1%}"
        )
    lines.append("  (payload = bits per weight holding the values; scales = block scales, zero points, mins, "
                 "codebooks; bpw = their sum)")
    lines += _versus_base(plan, acc, units)
    lines += _untied_head_note(plan, units)
    return lines


def _untied_head_note(plan: WeightPlan, units: str) -> list[str]:
    if plan.spec.family != "onnx":
        return []
    heads = [p for p in plan.tensors if p.cls == "lm_head"]
    embs = {p.tensor.shape for p in plan.tensors if p.cls == "embeddings"}
    if not heads or heads[0].tensor.shape not in embs:
        return []
    h = heads[0]
    return [f"  the export stores the LM head apart from the embedding table (MatMul vs Gather), even for a model "
            f"that ties them: {format_count(h.tensor.numel)} weights counted twice, +{format_bytes(h.nbytes, units)}"]


def _base_bpw(plan: WeightPlan) -> tuple[str, Fraction] | None:
    """The type most of the plan's parameters are stored in: the format's nominal layout."""
    by_type: dict[str, tuple[int, Fraction]] = {}
    for p in plan.tensors:
        if p.spec is None or p.tensor.numel == 0:
            continue
        n, _ = by_type.get(p.spec.name, (0, Fraction(0)))
        by_type[p.spec.name] = (n + p.tensor.numel, Fraction(p.nbytes * 8, p.tensor.numel))
    if not by_type:
        return None
    name = max(by_type, key=lambda k: by_type[k][0])
    return name, by_type[name][1]


def _versus_base(plan: WeightPlan, acc: dict[str, _Acc], units: str) -> list[str]:
    total, params = plan.nbytes, plan.params
    lines = []
    base = _base_bpw(plan)
    if base is not None:
        name, bits = base
        ideal = params * bits / 8
        lines.append(
            f"  if all {format_count(params)} weights were {name} ({float(bits):.4g} bits): "
            f"{format_bytes(int(ideal), units)}; the plan holds {format_bytes(total, units)} "
            f"({float((total - ideal) / ideal):+.1%})"
        )
        extra: list[tuple[Fraction, str]] = []
        for key, label in _GROUPS:
            a = acc.get(key)
            if a is None:
                continue
            diff = a.bytes - a.params * bits / 8
            if abs(diff) * 1000 < total:  # under 0.1 % of the file: not worth a line
                continue
            by_count = sorted(a.types.items(), key=lambda kv: (-kv[1], kv[0]))  # the most tensors first
            kinds = ", ".join(t for t, _ in by_count if t != name) or name
            extra.append((diff, f"    {label:<18} {'+' if diff >= 0 else '−'}"
                                f"{format_bytes(abs(int(diff)), units):>10}  ({kinds})"))
        if extra:
            lines[-1] += ". Where the difference comes from:"
            lines += [text for _, text in sorted(extra, key=lambda e: -e[0])]
    fp32, fp16 = params * 4, params * 2
    lines.append(
        f"  vs the same weights in fp32 ({format_bytes(fp32, units)}): {total / fp32:.1%}; "
        f"vs fp16/bf16 ({format_bytes(fp16, units)}): {total / fp16:.1%}"
    )
    return lines
