"""A llama.cpp file type on a bare count (`13B-Q4_K_M`): llama-quantize's rules on the representative decoder.

Nothing here is fitted: the decoder's shapes come from Meta's Llama 3.x config.json files (heuristics.py, "bare
counts") and the types from llama.cpp's rules (calculator/quantize.py); the published sizes below only check them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli
from tests.quant_helpers import hf_inventory, published
from vramcalc.calculator.quantize import plan_format
from vramcalc.calculator.representative import (
    layers_for,
    price_ftype,
    representative_decoder,
    solve_width,
)
from vramcalc.calculator.weights import count_bytes
from vramcalc.registry import Registry, load_registry
from vramcalc.units import parse_label

GB_ROUNDING = 5_000_000  # "7.87 GB" as published: ±0.005 GB
TOLERANCE = 0.03
# Where one shape family cannot stand for the model: Gemma 2 ties a 256,000-token table (10 % of its weights, stored
# in Q6_K) where the family's 8B has a 128,256-token output (6.5 %); at 2-3 bits that difference is 3-5 %.
KNOWN_LIMITS = {("google/gemma-2-9b-it", "Q2_K"): 0.05, ("google/gemma-2-9b-it", "Q3_K_M"): 0.05}
# Published by TheBloke (README "Provided files" tables, GB with two decimals), on Llama 2 shapes: 13,015,864,320 and
# 6,738,415,616 parameters (meta-llama/Llama-2-13b-hf and Llama-2-7b-hf config.json).
THEBLOKE_LLAMA2 = [
    ("TheBloke/Llama-2-13B-GGUF llama-2-13b.Q4_K_M.gguf", 13_015_864_320, "Q4_K_M", 7_870_000_000),
    ("TheBloke/Llama-2-7B-GGUF llama-2-7b.Q8_0.gguf", 6_738_415_616, "Q8_0", 7_160_000_000),
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def _error(predicted: int, entry: dict[str, Any]) -> float:
    """Relative error against the published size, outside its rounding when it was published in GB."""
    size = entry["size_bytes"]
    slack = GB_ROUNDING if str(entry["published"]).endswith("GB") else 0
    nearest = min(max(predicted, size - slack), size + slack)
    return predicted / nearest - 1


def _published_cases() -> list[tuple[str, int, str, dict[str, Any]]]:
    data = published()
    cases = []
    for entry in data["gguf"]:
        n = hf_inventory(data["models"][entry["model"]]["config"]).total_params
        cases.append((entry["model"], n, entry["format"], entry))
    for name, n, fmt, size in THEBLOKE_LLAMA2:
        cases.append((name, n, fmt, {"size_bytes": size, "published": f"{size / 1e9:.2f} GB"}))
    return cases


def test_labels_agree_with_published_gguf_files(registry: Registry) -> None:
    """Each published GGUF, priced as a label of its true parameter count ("8.03B-Q4_K_M"): within 3 % (the two
    known limits within 5 %). File sizes include the tokenizer metadata (a few MB), the label prices weights."""
    errors = {}
    for model, n, fmt, entry in _published_cases():
        predicted = count_bytes(n, registry.get(fmt), registry)
        errors[(model, fmt)] = err = _error(predicted, entry)
        assert abs(err) <= KNOWN_LIMITS.get((model, fmt), TOLERANCE), (model, fmt, f"{err:+.2%}")
    worst = max(errors, key=lambda k: abs(errors[k]))
    assert worst in KNOWN_LIMITS and abs(errors[worst]) < 0.049  # gemma-2-9b Q2_K: −4.8 %
    rest = max(abs(e) for k, e in errors.items() if k not in KNOWN_LIMITS)
    assert rest < 0.029  # openchat_3.5 (Mistral 7B, a 32,002-token vocabulary) Q3_K_M: +2.8 %
    assert len(errors) >= 27


def test_the_issue_examples(registry: Registry) -> None:
    """Llama-2-13B Q4_K_M is 7.87 GB and Llama-2-7B Q8_0 7.16 GB: the 13B label is the larger, within 1 %."""
    big = count_bytes(13_015_864_320, registry.get("Q4_K_M"), registry)
    small = count_bytes(6_738_415_616, registry.get("Q8_0"), registry)
    assert abs(big / 7.87e9 - 1) < 0.01 and abs(small / 7.16e9 - 1) < 0.002
    assert big > small
    assert 4.83 < float(price_ftype(13_015_864_320, "Q4_K_M", registry).bits_per_weight) < 4.88


def test_compare_says_the_7b_at_q8_is_smaller(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "compare", "13B-Q4_K_M", "7B-Q8_0", "--json")
    assert r.code == 0, r.err
    data = r.json()
    big, small = data["entries"]
    assert big["weight_bytes"] > small["weight_bytes"]
    assert "7B-Q8_0 needs" in data["verdict"] and "less" in data["verdict"]


@pytest.mark.parametrize("fmt", ["Q2_K", "Q3_K_M", "Q4_0", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "IQ4_XS"])
def test_at_8b_the_label_is_llama_3_1_8b(registry: Registry, fmt: str) -> None:
    """The representative 8B decoder is Llama-3.1-8B: the label's bits per weight are the per-tensor plan's of
    that config (the config path: same rules, real tensors)."""
    cfg = published()["models"]["meta-llama/Llama-3.1-8B"]["config"]
    inventory = hf_inventory(cfg)
    plan = plan_format(inventory, registry.get(fmt), registry)
    label = price_ftype(inventory.total_params, fmt, registry)
    assert abs(float(label.bits_per_weight / plan.bits_per_weight) - 1) < 1e-4, fmt


def test_representative_shapes_follow_meta_configs() -> None:
    assert [layers_for(n) for n in (1_235_814_400, 3_212_749_824, 8_030_261_248, 70_553_706_496)] == [16, 28, 32, 80]
    d8, d70, d405 = (representative_decoder(n) for n in (8 * 10**9, 70 * 10**9, 405_853_388_800))
    assert (d8.n_layer, d8.hidden, d8.intermediate, d8.n_head, d8.n_head_kv) == (32, 4096, 14336, 32, 8)
    assert (d70.n_layer, d70.hidden, d70.intermediate, d70.n_head) == (80, 8192, 28672, 64)
    assert d8.params == 8_030_261_248 and d70.params == 70_553_706_496  # Llama-3.1-8B and 70B exactly
    assert d405.n_layer == 126 and abs(d405.hidden - 16384) <= 512  # Meta's 405B has a 3.25 MLP ratio, not 3.5
    # deeper and wider with the count; every width a multiple of the K-quant block
    shapes = [representative_decoder(int(10 ** (8 + k / 10))) for k in range(50)]
    assert all(a.n_layer <= b.n_layer and a.hidden <= b.hidden for a, b in zip(shapes, shapes[1:], strict=False))
    assert all(s.hidden % 256 == 0 and s.intermediate % 256 == 0 for s in shapes)
    # the tensors are those of the decoder's config.json as transformers builds it
    for shape in (d8, d70, representative_decoder(13 * 10**9), representative_decoder(10**8)):
        assert hf_inventory(shape.config()).total_params == shape.params
    # the width the bytes are priced at holds exactly the count
    for n in (10**9, 13 * 10**9, 10**12):
        price = price_ftype(n, "Q4_K_M", load_registry())
        assert abs(price.params - n) <= 1 and price.hidden == solve_width(n, price.shape.n_layer)


@pytest.mark.parametrize("fmt", ["Q2_K", "Q3_K_M", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"])
def test_a_larger_count_is_never_smaller(registry: Registry, fmt: str) -> None:
    spec = registry.get(fmt)
    sizes = [count_bytes(int(10 ** (9 + k / 100)), spec, registry) for k in range(300)]  # 1B … 1T
    assert all(a <= b for a, b in zip(sizes, sizes[1:], strict=False))


def test_per_mix_bits_grow_with_the_mix(registry: Registry) -> None:
    for n in (10**9, 8 * 10**9, 13 * 10**9, 70 * 10**9):
        bpw = [price_ftype(n, f, registry).bits_per_weight for f in ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K")]
        assert bpw == sorted(bpw)
        q4km = float(price_ftype(n, "Q4_K_M", registry).bits_per_weight)
        assert 4.8 < q4km < 5.2  # between Q4_K (4.5) and Q6_K: the output and half of attn_v/ffn_down in Q6_K


def test_other_formats_keep_their_layout(registry: Registry) -> None:
    n = 12 * 10**9
    assert count_bytes(n, registry.get("bf16"), registry) == 24 * 10**9
    assert count_bytes(n, registry.get("nf4"), registry) == -(-n * registry.get("nf4").bits_per_weight // 8)
    # MXFP4_MOE's rules are about experts (a dense decoder would be all Q8_0): its base type, as before
    mx = registry.get("MXFP4_MOE")
    assert count_bytes(n, mx, registry) == -(-n * registry.get("MXFP4").bits_per_weight // 8)
    assert Fraction(count_bytes(n, registry.get("Q8_0"), registry) * 8, n) < Fraction(851, 100)


def test_explain_shows_the_decoder_and_its_heuristics(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "13B-Q4_K_M", "--explain")
    assert r.code == 0, r.err
    out = " ".join(r.out.split())
    assert "representative decoder (Llama 3 shape family) for 13,000,000,000 parameters: 39 layers" in out
    for name in ("bare_count_vocab = 128,256", "bare_count_head_dim = 128", "bare_count_kv_heads = 8",
                 "bare_count_ffn_ratio = 3.5", "bare_count_width_step = 256"):
        assert name in out
    assert "llama-quant.cpp" in out and "Q6_K" in out
    assert "representative Llama-3-shaped decoder" in out  # the caveat


def test_explain_of_several_rows_shows_the_decoder_once(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "8B", "-d", "Q4_K_M", "-d", "Q8_0", "--json", "--explain")
    lines = r.json()["explain"]
    assert sum(line.startswith("a bare count is priced") for line in lines) == 1
    assert sum("bare_count_vocab" in line for line in lines) == 1
    assert sum("llama_tensor_get_type" in line for line in lines) == 2


_LABEL_RUN = (
    "import sys\n"
    "from vramcalc.estimate_report import EstimateRequest, estimate_count\n"
    "from vramcalc.registry import load_registry\n"
    "from vramcalc.units import parse_label\n"
    "rows = estimate_count(parse_label('12B'), EstimateRequest(), load_registry()).rows\n"
    "print(' '.join(f'{r.format}={r.weight_bytes}' for r in rows))\n"
    "print('inventory' if 'vramcalc.inventory' in sys.modules else '-',\n"
    "      'rules' if 'vramcalc.calculator.quantize' in sys.modules else '-')\n"
)


def _label_run(cache_dir: str) -> list[str]:
    env = {**os.environ, "VRAMCALC_CACHE_DIR": cache_dir}
    proc = subprocess.run([sys.executable, "-c", _LABEL_RUN], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_bare_count_path_stays_light(tmp_path: Path) -> None:
    """No pydantic Inventory module on the label path; the rule walks are cached on disk, so a second run neither
    walks nor imports the rules — and prices the same. A damaged cache file is rebuilt; "off" runs uncached."""
    cold = _label_run(str(tmp_path))
    assert cold[1] == "- rules"
    files = list(tmp_path.glob("llamacpp-rules-*.json"))
    assert len(files) == 1
    warm = _label_run(str(tmp_path))
    assert warm == [cold[0], "- -"]
    files[0].write_bytes(b"not json")
    assert _label_run(str(tmp_path)) == cold
    assert _label_run("off") == cold and not list(tmp_path.glob("*.tmp"))


def test_label_matches_estimate_of_same_count(capsys: pytest.CaptureFixture[str], registry: Registry) -> None:
    row = run_cli(capsys, "estimate", "13B-Q4_K_M", "--json").json()["rows"][0]
    assert row["weight_bytes"] == count_bytes(parse_label("13B").total_params, registry.get("Q4_K_M"), registry)


def test_formats_states_the_figure_estimate_prices(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    entry = run_cli(capsys, "formats", "Q4_K_M", "--json").json()["formats"][0]
    assert entry["bits_per_weight"] == 4.5 and entry["base_type"] == "Q4_K"  # the layout, as before
    assert entry["typical_at_params"] == 8 * 10**9
    row = run_cli(capsys, "estimate", "8B-Q4_K_M", "--json").json()["rows"][0]
    assert abs(entry["typical_bits_per_weight"] - row["bits_per_weight"]) < 1e-6
    assert 4.89 < entry["typical_bits_per_weight"] < 4.90
    monkeypatch.setenv("COLUMNS", "100")  # one block per format
    text = " ".join(run_cli(capsys, "formats", "Q4_K_M").out.split())
    assert "4.895 bits/weight at 8B (Q4_K layout: 4.5)" in text and "estimate 8B-Q4_K_M" in text
    monkeypatch.setenv("COLUMNS", "200")  # the table
    assert "4.895 at 8B (Q4_K layout: 4.5)" in run_cli(capsys, "formats", "Q4_K_M").out
    others = {f["name"]: f for f in run_cli(capsys, "formats", "bf16", "MXFP4_MOE", "Q8_0", "--json").json()["formats"]}
    assert others["bf16"]["typical_bits_per_weight"] is None and others["MXFP4_MOE"]["typical_bits_per_weight"] is None
    assert 8.5 < others["Q8_0"]["typical_bits_per_weight"] < 8.502
