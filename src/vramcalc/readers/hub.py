"""Hub repos: the local cache first, then the Hub itself, headers only.

safetensors headers come by HTTP range requests (the first 100 kB, then the rest of a longer header), every
shard in a thread pool; GGUF headers by growing prefixes. Requests go through huggingface_hub's own session,
headers (token, user agent) and error mapping. A token is sent, never printed: no message here contains it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from vramcalc.errors import HubError, SourceError
from vramcalc.inventory import FileInfo, Inventory, TensorInfo
from vramcalc.readers import QuantSet

FIRST_RANGE = 100_000
GGUF_FIRST_RANGE = 1 << 20
GGUF_MAX_PREFIX = 256 << 20
WORKERS = 16
MAX_QUANTS = 64  # a repo of more GGUFs than this (several models) is a refusal that lists them, not a table
Progress = Callable[[int, int], None]


def read_repo(repo_id: str, *, revision: str | None = None, token: str | None = None,
              progress: Progress | None = None, gguf_tag: str | None = None,
              quant_set: bool = True) -> Inventory | QuantSet:
    """`gguf_tag` ("Q4_K_M" from `org/name:Q4_K_M`, as llama.cpp's -hf takes it) picks one GGUF of a repo; a repo of
    several GGUFs without one is a QuantSet of them all (`quant_set=False`: an error that lists them)."""
    from vramcalc.readers.hf_cache import cached_snapshot, offline

    snapshot = cached_snapshot(repo_id, revision)
    cached = _cached_state(snapshot) if snapshot is not None else None
    if snapshot is not None and cached == "model":
        from vramcalc.readers import read_local

        label = _label(repo_id, revision)
        target = snapshot
        ggufs = sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*.gguf"))
        if gguf_tag or (ggufs and not any(snapshot.glob("*.safetensors"))):
            groups = _quant_groups(ggufs, gguf_tag, repo_id, quant_set)
            if groups is not None:
                return QuantSet(label, tuple(
                    (tag, _cached_inventory(read_local(snapshot / parts[0], quant_set=False), f"{label}:{tag}"))
                    for tag, parts in groups.items()), repo_id=repo_id)
            target = snapshot / pick_gguf(ggufs, gguf_tag, repo_id)[0]
        inv = read_local(target, quant_set=False)
        return _cached_inventory(inv, label)
    if offline():
        if snapshot is not None and cached == "config" and not gguf_tag:
            return _config_from_cache(snapshot, repo_id, revision)
        raise HubError(f"{repo_id} is not in the local cache and HF_HUB_OFFLINE is set",
                       f"unset HF_HUB_OFFLINE, or download it first (hf download {repo_id} --include '*.json')")
    return _Hub(repo_id, revision, token, progress).read(gguf_tag, quant_set)


def _cached_inventory(inv: Inventory, source: str) -> Inventory:
    kind = inv.kind if inv.kind in ("config", "gguf") else "hf-cache"
    return inv.model_copy(update={"source": source, "kind": kind})


def _quant_groups(names: list[str], tag: str | None, repo_id: str, quant_set: bool) -> dict[str, list[str]] | None:
    """Several GGUF quants and none named: each one's files by its tag (for a QuantSet); None where one is to be
    picked (`pick_gguf`). More than MAX_QUANTS is a refusal that lists them."""
    from vramcalc.readers.gguf import model_ggufs, quant_tags

    groups = model_ggufs(names)
    if tag or not quant_set or len(groups) < 2 or len(groups) > MAX_QUANTS:
        return None
    return {t: groups[g] for g, t in quant_tags(groups).items()}


def pick_gguf(names: list[str], tag: str | None, repo_id: str) -> list[str]:
    """The GGUF file (all parts of a split one, in order) that `tag` names — its quant exactly ("Q4_K_M"), else a
    piece of its name; an error that lists the choices."""
    from vramcalc.readers.gguf import model_ggufs, quant_tags

    groups = model_ggufs(names)
    tags = quant_tags(groups)

    def norm(text: str) -> str:
        return text.lower().replace("-", "_")

    if tag:
        want = norm(tag)
        chosen = [g for g in groups if norm(tags[g]) == want]
        if len(chosen) != 1:
            chosen = [g for g in groups if want in norm(g.rsplit("/", 1)[-1])]
        if len(chosen) == 1:
            return groups[chosen[0]]
        hint = f"{len(chosen)} files match {tag!r}" if chosen else f"no GGUF file matches {tag!r}"
    elif len(groups) == 1:
        return next(iter(groups.values()))
    else:
        hint = f"{repo_id} holds {len(groups)} GGUF files"
    listing = ", ".join(g.rsplit("/", 1)[-1] for g in sorted(groups)[:8]) + (" …" if len(groups) > 8 else "")
    known = sorted(tags.values())
    example = "Q4_K_M" if "Q4_K_M" in known or not known else known[0]
    more = f"; `vramcalc estimate {repo_id}` shows every quant" if len(groups) > 1 else ""
    raise HubError(f"{hint} ({listing})", f"name one by its quant, e.g. {repo_id}:{example}{more}")


INDEX = "model.safetensors.index.json"


def _cached_state(snapshot: Path) -> str | None:
    """What a cached snapshot can answer: "model" (weights to read, a pipeline, or a repo that is only a config),
    "config" (config.json, but the weights the index names are not all there: `hf download … --include '*.json'`),
    or None."""
    from vramcalc.readers.local import stays_inside

    names = {p.name for p in snapshot.iterdir()}
    if "model_index.json" in names or any(n.endswith(".gguf") for n in names):
        return "model"
    if INDEX in names:
        shards = _index_shards(snapshot / INDEX)
        if shards and all(stays_inside(s) and (snapshot / s).is_file() for s in shards):
            return "model"
        return "config" if "config.json" in names else None
    if "config.json" in names or any(n.endswith(".safetensors") for n in names):
        return "model"
    return None


def _load_index(index: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _index_shards(index: Path) -> list[str]:
    weight_map = _load_index(index).get("weight_map")
    return sorted(set(map(str, weight_map.values()))) if isinstance(weight_map, dict) else []


def _config_from_cache(snapshot: Path, repo_id: str, revision: str | None) -> Inventory:
    """Offline, a snapshot holding config.json (and the index) without its weights: the config-only model, as the
    Hub path counts a repo without weights."""
    from vramcalc.readers.config_json import inventory_from_config, read_config_file

    inv = inventory_from_config(read_config_file(snapshot / "config.json"), _label(repo_id, revision))
    note = "offline (HF_HUB_OFFLINE): the weights are not in the local cache, counted from its config.json"
    total = _index_total_size(snapshot / INDEX)
    if total:
        note += f" (the index lists {total:,} bytes of tensors)"
    return inv.model_copy(update={"warnings": [*inv.warnings, note]})


def _index_total_size(index: Path) -> int | None:
    meta = _load_index(index).get("metadata")
    total = meta.get("total_size") if isinstance(meta, dict) else None
    return total if isinstance(total, int) and total > 0 else None


def _sibling_size(sibling: Any) -> int | None:
    """The size the repo listing reports (`model_info(files_metadata=True)` asks for it: `size`, and `lfs.size` for
    LFS files); None when the listing has none (a mirror that lists names only): the range answer tells then."""
    size = getattr(sibling, "size", None)
    if size is None and getattr(sibling, "lfs", None) is not None:
        size = getattr(sibling.lfs, "size", None)
    return int(size) if isinstance(size, int) else None


def _total_from(headers: Any) -> int | None:
    """The whole file's length from a range answer: `Content-Range: bytes a-b/<total>` (the CDN's), else the Hub's
    `X-Linked-Size`; None when the server does not say (`*`)."""
    total = (headers.get("Content-Range") or "").rpartition("/")[2].strip()
    if total.isdigit():
        return int(total)
    linked = (headers.get("X-Linked-Size") or "").strip()
    return int(linked) if linked.isdigit() else None


def _label(repo_id: str, revision: str | None) -> str:
    return f"{repo_id}@{revision}" if revision else repo_id


class _Hub:
    def __init__(self, repo_id: str, revision: str | None, token: str | None, progress: Progress | None) -> None:
        from huggingface_hub import HfApi, hf_hub_url
        from huggingface_hub.utils import build_hf_headers, get_session

        self.repo_id, self.revision, self.progress = repo_id, revision, progress
        self.endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        self.api = HfApi(endpoint=self.endpoint, token=token)
        self.headers = build_hf_headers(token=token)
        self.session = get_session()
        # huggingface_hub's session waits forever by default; a hung server must not hang vramcalc. Seconds per
        # request, huggingface_hub's own download timeout (HF_HUB_DOWNLOAD_TIMEOUT, default 10).
        from huggingface_hub import constants

        self.timeout = float(constants.HF_HUB_DOWNLOAD_TIMEOUT)
        self._url = lambda name: hf_hub_url(repo_id, name, revision=revision, endpoint=self.endpoint)

    def read(self, gguf_tag: str | None = None, quant_set: bool = True) -> Inventory | QuantSet:
        info = self._call(lambda: self.api.model_info(self.repo_id, revision=self.revision, files_metadata=True,
                                                      timeout=self.timeout))
        sizes = {s.rfilename: _sibling_size(s) for s in (info.siblings or [])}
        names = sorted(sizes)
        config = self._json("config.json") if "config.json" in sizes else None
        if "model_index.json" in sizes:
            wanted = [n for n in names if n.endswith(".safetensors") and "/" in n]
        elif "model.safetensors.index.json" in sizes:
            index = self._json("model.safetensors.index.json") or {}
            wanted = sorted(set(map(str, (index.get("weight_map") or {}).values())))
            from vramcalc.readers.local import stays_inside

            outside = [w for w in wanted if not stays_inside(w)]
            if outside:
                raise HubError(f"{self.repo_id}/model.safetensors.index.json names a shard outside the repo "
                               f"({outside[0]!r})", "report it to the repo's owner")
        else:
            wanted = [n for n in names if n.endswith(".safetensors") and "/" not in n]
        ggufs = [n for n in names if n.endswith(".gguf")]
        if gguf_tag and not ggufs:
            raise HubError(f"{self.repo_id} has no GGUF files to pick {gguf_tag!r} from",
                           f"drop ':{gguf_tag}' and choose formats with --dtype")
        if ggufs and (gguf_tag or not wanted):
            groups = _quant_groups(ggufs, gguf_tag, self.repo_id, quant_set)
            if groups is not None:
                return self._quants(groups, sizes)
            return self._gguf(pick_gguf(ggufs, gguf_tag, self.repo_id), sizes)
        if not wanted:
            if config is not None:
                from vramcalc.readers.config_json import inventory_from_config

                inv = inventory_from_config(config, _label(self.repo_id, self.revision))
                return inv.model_copy(update={"warnings": [*inv.warnings,
                                      "no safetensors in the repo: counted from config.json"]})
            raise HubError(f"{self.repo_id} has no .safetensors, .gguf or config.json "
                           f"(files: {', '.join(names[:6]) or 'none'})", "check the repo id")
        results: list[tuple[list[TensorInfo], FileInfo]] = []
        done = 0
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for item in pool.map(lambda n: self._safetensors(n, sizes.get(n)), wanted):
                results.append(item)
                done += 1
                if self.progress:
                    self.progress(done, len(wanted))
        tensors = [t for ts, _ in results for t in ts]
        files = [f for _, f in results]
        from vramcalc.readers.packed import detect_packed

        quant, true_params = detect_packed(tensors, config)
        metadata: dict[str, str] = {}
        if "model_index.json" in sizes:
            from vramcalc.calculator.diffusion import pipeline_metadata

            # the configs the stage model reads: the denoiser's, the VAE's and the text encoders'
            wanted_configs = [n for n in sizes if n.count("/") == 1 and n.endswith("/config.json")
                              and n.startswith(("transformer/", "vae", "text_encoder"))]
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                configs = dict(zip((n.split("/")[0] for n in wanted_configs),
                                   pool.map(self._json, wanted_configs), strict=True))
            metadata = pipeline_metadata(self._json("model_index.json") or {}, configs.get("transformer"), configs)
        return Inventory(source=_label(self.repo_id, self.revision), kind="hub", tensors=tensors, files=files,
                         config=config, metadata=metadata, quantization=quant, true_params=true_params)

    # ---------------------------------------------------------------- HTTP
    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as e:  # mapped to one clear message; huggingface_hub's own types first
            raise self._error(e) from None

    def _error(self, e: Exception) -> HubError:
        name = type(e).__name__
        status = getattr(getattr(e, "response", None), "status_code", None)
        rid = self.repo_id
        if name == "GatedRepoError" or status == 403:
            return HubError(f"{rid} is gated or private and this token has no access",
                            "accept the license on the model page, then pass --token or set HF_TOKEN")
        if name == "RevisionNotFoundError":
            return HubError(f"{rid} has no revision {self.revision!r}", "check the branch, tag or commit")
        if name in ("RepositoryNotFoundError",) or status in (401, 404):
            return HubError(f"{rid} was not found on {self.endpoint} (or it is private)",
                            "check the repo id; for a private repo pass --token or set HF_TOKEN")
        if status == 429:
            return HubError(f"the Hub is rate-limiting requests for {rid} (429)",
                            "wait a minute and retry; a token (HF_TOKEN) raises the limit")
        if "Timeout" in name:
            return HubError(f"the Hub did not answer in time for {rid}", "retry, or check your connection")
        if "Connect" in name or "Network" in name or isinstance(e, ConnectionError | OSError):
            return HubError(f"cannot reach {self.endpoint}", "check your connection, or set HF_HUB_OFFLINE=1 "
                            "to use the local cache")
        if status is not None:
            return HubError(f"the Hub answered {status} for {rid}", "retry later")
        return HubError(f"reading {rid} from the Hub failed ({name})", "retry, or set VRAMCALC_DEBUG=1 for details")

    def _get(self, name: str, start: int | None = None, end: int | None = None) -> bytes:
        return self._get_sized(name, start, end)[0]

    def _get_sized(self, name: str, start: int | None = None, end: int | None = None) -> tuple[bytes, int | None]:
        """The bytes, and the whole file's length where the answer says it (a range answer's Content-Range)."""
        from huggingface_hub.utils import hf_raise_for_status

        headers = dict(self.headers)
        if start is not None:
            headers["Range"] = f"bytes={start}-{end}"

        def go() -> tuple[bytes, int | None]:
            r = self.session.get(self._url(name), headers=headers, follow_redirects=True, timeout=self.timeout)
            hf_raise_for_status(r)
            data = bytes(r.content)
            return data, (_total_from(r.headers) if r.status_code == 206 else len(data))

        result: tuple[bytes, int | None] = self._call(go)
        return result

    def _json(self, name: str) -> dict[str, Any] | None:
        import json

        try:
            data = json.loads(self._get(name))
        except ValueError as e:
            raise HubError(f"{self.repo_id}/{name} is not valid JSON", "report it to the repo's owner") from e
        return data if isinstance(data, dict) else None

    # ---------------------------------------------------------------- formats
    def _safetensors(self, name: str, size: int | None) -> tuple[list[TensorInfo], FileInfo]:
        from vramcalc.readers.safetensors_header import header_length, parse_safetensors_header

        where = f"{self.repo_id}/{name}"
        head, total = self._get_sized(name, 0, FIRST_RANGE - 1)
        size = size if size is not None else total
        n = header_length(head[:8], name=where, file_size=size)
        if 8 + n > len(head):
            head += self._get(name, len(head), 8 + n - 1)
        component = name.split("/", 1)[0] if "/" in name else ""
        tensors, _ = parse_safetensors_header(head[8:8 + n], name=where, file_size=size, component=component,
                                              file=name)
        return tensors, FileInfo(path=name, size=size or 8 + n + sum(t.nbytes for t in tensors),
                                 header_bytes=8 + n, tensors=len(tensors), component=component)

    def _gguf(self, parts: list[str], sizes: dict[str, int | None]) -> Inventory:
        """Every part of the GGUF (split files hold their own tensor infos), read by growing prefixes."""
        tensors: list[TensorInfo] = []
        files: list[FileInfo] = []
        metadata: dict[str, Any] = {}
        for name in parts:
            g = self._gguf_header(name, sizes.get(name))
            tensors += g.tensors
            metadata = metadata or g.metadata
            files.append(FileInfo(path=name, size=g.file_size or 0, header_bytes=g.data_offset,
                                  tensors=len(g.tensors)))
        return Inventory(source=_label(self.repo_id, self.revision) + f":{parts[0].rsplit('/', 1)[-1]}",
                         kind="gguf", tensors=tensors, files=files, metadata=metadata)

    def _quants(self, groups: dict[str, list[str]], sizes: dict[str, int | None]) -> QuantSet:
        """Every quant's headers (range requests, WORKERS at a time), for a table of them."""
        label = _label(self.repo_id, self.revision)
        done = 0
        out: list[tuple[str, Inventory]] = []
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for tag, inv in zip(groups, pool.map(lambda parts: self._gguf(parts, sizes), groups.values()),
                                strict=True):
                out.append((tag, inv.model_copy(update={"source": f"{label}:{tag}"})))
                done += 1
                if self.progress:
                    self.progress(done, len(groups))
        return QuantSet(label, tuple(out), repo_id=self.repo_id)

    def _gguf_header(self, name: str, size: int | None) -> Any:
        from vramcalc.readers.gguf import NeedMoreBytes, parse_gguf_prefix

        where = f"{self.repo_id}/{name}"
        buf, total = self._get_sized(name, 0, GGUF_FIRST_RANGE - 1)
        size = size if size is not None else total  # the listing's size, else the range answer's
        while True:
            try:
                return parse_gguf_prefix(buf, name=where, file_size=size)
            except NeedMoreBytes as more:
                want = max(more.needed, 2 * len(buf))
                if len(buf) >= GGUF_MAX_PREFIX or (size is not None and len(buf) >= size):
                    raise SourceError(f"{where}: GGUF header larger than {GGUF_MAX_PREFIX >> 20} MB",
                                      "download the file and inspect it locally") from None
                buf += self._get(name, len(buf), min(want, GGUF_MAX_PREFIX) - 1)
