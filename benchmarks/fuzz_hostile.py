"""Hostile inputs for longer than CI runs them (issue 13): value flags, safetensors headers, GGUF files, config.json,
formats TOML and a misbehaving local Hub, each thrown at vramcalc until the time runs out. A crash is any exception
that is not a VramcalcError (what the CLI turns into a clean `Error:` line), or an input that takes longer than the
per-input limit. Prints the inputs tried and the crashes found, per kind, and saves each crash's input.

Run: `python benchmarks/fuzz_hostile.py [--seconds 120] [--seed 1] [--out /tmp/vramcalc-fuzz]`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.fixtures_files, tests.hub_server

SLOW = 5.0  # seconds: an input that takes longer counts as a hang


class Tally:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.tried: dict[str, int] = {}
        self.crashes: dict[str, list[str]] = {}
        self.slow: dict[str, int] = {}

    def run(self, kind: str, description: str, fn: Callable[[], object], payload: bytes | str = b"") -> None:
        from vramcalc.errors import VramcalcError
        from vramcalc.readers.gguf import NeedMoreBytes

        self.tried[kind] = self.tried.get(kind, 0) + 1
        t0 = time.perf_counter()
        try:
            fn()
        except (VramcalcError, NeedMoreBytes):
            pass
        except SystemExit as e:
            if e.code not in (0, 1, 2):
                self._crash(kind, description, f"exit {e.code}", payload)
        except Exception:  # the defect this script looks for
            self._crash(kind, description, traceback.format_exc(limit=3), payload)
        if time.perf_counter() - t0 > SLOW:
            self.slow[kind] = self.slow.get(kind, 0) + 1
            self._crash(kind, description, f"took {time.perf_counter() - t0:.1f} s", payload)

    def _crash(self, kind: str, description: str, what: str, payload: bytes | str) -> None:
        found = self.crashes.setdefault(kind, [])
        found.append(f"{description}: {what.strip().splitlines()[-1]}")
        self.out.mkdir(parents=True, exist_ok=True)
        data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
        (self.out / f"{kind}-{len(found)}.bin").write_bytes(data)
        (self.out / f"{kind}-{len(found)}.txt").write_text(f"{description}\n{what}\n")


class InternalError(Exception):
    """The CLI turned an exception of ours into `Error: internal error (…)`: a crash all the same."""


def cli(*args: str) -> None:
    """The CLI in-process (its renderers included), output discarded; its `internal error` lines are crashes."""
    from vramcalc.cli.app import main

    err = io.StringIO()
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            main(list(args))
    finally:
        text = err.getvalue()
        if "internal error" in text or "Traceback" in text:
            raise InternalError(text.strip()[-300:])


# --------------------------------------------------------------------------- generators

VALUE_CHARS = "0123456789.,_eE+-kKmMbBgGtTiIxX×* aA:@/\t\x00é"


def hostile_text(rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.15:
        return "1" + " " * rng.choice([10, 1000, 100_000]) + rng.choice(["x", "B", "GB", ""])
    if shape < 0.25:
        return rng.choice("0123456789") * rng.choice([100, 5000]) + rng.choice(["", "B", "x8"])
    return "".join(rng.choice(VALUE_CHARS) for _ in range(rng.randint(0, 24)))


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        if op < 0.35 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.55 and b:
            del b[rng.randrange(len(b)):]
        elif op < 0.75 and len(b) >= 8:
            at = rng.randrange(len(b) - 7)
            b[at:at + 8] = struct.pack("<Q", rng.choice([0, 1, 2**31, 2**32, 2**62, 2**64 - 1, rng.randrange(2**64)]))
        else:
            at = rng.randrange(len(b) + 1)
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(b)


JSON_ODD = [None, True, -1, 0, 2**70, 1e308, float("inf"), float("nan"), "x", "", [], {}, [1, "a"], {"a": {}},
            "9" * 4000, [[[[[]]]]]]


def hostile_json(rng: random.Random) -> object:
    return rng.choice(JSON_ODD + [rng.randint(-5, 100), rng.random() * 10])


def safetensors_header(rng: random.Random) -> bytes:
    header: dict[str, object] = {}
    offset = 0
    for i in range(rng.randint(0, 6)):
        shape = [rng.randint(0, 8) for _ in range(rng.randint(0, 3))]
        n = 2
        for d in shape:
            n *= d
        entry: dict[str, object] = {"dtype": rng.choice(["F16", "BF16", "F32", "I8", "F4", "X"]), "shape": shape,
                                    "data_offsets": [offset, offset + n]}
        if rng.random() < 0.3:
            entry[rng.choice(["dtype", "shape", "data_offsets"])] = hostile_json(rng)
        header[f"t{i}"] = entry
        offset += n
    if rng.random() < 0.3:
        header["__metadata__"] = rng.choice([{"a": "b"}, {"a": 1}, {"a": {"b": "c"}}, "x", None])
    raw = json.dumps(header, allow_nan=True).encode()
    if rng.random() < 0.05:
        raw = b"[" * 50_000 + b"]" * 50_000
    return struct.pack("<Q", len(raw)) + raw + b"\0" * (offset if rng.random() < 0.8 else rng.randint(0, 64))


CONFIG_FIELDS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                 "vocab_size", "intermediate_size", "max_position_embeddings", "num_experts", "num_local_experts",
                 "num_experts_per_tok", "moe_intermediate_size", "sliding_window", "layer_types", "rope_scaling",
                 "tie_word_embeddings", "torch_dtype", "kv_lora_rank", "pad_token_id", "num_labels",
                 "sliding_window_pattern", "max_window_layers", "decoder_sparse_step", "moe_topk", "mlp_only_layers",
                 "no_rope_layers", "num_decoder_layers", "vision_config", "text_config", "quantization_config",
                 "architectures", "use_sliding_window", "attention_chunk_size", "id2label", "projection_dim"]
MODEL_TYPES = ["llama", "qwen2_moe", "qwen3_moe", "mixtral", "deepseek_v3", "gemma3", "gemma3_text", "t5", "roberta",
               "bert", "gpt2", "llama4_text", "gpt_oss", "clip", "phi3", "falcon", "opt", "bloom", "starcoder2", "x"]


def config(rng: random.Random) -> dict[str, object]:
    cfg: dict[str, object] = {"model_type": rng.choice(MODEL_TYPES), "hidden_size": 64, "num_hidden_layers": 2,
                              "num_attention_heads": 4, "vocab_size": 128, "intermediate_size": 128}
    for _ in range(rng.randint(1, 5)):
        cfg[rng.choice(CONFIG_FIELDS)] = hostile_json(rng)
    return cfg


def gguf_seed(tmp: Path) -> bytes:
    try:
        from tests.fixtures_files import write_gguf

        return write_gguf(tmp / "seed.gguf", n_tokens=100).read_bytes()
    except ImportError:  # gguf-py not installed: a hand-made header
        return b"GGUF" + struct.pack("<IQQ", 3, 0, 0)


def formats_toml(rng: random.Random) -> str:
    keys = ["name", "family", "payload_bits", "block_size", "ggml_type", "llama_ftype", "base_type", "aliases",
            "stored_as", "nominal_bits", "overhead", "quantizes"]
    values = ['"myq"', '"int"', '"gguf_type"', '"gguf_mix"', "4", "0", "-1", "99999999999999999999", "1e308", "nan",
              "inf", '["a", "a"]', "{ 2 = 1 }", '[{ name = "s", bits = 16, per = "block" }]', '"x y"', "[]", '"Q4_K"']
    out = ""
    for _ in range(rng.randint(1, 3)):
        out += "[[format]]\n" + "".join(f"{rng.choice(keys)} = {rng.choice(values)}\n" for _ in range(5))
    if rng.random() < 0.05:
        out += "x = " + "[" * 20_000 + "]" * 20_000 + "\n"
    return out


# --------------------------------------------------------------------------- the Hub

def hub_round(tally: Tally, rng: random.Random, tmp: Path) -> None:
    import threading

    from tests.fixtures_files import llama_tensors, safetensors_bytes
    from tests.hub_server import FakeHub, RemoteFile, _handler, _Server

    hub = FakeHub()
    server = _Server(("127.0.0.1", 0), _handler(hub))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["HF_ENDPOINT"] = hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    hub.cdn_url = f"http://localhost:{server.server_address[1]}"
    os.environ["VRAMCALC_TIMEOUT"] = "3"
    head, data_len = safetensors_bytes(llama_tensors())
    files: dict[str, bytes | RemoteFile] = {"config.json": json.dumps(config(rng)).encode(),
                                            "model.safetensors": RemoteFile(head, len(head) + data_len)}
    if rng.random() < 0.3:
        shard = rng.choice(["../../../etc/passwd", "/etc/passwd", "model.safetensors", "x"])
        files["model.safetensors.index.json"] = json.dumps({"weight_map": {"w": shard}}).encode()
    if rng.random() < 0.3:
        files["m-Q4_K_M.gguf"] = mutate(rng, gguf_seed(tmp))
    hub.add("org/m", files)
    try:
        for _ in range(8):
            hub.range_mode = rng.choice(["normal", "normal", "empty", "short", "ignore"])
            hub.short_bytes = rng.choice([1, 100, 4096])
            hub.fail_status = rng.choice([None] * 6 + [500, 503, 418, 416, 429])
            hub.status_every = rng.choice([None, None, (3, 429), (2, 503)])
            hub.retry_after = rng.choice(["0", "1", "bogus", None])
            hub.drip = rng.choice([0.0] * 9 + [0.2])
            hub.endless = rng.random() < 0.1
            what = (f"hub range={hub.range_mode} status={hub.fail_status} every={hub.status_every} drip={hub.drip} "
                    f"endless={hub.endless}")
            hub.log.clear()
            tally.run("hub", what, lambda: cli("inspect", "org/m", "--token", "hf_secret", "--json"))
            # huggingface_hub itself asks the endpoint for /api/agent-harnesses (no token): only the repo's own
            # addresses may carry the token, and nothing may climb out of the repo
            leaks = [p for p, auth in hub.log if (auth and not p.startswith(("/api/models/org/m", "/org/m/")))
                     or ".." in p or "%2e%2e" in p.lower() or "/etc/" in p]
            if leaks:
                tally._crash("hub", what, f"requested outside the repo: {leaks[0]}", b"")
    finally:
        hub.drip, hub.endless = 0.0, False
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120, help="time to spend in all (split over the kinds)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vramcalc-fuzz")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tally = Tally(args.out)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ.setdefault("VRAMCALC_CACHE_DIR", str(tmp / "cache"))
        os.environ["HF_HUB_CACHE"] = str(tmp / "hub-cache")
        seed = gguf_seed(tmp)
        from vramcalc.units import parse_context, parse_count, parse_label, parse_resolution, parse_size

        kinds: list[tuple[str, Callable[[], None]]] = []

        def values() -> None:
            text = hostile_text(rng)
            for parse in (parse_count, parse_size, parse_context, parse_resolution, parse_label):
                tally.run("values", f"{parse.__name__}({text[:40]!r})", lambda p=parse: p(text), text)  # type: ignore[misc]

        def flags() -> None:
            text = hostile_text(rng)
            flag = rng.choice(["--context", "--gpu-memory", "--resolution", "-d", "--batch", "--layers"])
            tally.run("cli-flags", f"estimate 7B {flag} {text[:40]!r}", lambda: cli("estimate", "7B", flag, text), text)
            tally.run("cli-model", f"estimate {text[:40]!r}", lambda: cli("estimate", text), text)

        def safetensors() -> None:
            raw = safetensors_header(rng) if rng.random() < 0.7 else mutate(rng, safetensors_header(rng))
            path = tmp / "m.safetensors"
            path.write_bytes(raw)
            tally.run("safetensors", f"{len(raw)} bytes", lambda: cli("inspect", str(path), "--json"), raw)
            if rng.random() < 0.2:
                tally.run("safetensors", f"estimate {len(raw)} bytes", lambda: cli("estimate", str(path)), raw)

        def gguf() -> None:
            raw = mutate(rng, seed)
            path = tmp / "m.gguf"
            path.write_bytes(raw)
            tally.run("gguf", f"{len(raw)} bytes", lambda: cli("inspect", str(path), "--json"), raw)
            if rng.random() < 0.2:
                tally.run("gguf", f"estimate {len(raw)} bytes", lambda: cli("estimate", str(path)), raw)

        def configs() -> None:
            cfg = config(rng)
            text = json.dumps(cfg, allow_nan=True)
            path = tmp / "config.json"
            path.write_text(text)
            tally.run("config.json", text[:120], lambda: cli("estimate", str(path), "-d", "bf16", "-d", "Q4_K_M"),
                      text)

        def formats() -> None:
            text = formats_toml(rng)
            path = tmp / "f.toml"
            path.write_text(text)
            tally.run("formats.toml", text[:120].replace("\n", " "), lambda: cli("formats", "--formats", str(path)),
                      text)

        kinds = [("values", values), ("flags", flags), ("safetensors", safetensors), ("gguf", gguf),
                 ("config", configs), ("formats", formats), ("hub", lambda: hub_round(tally, rng, tmp))]
        share = args.seconds / len(kinds)
        for name, step in kinds:
            ends = time.monotonic() + share
            while time.monotonic() < ends:
                step()
            print(f"{name:<12} done", file=sys.stderr)
    total_tried = sum(tally.tried.values())
    total_crashes = sum(len(v) for v in tally.crashes.values())
    for kind in sorted(tally.tried):
        crashes = tally.crashes.get(kind, [])
        print(f"{kind:<14} {tally.tried[kind]:>8,} inputs tried   {len(crashes):>4} crashes   "
              f"{tally.slow.get(kind, 0):>3} slow (> {SLOW:g} s)")
        for c in crashes[:5]:
            print(f"    {c[:200]}")
    print(f"total          {total_tried:>8,} inputs tried   {total_crashes:>4} crashes"
          + (f"   (inputs saved in {args.out})" if total_crashes else ""))
    sys.stdout.flush()
    os._exit(1 if total_crashes else 0)  # hub worker threads may still be waiting on a dripping server


if __name__ == "__main__":
    main()
