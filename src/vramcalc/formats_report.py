"""The `vramcalc formats` report: the registry as rows."""

from __future__ import annotations

from vramcalc.calculator.quantize import llamacpp_ftype
from vramcalc.calculator.representative import count_ftype, price_ftype
from vramcalc.errors import UsageError
from vramcalc.heuristics import BARE_COUNT_REFERENCE
from vramcalc.registry import FAMILIES, Registry
from vramcalc.reports import FormatEntry, FormatsReport

# llama-quantize decides the token embeddings and the output per file type (llama_tensor_get_type); only 1-D
# tensors are never quantized.
_LLAMACPP_KEEPS = ("1-D tensors (norms, biases) in F32; token embeddings and output by llama.cpp's per-tensor rules "
                   "(see estimate --explain)")


def _keeps(spec_quantizes: str, keep_dtype: str, emb: bool, head: bool) -> str:
    if spec_quantizes == "all":
        return "nothing (every float tensor converted)"
    if spec_quantizes == "none":
        return "everything"
    kept = ["norms", "biases", "routers"]
    if not emb:
        kept.append("embeddings")
    if not head:
        kept.append("lm_head")
    where = "as stored" if keep_dtype == "source" else f"in {keep_dtype}"
    return f"{', '.join(kept)} {where}"


def build_formats_report(registry: Registry, family: str | None = None,
                         names: list[str] | None = None) -> FormatsReport:
    """Every format (or one family's, or the named ones), each with its layout priced: a gguf_mix shows its base
    type's numbers, and every llama.cpp file type its typical bits per weight — a whole file of the representative
    decoder at the reference size (8B), as `estimate 8B-<name>` prices it. A name that is no format is an error
    with the closest names."""
    if family is not None:
        family = family.strip().lower().replace("-", "_")
        if family not in FAMILIES:
            raise UsageError(f"unknown format family {family!r}", f"use one of: {', '.join(FAMILIES)}")
    wanted = {registry.get(n).name for n in names} if names else None
    entries = []
    for spec in registry:
        if (family and spec.family != family) or (wanted is not None and spec.name not in wanted):
            continue
        eff = registry.get(spec.base_type) if spec.base_type else spec
        bpw = eff.bits_per_weight
        block_bytes = eff.block_bytes
        ftype = count_ftype(spec)
        reference = BARE_COUNT_REFERENCE.as_int()
        typical = float(price_ftype(reference, ftype, registry).bits_per_weight) if ftype is not None else None
        entries.append(FormatEntry(
            name=spec.name, aliases=spec.aliases, family=spec.family,
            bits_per_weight=float(bpw), bits_per_weight_exact=str(bpw),
            block_size=eff.block_size, block_bytes=float(block_bytes) if block_bytes is not None else None,
            layout=spec.layout_text(),
            quantizes=spec.quantizes,
            keeps=(_LLAMACPP_KEEPS if llamacpp_ftype(spec) is not None else
                   _keeps(spec.quantizes, spec.keep_dtype, spec.quantize_embeddings, spec.quantize_lm_head)),
            base_type=spec.base_type, typical_bits_per_weight=typical,
            typical_at_params=reference if typical is not None else None,
            nominal_bits=spec.nominal_bits, stored_as=dict(spec.stored_as),
            value_range=spec.value_range, notes=spec.notes, source=spec.source,
        ))
    return FormatsReport(registry_files=registry.sources, formats=entries)
