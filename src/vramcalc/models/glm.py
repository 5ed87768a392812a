"""GLM-4.5 (glm4_moe): q/k/v biases, a biased router, dense first layers and a shared expert."""

from vramcalc.models.family import Family

FAMILIES = [Family(model_types=("glm4_moe",))]
