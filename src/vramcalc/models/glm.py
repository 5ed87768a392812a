"""GLM-4.5 (glm4_moe): q/k/v biases (attention_bias; none on o_proj), a biased router, dense first layers and a
shared expert."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vramcalc.models.decoder import build_decoder, nextn_warning
from vramcalc.models.family import Family

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture
    from vramcalc.models.tensors import TensorBuilder


def build(b: TensorBuilder, cfg: dict[str, Any], arch: Architecture) -> list[str]:
    build_decoder(b, cfg, arch, mla=False)
    return nextn_warning(cfg, arch)


FAMILIES = [Family(model_types=("glm4_moe",), o_proj_bias=False, router_bias=True, builder=build)]
