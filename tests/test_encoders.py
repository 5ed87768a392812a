"""Encoder-only models (BERT, RoBERTa, XLM-R: embedding and reranker models): exact counts from config.json, no
KV cache, a default context the model accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli
from vramcalc.architecture import architecture_from_config
from vramcalc.calculator.engines import RuntimeRequest, runtime_memory
from vramcalc.components import classify
from vramcalc.readers.config_json import inventory_from_config

# config.json fields of the public checkpoints (google-bert/bert-base-uncased, bert-large-uncased,
# FacebookAI/xlm-roberta-base, BAAI/bge-m3, BAAI/bge-reranker-base)
BERT_BASE = {"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_size": 768,
             "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 30522,
             "max_position_embeddings": 512, "type_vocab_size": 2}
XLMR_BASE = {"architectures": ["XLMRobertaForMaskedLM"], "model_type": "xlm-roberta", "hidden_size": 768,
             "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 250002,
             "max_position_embeddings": 514, "type_vocab_size": 1, "pad_token_id": 1}
BGE_M3 = {**XLMR_BASE, "architectures": ["XLMRobertaModel"], "hidden_size": 1024, "num_hidden_layers": 24,
          "num_attention_heads": 16, "intermediate_size": 4096, "max_position_embeddings": 8194}
RERANKER = {**XLMR_BASE, "architectures": ["XLMRobertaForSequenceClassification"], "id2label": {"0": "LABEL_0"}}


def _count(cfg: dict[str, Any]) -> int:
    return inventory_from_config(cfg, "x").total_params


def _layer(h: int, inter: int) -> int:
    # q, k, v, attention output (weight + bias each), two LayerNorms, intermediate and output dense
    return 4 * (h * h + h) + 2 * 2 * h + (h * inter + inter) + (inter * h + h)


def test_bert_base_as_bertmodel_is_the_familiar_109m() -> None:
    emb = 30522 * 768 + 512 * 768 + 2 * 768 + 2 * 768
    pooler = 768 * 768 + 768
    assert _count({**BERT_BASE, "architectures": ["BertModel"]}) == emb + 12 * _layer(768, 3072) + pooler \
        == 109_482_240  # the total transformers reports for BertModel.from_pretrained("bert-base-uncased")
    large = {**BERT_BASE, "architectures": ["BertModel"], "hidden_size": 1024, "num_hidden_layers": 24,
             "num_attention_heads": 16, "intermediate_size": 4096}
    assert _count(large) == 335_141_888


def test_heads_follow_the_architectures_entry() -> None:
    base = 250002 * 768 + 514 * 768 + 1 * 768 + 2 * 768 + 12 * _layer(768, 3072)
    assert _count({**XLMR_BASE, "architectures": ["XLMRobertaModel"]}) == base + 768 * 768 + 768 == 278_043_648
    # the MLM head: dense + LayerNorm + a bias over the vocabulary (the decoder is tied to the embeddings)
    assert _count(XLMR_BASE) == base + (768 * 768 + 768) + 2 * 768 + 250002
    # a reranker: RoBERTa's classification head (dense + out_proj to 1 label), no pooler
    assert _count(RERANKER) == base + (768 * 768 + 768) + (768 + 1)
    assert _count(BGE_M3) == 567_754_752  # BAAI/bge-m3's 568M


def test_tensor_names_and_classes() -> None:
    inv = inventory_from_config(RERANKER, "x")
    classes = {t.name: classify(t.name) for t in inv.tensors}
    assert classes["roberta.embeddings.word_embeddings.weight"] == "embeddings"
    assert classes["roberta.embeddings.token_type_embeddings.weight"] == "embeddings"
    assert classes["roberta.encoder.layer.0.attention.self.query.weight"] == "attention"
    assert classes["roberta.encoder.layer.0.attention.output.dense.weight"] == "attention"
    assert classes["roberta.encoder.layer.0.intermediate.dense.weight"] == "mlp"
    assert classes["roberta.encoder.layer.0.output.dense.weight"] == "mlp"
    assert classes["roberta.encoder.layer.0.output.LayerNorm.weight"] == "norms"


@pytest.mark.parametrize("engine", ["transformers", "vllm", "llama.cpp"])
def test_no_kv_cache_on_any_engine(engine: str) -> None:
    arch = architecture_from_config(BGE_M3)
    assert arch.is_encoder and arch.max_context == 8192  # 8194 positions, numbered from padding_idx + 1
    est = runtime_memory(arch, 1_135_509_504, RuntimeRequest(engine=engine, context=8192, batch=4))
    assert est.kv_cache_bytes == 0 and "encoder-only" in est.label
    if engine == "transformers":
        assert not any("logits" in name for name in est.parts)  # hidden states out, no vocabulary logits


def test_cli_default_context_is_what_the_model_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.json").write_text(json.dumps(BERT_BASE))
    data = run_cli(capsys, "estimate", str(tmp_path), "-d", "fp16", "--json").json()
    assert data["context"] == 512 and data["context_given"] is False
    assert data["rows"][0]["kv_cache_bytes"] == 0 and data["rows"][0]["activation_bytes"] > 0
    assert any("encoder-only" in n for n in data["notes"])
    long = run_cli(capsys, "estimate", str(tmp_path), "-d", "fp16", "-c", "8k")
    assert "longer inputs are truncated" in long.err


def test_gguf_embedding_models_keep_no_kv_cache() -> None:
    from vramcalc.architecture import architecture_from_gguf

    meta = {"general.architecture": "bert", "bert.block_count": 12, "bert.embedding_length": 768,
            "bert.attention.head_count": 12, "bert.context_length": 512, "bert.attention.causal": False}
    arch = architecture_from_gguf(meta)
    assert arch.is_encoder
    est = runtime_memory(arch, 220_000_000, RuntimeRequest(engine="llama.cpp", context=512))
    assert est.kv_cache_bytes == 0
    # a decoder GGUF stays a decoder
    llama = {"general.architecture": "llama", "llama.block_count": 2, "llama.embedding_length": 64,
             "llama.attention.head_count": 4, "llama.attention.head_count_kv": 2, "llama.context_length": 4096}
    assert not architecture_from_gguf(llama).is_encoder
