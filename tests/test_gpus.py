"""The GPU catalog (gpus.toml): figures equal to their sources, lookup, counts, user files, `vramcalc gpus` and
`estimate --gpu`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from vramcalc.errors import RegistryError, UsageError
from vramcalc.gpu_catalog import FIGURES, GpuCatalog, GpuSpec, gpu_key, load_catalog, parse_gpu

MIB = 2**20
GIB = 2**30


@pytest.fixture(autouse=True)
def _no_user_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VRAMCALC_GPUS", raising=False)


@pytest.fixture(scope="module")
def catalog() -> GpuCatalog:
    return load_catalog()


# ------------------------------------------------------------------ figures equal to their sources

# (device, figure, value as the cited source states it)
CITED = [
    ("RTX 4090", "memory_mib", 24564),  # nvidia-smi in RLinf/RLinf#255
    ("RTX 4090", "bandwidth_gbs", 1008),  # Ada whitepaper
    ("RTX 4090", "bf16_tflops", 165.2),  # Ada whitepaper, FP32 accumulate, dense
    ("RTX 4090", "fp8_tflops", 330.3),
    ("RTX 4090", "compute_capability", "8.9"),
    ("H100-SXM", "memory_mib", 81559),  # nvidia-smi in NVIDIA/nccl#1264, modal-labs/modal-client#2797
    ("H100-SXM", "bandwidth_gbs", 3350),
    ("H100-SXM", "bf16_tflops", 989),
    ("H100-SXM", "fp8_tflops", 1979),
    ("H100-SXM", "interconnect_gbs", 900),
    ("A100-80GB", "memory_mib", 81920),
    ("A100-80GB", "bandwidth_gbs", 2039),
    ("A100-80GB", "bf16_tflops", 312),
    ("A100-40GB", "memory_mib", 40960),
    ("A100-40GB", "bandwidth_gbs", 1555),
    ("A100-40GB", "compute_capability", "8.0"),  # deviceQuery in bottlerocket-os/bottlerocket#3873
    ("B200", "memory_mib", 183359),  # nvidia-smi in NVIDIA/TensorRT-LLM#10278
    ("B200", "bf16_tflops", 2250),
    ("B200", "fp4_tflops", 9000),
    ("B200", "compute_capability", "10.0"),  # pytorch/ao#4002
    ("H200", "memory_gib", 141),
    ("H200", "bandwidth_gbs", 4800),
    ("L40S", "memory_mib", 46068),
    ("L40S", "bandwidth_gbs", 864),
    ("L40S", "bf16_tflops", 362.05),
    ("L40S", "fp8_tflops", 733),
    ("L4", "memory_mib", 23034),
    ("L4", "bandwidth_gbs", 300),
    ("A10G", "memory_mib", 23028),  # NVIDIA/DCGM#232
    ("A10", "memory_mib", 23028),
    ("T4", "memory_mib", 15360),
    ("V100-16GB", "memory_mib", 16160),  # 4paradigm/k8s-vgpu-scheduler#7
    ("RTX 3090", "memory_mib", 24576),  # noonghunna/club-3090#1128
    ("RTX 3060 12GB", "memory_mib", 12288),  # geerlingguy/raspberry-pi-pcie-devices#790
    ("RTX 5090", "memory_mib", 32607),  # noonghunna/club-3090#1261
    ("RTX 5090", "bandwidth_gbs", 1792),
    ("MI300X", "memory_gib", 192),
    ("MI300X", "bandwidth_gbs", 5300),
    ("MI300X", "bf16_tflops", 1307.4),
    ("MI300X", "fp8_tflops", 2614.9),
    ("MI325X", "memory_gib", 256),
    ("MI325X", "bandwidth_gbs", 6000),
    ("M2 Ultra 192GB", "bandwidth_gbs", 800),
    ("M4 Max 36GB", "bandwidth_gbs", 410),
    ("M4 Max 128GB", "bandwidth_gbs", 546),
    ("M3 Max 36GB", "bandwidth_gbs", 300),
]


@pytest.mark.parametrize(("device", "figure", "value"), CITED)
def test_catalog_figure_equals_its_source(catalog: GpuCatalog, device: str, figure: str, value: object) -> None:
    spec = catalog.get(device)
    assert getattr(spec, figure) == value
    assert spec.sources[figure]  # and says where it comes from


def test_every_figure_has_a_source(catalog: GpuCatalog) -> None:
    for spec in catalog:
        for figure in FIGURES:
            if getattr(spec, figure) is not None:
                assert spec.sources.get(figure), f"{spec.name}: {figure} has no source"


def test_memory_is_as_the_driver_reports_it(catalog: GpuCatalog) -> None:
    """A card sold as 24 GB has 24 GiB, of which nvidia-smi reports 24,564 MiB: not 24e9 bytes."""
    rtx = catalog.get("RTX 4090")
    assert rtx.memory_bytes == 24564 * MIB
    assert 24e9 < rtx.memory_bytes < 24 * GIB
    assert catalog.get("RTX 4060 Ti 8GB").memory_bytes == 8 * GIB  # marketed: no public driver figure
    assert not catalog.get("RTX 4060 Ti 8GB").memory_is_reported


# macOS's default GPU working set, as llama.cpp logs recommendedMaxWorkingSetSize (MiB):
@pytest.mark.parametrize(("device", "logged_mib"), [
    ("M1 Pro 16GB", 10922.67),  # ggml-org/llama.cpp#2209, abetlen/llama-cpp-python#687
    ("M1 Max 32GB", 21845.34),  # ggml-org/llama.cpp#2011, ollama/ollama#434 (M2 Max 32GB)
    ("M2 Max 32GB", 21845.34),
    ("M1 Max 64GB", 49152.00),  # ggml-org/llama.cpp#1870
    ("M2 Max 96GB", 73728.00),  # ggml-org/llama.cpp#3213
])
def test_unified_memory_share_matches_logged_working_set(catalog: GpuCatalog, device: str, logged_mib: float) -> None:
    sel = parse_gpu(device, catalog)
    assert sel.unified_memory and sel.device.unified_memory
    assert sel.usable_bytes / MIB == pytest.approx(logged_mib, abs=0.01)


def test_apple_devices_by_memory_size(catalog: GpuCatalog) -> None:
    m3 = parse_gpu("M3 Max 36GB", catalog)
    assert m3.device.memory_gib == 36 and m3.usable_bytes == 24 * GIB  # 2/3 at ≤ 36 GiB
    ultra = parse_gpu("m2-ultra-192gb", catalog)
    assert ultra.usable_bytes == 144 * GIB  # 3/4 above
    assert "macOS" in m3.describe() and "2/3" in m3.describe()


# ------------------------------------------------------------------ lookup and counts

@pytest.mark.parametrize(("text", "name"), [
    ("RTX 4090", "RTX 4090"), ("4090", "RTX 4090"), ("rtx-4090", "RTX 4090"), ("rtx_4090", "RTX 4090"),
    ("RTX4090", "RTX 4090"), ("NVIDIA GeForce RTX 4090", "RTX 4090"), ("geforce rtx 4090", "RTX 4090"),
    ("H100", "H100-SXM"), ("h100-sxm", "H100-SXM"), ("H100 PCIe", "H100-PCIe"), ("H100-NVL", "H100-NVL"),
    ("A100-40GB", "A100-40GB"), ("a100 80gb", "A100-80GB"), ("A100-SXM4-80GB", "A100-80GB"),
    ("L40S", "L40S"), ("A10G", "A10G"), ("A10", "A10"), ("T4", "T4"), ("V100", "V100-16GB"),
    ("RTX 3080", "RTX 3080"), ("3080 12GB", "RTX 3080 12GB"), ("4060 Ti 16GB", "RTX 4060 Ti 16GB"),
    ("AMD Instinct MI300X", "MI300X"), ("mi325x", "MI325X"), ("M3 Max 36 GB", "M3 Max 36GB"),
    ("Apple M2 Ultra 192GB", "M2 Ultra 192GB"),
])
def test_names_and_aliases_resolve(catalog: GpuCatalog, text: str, name: str) -> None:
    assert catalog.get(text).name == name


def test_lookup_key_ignores_case_space_dash() -> None:
    assert gpu_key("RTX 4090") == gpu_key("rtx-4090") == gpu_key("Rtx_4090") == "rtx4090"


@pytest.mark.parametrize(("text", "count", "name"), [
    ("RTX 4090", 1, "RTX 4090"), ("2xA100-80GB", 2, "A100-80GB"), ("4 x H100", 4, "H100-SXM"),
    ("8xh100", 8, "H100-SXM"), ("2×L4", 2, "L4"), ("3X RTX 3090", 3, "RTX 3090"), ("2*4090", 2, "RTX 4090"),
])
def test_counts_parse(catalog: GpuCatalog, text: str, count: int, name: str) -> None:
    sel = parse_gpu(text, catalog)
    assert (sel.count, sel.device.name) == (count, name)
    assert sel.per_gpu_bytes == sel.device.memory_bytes
    assert sel.total_bytes == count * sel.device.memory_bytes


@pytest.mark.parametrize("text", ["0xH100", "", "   "])
def test_bad_specs_are_usage_errors(catalog: GpuCatalog, text: str) -> None:
    with pytest.raises(UsageError):
        parse_gpu(text, catalog)


def test_unknown_name_lists_close_names(catalog: GpuCatalog) -> None:
    with pytest.raises(UsageError) as e:
        parse_gpu("RTX 4091", catalog)
    assert "unknown GPU 'RTX 4091'" in str(e.value) and "did you mean RTX 4090" in str(e.value)
    with pytest.raises(UsageError) as e:
        parse_gpu("A100", catalog)  # two devices: both named first
    assert "A100-40GB, A100-80GB" in str(e.value)


# ------------------------------------------------------------------ validation

def _entry(**over: object) -> dict[str, object]:
    base: dict[str, object] = dict(name="Card", vendor="nvidia", memory_mib=1000, reported_by="nvidia-smi",
                                   sources={"memory_mib": "a log"})
    base.update(over)
    return base


@pytest.mark.parametrize(("over", "message"), [
    ({"sources": {}}, "source"),
    ({"bandwidth_gbs": 100.0}, "source"),
    ({"memory_mib": 0}, "greater than 0"),
    ({"bandwidth_gbs": -1.0, "sources": {"memory_mib": "x", "bandwidth_gbs": "y"}}, "greater than 0"),
    ({"memory_gib": 24.0, "sources": {"memory_mib": "x", "memory_gib": "y"}}, "exactly one"),
    ({"reported_by": None}, "reported_by"),
    ({"colour": "green"}, "Extra inputs"),
    ({"compute_capability": "eight", "sources": {"memory_mib": "x", "compute_capability": "y"}}, "major.minor"),
    ({"sources": {"memory_mib": "x", "price": "y"}}, "names no figure"),
])
def test_entries_are_validated(over: dict[str, object], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        GpuSpec.model_validate(_entry(**over))


USER_CARD = """
[[gpu]]
name = "Lab Card 20GB"
aliases = ["labcard"]
vendor = "nvidia"
memory_mib = 20000
reported_by = "nvidia-smi"
bandwidth_gbs = 500
[gpu.sources]
memory_mib = "our nvidia-smi"
bandwidth_gbs = "vendor sheet"
"""


def test_user_file_extends_the_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(USER_CARD)
    cat = load_catalog([mine])
    assert cat.get("labcard").memory_bytes == 20000 * MIB
    assert cat.get("RTX 4090").memory_mib == 24564  # the shipped ones stay
    monkeypatch.setenv("VRAMCALC_GPUS", str(mine))
    assert load_catalog().get("Lab Card 20GB").bandwidth_gbs == 500


def test_user_entry_with_a_shipped_name_replaces_it(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(USER_CARD.replace('"Lab Card 20GB"', '"RTX 4090"').replace('["labcard"]', '["4090"]'))
    assert load_catalog([mine]).get("4090").memory_mib == 20000


def test_duplicate_names_in_a_user_file_are_refused(tmp_path: Path) -> None:
    mine = tmp_path / "dup.toml"
    mine.write_text(USER_CARD + USER_CARD.replace('["labcard"]', '["other"]'))
    with pytest.raises(RegistryError, match="already the name or an alias"):
        load_catalog([mine])
    alias_clash = tmp_path / "alias.toml"
    alias_clash.write_text(USER_CARD.replace('["labcard"]', '["lab-card-20gb"]'))  # its own name, as looked up: fine
    load_catalog([alias_clash])
    steals = tmp_path / "steals.toml"
    steals.write_text(USER_CARD.replace('["labcard"]', '["RTX 4090"]'))  # another device's name
    with pytest.raises(RegistryError, match="RTX 4090"):
        load_catalog([steals])


def test_bad_user_file_names_entry_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(USER_CARD.replace("bandwidth_gbs = 500", "bandwidth_gbs = 0"))
    with pytest.raises(RegistryError, match="gpu 'Lab Card 20GB', field 'bandwidth_gbs'"):
        load_catalog([bad])


# ------------------------------------------------------------------ CLI

def test_estimate_with_gpu_name(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "8B", "-d", "bf16", "--gpu", "RTX 4090", "--json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["gpu"] == "RTX 4090" and report["gpu_count"] == 1
    assert report["gpu_memory"] == 24564 * MIB
    assert report["rows"][0]["gpus"] == 1
    table = run_cli(capsys, "estimate", "8B", "-d", "bf16", "--gpu", "RTX 4090")
    assert table.code == 0
    assert "23.99 GiB" in table.out and "24,564 MiB as nvidia-smi reports" in table.out


def test_estimate_gpu_count_is_recorded(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "70B", "-d", "bf16", "--gpu", "2xA100-80GB", "--json")
    assert r.code == 0, r.err
    report = r.json()
    assert (report["gpu"], report["gpu_count"], report["gpu_memory"]) == ("A100-80GB", 2, 81920 * MIB)


def test_gpu_and_gpu_memory_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "8B", "--gpu", "RTX 4090", "--gpu-memory", "24GiB")
    assert r.code == 2
    assert r.err.startswith("Error: ") and "--gpu" in r.err and "--gpu-memory" in r.err


def test_unknown_gpu_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "8B", "--gpu", "RTX 4091")
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: unknown GPU 'RTX 4091' — did you mean RTX 4090")
    assert "vramcalc gpus" in lines[0]


def test_gpu_memory_help_teaches_gib(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "estimate", "--help")
    assert "24GiB" in r.out and "--gpu NAME" in r.out


def test_gpus_command_lists_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "gpus", "--json")
    assert r.code == 0, r.err
    report = r.json()
    assert report["command"] == "gpus"
    by_name = {g["name"]: g for g in report["gpus"]}
    assert by_name["RTX 4090"]["memory_basis"] == "driver" and by_name["RTX 4090"]["memory_mib"] == 24564
    assert by_name["M3 Max 36GB"]["usable_bytes"] == 24 * GIB and by_name["M3 Max 36GB"]["gpu_share"] == "2/3"
    assert by_name["M3 Max 36GB"]["sources"]["gpu_share"]
    table = run_cli(capsys, "gpus")
    assert "RTX 4090" in table.out and "GiB" in table.out and "GB" in table.out


def test_gpus_command_named_shows_sources(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "gpus", "rtx-4090", "h100")
    assert r.code == 0, r.err
    assert "RLinf/RLinf#255" in r.out and "NVIDIA/nccl#1264" in r.out
    bad = run_cli(capsys, "gpus", "RTX 4091")
    assert bad.code == 2 and "did you mean RTX 4090" in bad.err


def test_gpus_command_narrow_terminal(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    r = run_cli(capsys, "gpus")
    assert r.code == 0
    assert max(len(line) for line in r.out.splitlines()) <= 80
    assert "24,564" not in r.out.split("GiB = 2^30")[0]  # compact: no MiB column, just the source tool


def test_gpus_file_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(USER_CARD)
    r = run_cli(capsys, "gpus", "labcard", "--gpus", str(mine), "--json")
    assert r.code == 0, r.err
    assert r.json()["gpus"][0]["name"] == "Lab Card 20GB"
    e = run_cli(capsys, "estimate", "8B", "-d", "bf16", "--gpu", "labcard", "--gpus", str(mine), "--json")
    assert e.code == 0, e.err
    assert e.json()["gpu_memory"] == 20000 * MIB
    dup = tmp_path / "dup.toml"
    dup.write_text(USER_CARD + USER_CARD)
    d = run_cli(capsys, "gpus", "--gpus", str(dup))
    assert d.code == 1 and d.err.startswith("Error: ") and "already the name" in d.err


def test_schema_gpus(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "schema", "gpus")
    assert r.code == 0
    assert "usable_bytes" in json.loads(r.out)["$defs"]["GpuEntry"]["properties"]


def test_estimate_without_gpu_does_not_load_the_catalog() -> None:
    """Start-up: `estimate 12B --json` never imports the catalog module nor reads gpus.toml."""
    code = ("import sys\nfrom vramcalc.cli.app import main\ntry:\n    main(['estimate', '12B', '--json'])\n"
            "except SystemExit:\n    pass\nsys.stderr.write(str('vramcalc.gpu_catalog' in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stderr.strip().endswith("False")
