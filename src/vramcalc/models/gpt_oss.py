"""gpt-oss: biased attention with sinks, alternating sliding layers (layer_types), MXFP4 experts."""

from vramcalc.models.family import Family

FAMILIES = [Family(model_types=("gpt_oss",))]
