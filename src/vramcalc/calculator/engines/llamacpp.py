"""llama.cpp (llama-server / llama-cli): GGUF weights, the KV cache padded to 256 cells, ggml's compute buffer,
layers split between GPU and host by -ngl, the token embeddings in host memory."""

from __future__ import annotations

from math import ceil
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from vramcalc import heuristics as H
from vramcalc.calculator.engines.base import EngineProfile, RowWeights, RuntimeEstimate, RuntimeRequest, no_architecture
from vramcalc.calculator.kv import LLAMACPP_KV_TYPES, LLAMACPP_PAD, kv_cache_bytes

if TYPE_CHECKING:
    from vramcalc.architecture import Architecture


class LlamaCppProfile(EngineProfile):
    name = "llama.cpp"
    label = "llama.cpp (llama-server / llama-cli): GGUF weights, f16 KV padded to 256 cells, ggml compute buffer"
    options: ClassVar[tuple[str, ...]] = ("--gpu-layers", "--ubatch-size", "--flash-attention", "--op-offload")
    kv_dtypes = LLAMACPP_KV_TYPES  # -ctk/-ctv
    default_kv_dtype = "f16"

    def memory(self, arch: Architecture | None, w: RowWeights, r: RuntimeRequest) -> RuntimeEstimate:
        weights, embedding_bytes, output_bytes = w.weight_bytes, w.embedding_bytes, w.output_bytes
        largest_tensor_bytes = w.largest_tensor_bytes
        est = RuntimeEstimate("llama.cpp", heuristics=[H.LLAMACPP_CTX_PAD])
        est._overhead("cuda_context", H.LLAMACPP_UNACCOUNTED.as_int(), H.LLAMACPP_UNACCOUNTED)
        # The token embedding table is a lookup: llama.cpp keeps it in host memory even with every layer offloaded.
        # With tied embeddings the same table is also the output layer, so a copy goes to the GPU as `output`.
        tied = output_bytes == 0 and embedding_bytes > 0
        output = embedding_bytes if tied else output_bytes
        repeating = weights - embedding_bytes - output_bytes
        est.host_bytes = embedding_bytes
        est.parts["host: token embeddings"] = embedding_bytes
        if arch is None:
            est.weights_on_gpu = repeating + output
            return no_architecture(est)
        n = arch.num_layers
        gpu_layers = n + 1 if r.gpu_layers is None else max(0, min(r.gpu_layers, n + 1))
        # -ngl N offloads the output layer and the last N − 1 repeating layers (i_gpu_start = n_layer + 1 − N).
        on_gpu = max(0, gpu_layers - 1)
        share = on_gpu / n if n else 1.0
        gpu_repeating, experts_host, cpu_moe = _expert_split(arch, repeating, w.expert_bytes, on_gpu, r.cpu_moe_layers)
        if gpu_repeating is None:
            gpu_repeating = int(repeating * share)
        est.weights_on_gpu = gpu_repeating + (output if gpu_layers > 0 else 0)
        host_weights = repeating - gpu_repeating - experts_host + (0 if gpu_layers > 0 or tied else output)
        est.host_bytes += host_weights
        est.parts["host: layers not offloaded"] = host_weights
        if experts_host:
            # --n-cpu-moe N / -ot exps=CPU: the routed experts of the first N layers stay in host memory (the
            # override puts each matching tensor in a CPU buffer); their layers' attention, norms and KV stay on the GPU
            est.host_bytes += experts_host
            est.parts[f"host: routed experts of {cpu_moe} offloaded layer(s) (--n-cpu-moe)"] = experts_host
        n_ctx = ceil(r.context * r.batch / LLAMACPP_PAD) * LLAMACPP_PAD  # one unified cache for all sequences
        kv_dtype = est.kv_dtype = self.kv_dtype(r, 2)
        ub = min(r.n_ubatch, r.n_batch, n_ctx)
        kv_all = kv_cache_bytes(arch, n_ctx, 1, kv_dtype, "llama.cpp", n_ubatch=ub, registry=r.registry)
        # KV lives with its layer: offloaded layers' cells on the GPU, the rest in host memory.
        layer_kv = [kv_cache_bytes(arch.model_copy(update={"layers": [layer]}), n_ctx, 1, kv_dtype, "llama.cpp",
                                   n_ubatch=ub, registry=r.registry) for layer in arch.layers]
        gpu_kv = sum(layer_kv[n - on_gpu:]) if on_gpu else 0
        est.kv_cache_bytes = gpu_kv
        est.host_bytes += kv_all - gpu_kv
        est.parts["host: KV of layers not offloaded"] = kv_all - gpu_kv
        # Op offload: at reserve time the worst-case ubatch is large enough for the CUDA backend to take the matmuls of
        # whatever stays in host memory, with the weight (and a host layer's K/V) copied into its compute buffer, so
        # even -ngl 0 reserves a CUDA compute buffer.
        offload = r.op_offload and ub >= H.LLAMACPP_OP_OFFLOAD_MIN_BATCH.as_int()
        host_layers = n - on_gpu
        if gpu_layers > 0 or offload:
            from vramcalc.calculator.activations import llamacpp_compute, llamacpp_largest_layer_tensor

            copies: dict[str, int] = {}
            if offload:
                largest = largest_tensor_bytes or (llamacpp_largest_layer_tensor(arch, repeating)
                                                   if host_layers or experts_host else 0)
                copies = {"output_copy_bytes": output if gpu_layers == 0 else 0,
                          "host_tensor_bytes": largest if host_layers or experts_host else 0,
                          "host_kv_bytes": max(layer_kv[:host_layers], default=0)}
            est._activations(llamacpp_compute(arch, n_ctx, ub, r.flash_attention, **copies))
        if host_layers or gpu_layers == 0 or experts_host:
            floor = H.LLAMACPP_OP_OFFLOAD_MIN_BATCH
            if floor not in est.heuristics:
                est.heuristics.append(floor)
            what = ", ".join([f"{host_layers} host layer(s)"] * bool(host_layers or not experts_host)
                             + [f"routed experts of {cpu_moe} layer(s)"] * bool(experts_host)) \
                + (" and the output layer" if gpu_layers == 0 else "")
            est.explain.append(
                f"llama.cpp op offload: n_ubatch {ub} ≥ {floor.as_int()}, so the matmuls of the {what} run on the GPU, "
                "their weights copied into the CUDA compute buffer one tensor at a time" if offload else
                f"llama.cpp op offload: n_ubatch {ub} < {floor.as_int()}, so the {what} run on the CPU")
        out_buf = int(H.LLAMACPP_OUTPUT_BUFFER.value) * r.batch * arch.vocab_size * 4
        est.host_bytes += out_buf
        est.parts["host: output buffer"] = out_buf
        est.heuristics.append(H.LLAMACPP_OUTPUT_BUFFER)
        est.explain.append(
            f"llama.cpp: n_ctx {r.batch} × {r.context:,} → {n_ctx:,} cells (padded to {LLAMACPP_PAD}); KV {kv_dtype} "
            f"{kv_all:,} B of which {gpu_kv:,} on the GPU ({on_gpu}/{n} repeating layers offloaded); n_ubatch {ub}; "
            f"flash attention {'on' if r.flash_attention else 'off'}")
        if est.host_bytes:
            est.notes.append(f"llama.cpp keeps {est.host_bytes / 1e9:.2f} GB in host memory (token embeddings, output "
                             "buffer" + (", layers not offloaded and their KV" if on_gpu < n else "")
                             + (", routed experts (--n-cpu-moe)" if experts_host else "") + ")")
        return est


def _expert_split(arch: Architecture, repeating: int, expert_bytes: int, on_gpu: int,
                  cpu_moe_layers: int) -> tuple[int | None, int, int]:
    """The repeating-layer bytes on the GPU when the routed experts are known: (GPU bytes, expert bytes kept in host
    memory by --n-cpu-moe, layers whose experts stay there). (None, 0, 0) without expert bytes: the caller shares
    the repeating bytes out by layer count.

    Dense bytes (attention, norms, shared experts, routers, dense lead layers) are shared out by layer; each MoE
    layer holds an equal share of the experts. --n-cpu-moe N keeps the experts of layers 0 … N − 1 in host memory
    (llama.cpp common/arg.cpp: one `blk.i.ffn_(up|down|gate)_exps` override per layer below N); -ot exps=CPU is
    N = every layer. Layers -ngl leaves in host memory keep their experts there anyway."""
    moe = [i for i in range(arch.num_layers) if i >= arch.first_dense_layers] if arch.is_moe and expert_bytes else []
    if not moe:
        return None, 0, 0
    n = arch.num_layers
    per_layer = expert_bytes // len(moe)
    gpu_start = n - on_gpu  # the first repeating layer -ngl puts on the GPU
    gpu_moe = [i for i in moe if i >= gpu_start]
    kept = sum(1 for i in gpu_moe if i < cpu_moe_layers)
    dense = repeating - per_layer * len(moe)
    gpu = dense * on_gpu // n + per_layer * (len(gpu_moe) - kept)
    return gpu, per_layer * kept, kept


class LayerCost(NamedTuple):
    weights: int
    kv: int


def layer_costs(arch: Architecture, w: RowWeights, r: RuntimeRequest,
                est: RuntimeEstimate) -> tuple[list[LayerCost], int]:
    """What each repeating layer -ngl puts on the GPUs holds there (first to last), and the output layer's bytes —
    for splitting them over devices (`-ts`). The layers add up to the estimate's weights and KV on the GPU: dense
    bytes shared out by layer (the remainder to the last), each MoE layer's experts unless --n-cpu-moe keeps them
    in host memory, each layer's own KV cells."""
    n = arch.num_layers
    tied = w.output_bytes == 0 and w.embedding_bytes > 0
    gpu_layers = n + 1 if r.gpu_layers is None else max(0, min(r.gpu_layers, n + 1))
    on_gpu = max(0, gpu_layers - 1)
    output = (w.embedding_bytes if tied else w.output_bytes) if gpu_layers > 0 else 0
    if not on_gpu:
        return [], output
    n_ctx = ceil(r.context * r.batch / LLAMACPP_PAD) * LLAMACPP_PAD
    ub = min(r.n_ubatch, r.n_batch, n_ctx)
    kv_dtype = est.kv_dtype or "f16"
    first = n - on_gpu
    kv = [kv_cache_bytes(arch.model_copy(update={"layers": [layer]}), n_ctx, 1, kv_dtype, "llama.cpp", n_ubatch=ub,
                         registry=r.registry)
          for layer in arch.layers[first:]]
    weights_gpu = est.weights_on_gpu - output
    moe = [i for i in range(n) if i >= arch.first_dense_layers] if arch.is_moe and w.expert_bytes else []
    per_expert_layer = w.expert_bytes // len(moe) if moe else 0
    experts = [per_expert_layer if (i in moe and i >= r.cpu_moe_layers) else 0 for i in range(first, n)]
    dense = (weights_gpu - sum(experts)) // on_gpu
    out = [LayerCost(dense + e, k) for e, k in zip(experts, kv, strict=True)]
    rest = weights_gpu - sum(c.weights for c in out)
    out[-1] = LayerCost(out[-1].weights + rest, out[-1].kv)
    return out, output
