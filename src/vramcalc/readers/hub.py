"""Hub repos: the local cache first, then the Hub itself, headers only.

safetensors headers come by HTTP range requests (the first 100 kB, then the rest of a longer header), every
shard in a thread pool; GGUF headers by ranges fetched as the parser needs them (metadata arrays nobody reads are
skipped, never fetched). Requests go through a small client of our own (readers/http_client.py: kept-alive
connections, huggingface_hub's token rules, proxies from the environment). A token is sent to the endpoint's host
only, never printed: no message here contains it.

Whatever a server does, a read is bounded (readers/hub_transport.py: paths checked before any request, answers
read only as far as asked, retries, one deadline); here, a GGUF header takes at most GGUF_MAX_REQUESTS requests and
GGUF_MAX_PREFIX bytes, and a range answer that brings nothing is an error. What a read fetched is kept for the next
run (readers/header_cache.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from vramcalc.errors import HubError, SourceError, VramcalcError
from vramcalc.inventory import FileInfo, Inventory, TensorInfo
from vramcalc.readers import QuantSet
from vramcalc.readers.header_cache import decode_ranges, encode_ranges
from vramcalc.readers.hub_transport import MAX_ATTEMPTS, MAX_JSON_BYTES, HubTransport
from vramcalc.readers.paths import stays_inside, valid_repo_id, valid_revision
from vramcalc.readers.weight_files import INDEX

if TYPE_CHECKING:
    from vramcalc.readers.header_cache import CachedRepo
    from vramcalc.readers.weight_files import WeightFiles
    from vramcalc.registry import Registry

FIRST_RANGE = 100_000  # a shard's first range where no index foresees its header
ENTRY_BYTES = 112  # a header entry past its name: {"dtype":…,"shape":[…],"data_offsets":[…]}, spaced JSON too
HEADER_SLACK = 1024  # the length prefix, __metadata__ and padding
GGUF_FIRST_RANGE = 1 << 20
GGUF_MAX_PREFIX = 256 << 20
GGUF_MAX_REQUESTS = 32  # per GGUF file: the first range, then windows doubling to 32 MiB
_T = TypeVar("_T")
WORKERS = 32  # requests in flight, and so connections per host: a 30-shard repo in one round
MAX_QUANTS = 64  # a repo of more GGUFs than this (several models) is a refusal that lists them, not a table
EARLY = ("config.json", INDEX)  # asked for with the listing, before it says whether they exist
Progress = Callable[[int, int], None]


def read_repo(repo_id: str, *, revision: str | None = None, token: str | None = None,
              progress: Progress | None = None, gguf_tag: str | None = None,
              quant_set: bool = True, registry: Registry | None = None, refresh: bool = False) -> Inventory | QuantSet:
    """`refresh`: ask the Hub even where the header cache holds the repo (and keep what comes back). `gguf_tag`
    ("Q4_K_M" from `org/name:Q4_K_M`, as llama.cpp's -hf takes it) picks one GGUF of a repo; a repo of
    several GGUFs without one is a QuantSet of them all (`quant_set=False`: an error that lists them). GGUF types
    are looked up in `registry` (the caller's, with its --formats files)."""
    from vramcalc.readers.hf_cache import cached_snapshot, cached_state, config_from_cache, offline

    if not valid_repo_id(repo_id):
        raise HubError(f"{repo_id[:200]!r} is not a Hub repo id", "give org/name")
    if revision is not None and not valid_revision(revision):
        raise HubError(f"revision {revision[:100]!r} is not a branch, tag or commit", "give one such as main or v1.0")
    snapshot = cached_snapshot(repo_id, revision)
    cached = cached_state(snapshot) if snapshot is not None else None
    if snapshot is not None and cached == "model":
        from vramcalc.readers import read_local

        label = _label(repo_id, revision)
        target = snapshot
        ggufs = sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*.gguf"))
        if gguf_tag or (ggufs and not any(snapshot.glob("*.safetensors"))):
            groups = _quant_groups(ggufs, gguf_tag, repo_id, quant_set)
            if groups is not None:
                return QuantSet(label, tuple(
                    (tag, _cached_inventory(read_local(snapshot / parts[0], quant_set=False, registry=registry),
                                            f"{label}:{tag}"))
                    for tag, parts in groups.items()), repo_id=repo_id)
            target = snapshot / pick_gguf(ggufs, gguf_tag, repo_id)[0]
        inv = read_local(target, quant_set=False, registry=registry)
        return _cached_inventory(inv, label)
    from vramcalc.readers import header_cache

    kept = None if refresh else header_cache.load(repo_id, revision, offline=offline())
    if kept is not None:  # what an earlier run fetched (headers only): no request at all
        try:
            return _CachedHub(kept, repo_id, revision, progress, registry=registry).read(gguf_tag, quant_set)
        except (_CacheMiss, VramcalcError):  # a cache damaged or incomplete: as if there were none
            pass
    if offline():
        if snapshot is not None and cached == "config" and not gguf_tag:
            return config_from_cache(snapshot, _label(repo_id, revision))
        raise HubError(f"{repo_id} is not in the local cache and HF_HUB_OFFLINE is set",
                       f"unset HF_HUB_OFFLINE, or download it first (hf download {repo_id} --include '*.json')")
    hub = _Hub(repo_id, revision, token, progress, registry=registry)
    return hub.within_deadline(lambda: hub.read(gguf_tag, quant_set))


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


def _sibling_size(sibling: dict[str, Any]) -> int | None:
    """The size the repo listing reports (`?blobs=true` asks for it: `size`, and `lfs.size` for LFS files); None
    when the listing has none (a mirror that lists names only), or one that is not a byte count: the range answer
    tells then."""
    size = sibling.get("size")
    lfs = sibling.get("lfs")
    if size is None and isinstance(lfs, dict):
        size = lfs.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) and 0 <= size < 1 << 62 else None


class _Listing:
    """A repo's listing as a FileSource (vramcalc.readers.weight_files): names by folder, JSON by request."""

    def __init__(self, hub: _Hub, sizes: dict[str, int | None]) -> None:
        self.hub, self.sizes = hub, sizes

    def ls(self, folder: str) -> list[str]:
        prefix = f"{folder}/" if folder else ""
        return sorted(n for n in self.sizes if n.startswith(prefix) and "/" not in n[len(prefix):])

    def json(self, name: str) -> dict[str, Any] | None:
        return self.hub._json(name) if name in self.sizes else None


def _label(repo_id: str, revision: str | None) -> str:
    return f"{repo_id}@{revision}" if revision else repo_id


class _Hub(HubTransport):
    """One model's read from the Hub: the listing, the files chosen from it, their headers (readers/hub_transport.py
    makes the requests)."""

    def __init__(self, repo_id: str, revision: str | None, token: str | None, progress: Progress | None, *,
                 registry: Registry | None = None, deadline: float | None = None) -> None:
        super().__init__(repo_id, revision, token, deadline)
        self.progress, self.registry = progress, registry
        self.pool: ThreadPoolExecutor  # read()'s, for every request of one model
        self._json_futures: dict[str, Future[dict[str, Any] | None]] = {}
        self._json_lock = threading.Lock()
        self._speculative: set[str] = set()
        self.commit: str | None = None  # the listing's
        self.blob_ids: dict[str, str | None] = {}
        self.raw_headers: dict[str, bytes] = {}  # what the header cache keeps

    def read(self, gguf_tag: str | None = None, quant_set: bool = True) -> Inventory | QuantSet:
        try:
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                self.pool = pool
                return self._read(gguf_tag, quant_set)
        finally:
            self.session.close()

    def _read(self, gguf_tag: str | None, quant_set: bool) -> Inventory | QuantSet:
        # one round trip before the shards: the listing, config.json and the index asked for together (a file the
        # listing then does not hold is forgotten; its error, a 404, too)
        listing = self.pool.submit(self._listing)
        for name in EARLY:
            self._prefetch(name, speculative=True)
        sizes = listing.result()
        names = sorted(sizes)
        config = self._json("config.json") if "config.json" in sizes else None
        from vramcalc.readers.weight_files import Blame, select_weights

        chosen = select_weights(_Listing(self, sizes), Blame(label=lambda n: f"{self.repo_id}/{n}", inside="the repo",
                                                             error=HubError, todo="report it to the repo's owner"))
        wanted = chosen.files
        ggufs = [n for n in names if n.endswith(".gguf")]
        if gguf_tag and not ggufs:
            raise HubError(f"{self.repo_id} has no GGUF files to pick {gguf_tag!r} from",
                           f"drop ':{gguf_tag}' and choose formats with --dtype")
        if ggufs and (gguf_tag or not wanted):
            groups = _quant_groups(ggufs, gguf_tag, self.repo_id, quant_set)
            found: Inventory | QuantSet = (self._quants(groups, sizes) if groups is not None
                                           else self._gguf(pick_gguf(ggufs, gguf_tag, self.repo_id), sizes))
            self._keep(sizes)
            return found
        if chosen.components:
            return self._pipeline(chosen, sizes)
        if not wanted:
            if config is not None:
                from vramcalc.readers.config_json import inventory_from_config

                inv = inventory_from_config(config, _label(self.repo_id, self.revision))
                return inv.model_copy(update={"warnings": [*inv.warnings,
                                      "no safetensors in the repo: counted from config.json"]})
            raise HubError(f"{self.repo_id} has no .safetensors, .gguf or config.json "
                           f"(files: {', '.join(names[:6]) or 'none'})", "check the repo id")
        tensors, files, metadata = self._read_weights(wanted, sizes)
        self._keep(sizes)
        from vramcalc.readers.assemble import assemble

        return assemble(_label(self.repo_id, self.revision), "hub", tensors, files, config, metadata, chosen.notes)

    def _read_weights(self, wanted: list[str], sizes: dict[str, int | None]
                      ) -> tuple[list[TensorInfo], list[FileInfo], dict[str, str]]:
        """Every chosen shard's header, all at once; in the order given."""
        tensors: list[TensorInfo] = []
        files: list[FileInfo] = []
        metadata: dict[str, str] = {}
        guesses = self._header_guesses(wanted)
        fetched = self._each(lambda n: self._header_bytes(n, sizes.get(n), guesses.get(n)), wanted)
        for done, (name, (head, n, size)) in enumerate(zip(wanted, fetched, strict=True), 1):
            t, f, meta = self._parse_header(name, head, n, size)  # here: the workers only wait on the network
            tensors += t
            files.append(f)
            metadata.update(meta)
            if self.progress:
                self.progress(done, len(wanted))
        return tensors, files, metadata

    def _each(self, read: Callable[[str], _T], names: list[str]) -> Iterator[_T]:
        """`read` of every name, in order: all at once, each waiting on its requests."""
        return self.pool.map(read, names)

    def _pipeline(self, chosen: WeightFiles, sizes: dict[str, int | None]) -> Inventory:
        """A diffusers pipeline: its components' weights, or their configs where they have none (as a folder)."""
        from vramcalc.readers.assemble import assemble_pipeline

        config_names = [f"{c}/config.json" for c in chosen.components if f"{c}/config.json" in sizes]
        for name in config_names:  # together, with the weights; waited for here, never inside a worker
            self._prefetch(name)
        tensors, files, _ = self._read_weights(chosen.files, sizes)
        weights: dict[str, tuple[list[TensorInfo], list[FileInfo]]] = {}
        for f in files:
            weights.setdefault(f.component, ([], []))[1].append(f)
        for t in tensors:
            weights.setdefault(t.component, ([], []))[0].append(t)
        configs = {n.split("/")[0]: self._json(n) for n in config_names}
        inv = assemble_pipeline(_label(self.repo_id, self.revision), "hub", chosen.components, weights, configs,
                                self._json("model_index.json") or {}, chosen.notes)
        if inv is None:
            raise HubError(f"{self.repo_id}: a diffusers pipeline without .safetensors weights or configs vramcalc "
                           "can count in its components", "check the repo id")
        if files:
            self._keep(sizes)
        return inv

    def _keep(self, sizes: dict[str, int | None]) -> None:
        """Hand what was fetched to the header cache (readers/header_cache.py): the next run needs no network."""
        from vramcalc.readers import header_cache

        jsons = {name: f.result() for name, f in self._json_futures.items()
                 if name in sizes and f.done() and f.exception() is None}
        header_cache.save(self.repo_id, self.revision, self.commit,
                          {n: (size, self.blob_ids.get(n)) for n, size in sizes.items()}, jsons, self.raw_headers)

    # ---------------------------------------------------------------- HTTP
    def _listing(self) -> dict[str, int | None]:
        """Every file of the repo at the revision, with its size where the listing gives one (`?blobs=true`, as
        `model_info(files_metadata=True)` asks). Names that would leave the repo are dropped: never requested."""
        from urllib.parse import quote

        url = f"{self.endpoint}/api/models/{self.repo_id}"
        if self.revision is not None:
            url += f"/revision/{quote(self.revision, safe='')}"
        raw, _ = self._request(url + "?blobs=true", None, limit=MAX_JSON_BYTES)
        from vramcalc.readers.config_json import parse_json_object

        try:
            info = parse_json_object(raw, f"the Hub's listing of {self.repo_id}")
        except SourceError as e:
            raise HubError(e.what, "retry later; if it persists, the endpoint is not a Hub") from None
        siblings = info.get("siblings")
        if not isinstance(siblings, list):
            raise HubError(f"the Hub's listing of {self.repo_id} has no files", "retry later")
        kept = [s for s in siblings
                if isinstance(s, dict) and isinstance(s.get("rfilename"), str) and stays_inside(s["rfilename"])]
        sha = info.get("sha")
        self.commit = sha if isinstance(sha, str) else None
        self.blob_ids = {s["rfilename"]: s.get("blobId") if isinstance(s.get("blobId"), str) else None for s in kept}
        return {s["rfilename"]: _sibling_size(s) for s in kept}

    def _prefetch(self, name: str, speculative: bool = False) -> None:
        """Start fetching a JSON file; a speculative fetch (of a file the listing may not hold) is tried once, and
        fetched again as any other if it failed and turns out to be wanted: a failing server is not asked thrice."""
        with self._json_lock:
            if name not in self._json_futures:
                self._json_futures[name] = self.pool.submit(self._fetch_json, name, 1 if speculative else MAX_ATTEMPTS)
                if speculative:
                    self._speculative.add(name)

    def _json(self, name: str) -> dict[str, Any] | None:
        """A JSON file of the repo, fetched once (a prefetched one is waited for)."""
        self._prefetch(name)
        future = self._json_futures[name]
        if name in self._speculative and future.exception() is not None:
            self._speculative.discard(name)
            return self._fetch_json(name)
        return future.result()

    def _header_guesses(self, shards: list[str]) -> dict[str, int]:
        """Each shard's header length, foreseen from the index that names it (the names of its tensors and a
        generous entry for each one's dtype, shape and offsets): the first range then holds the whole header, and
        little more. A shard no index names gets FIRST_RANGE."""
        guesses: dict[str, int] = {}
        for index_name, future in list(self._json_futures.items()):
            if not index_name.endswith(".index.json") or not future.done() or future.exception() is not None:
                continue
            weight_map = (future.result() or {}).get("weight_map")
            if not isinstance(weight_map, dict):
                continue
            prefix = index_name.rpartition("/")[0]
            prefix += "/" if prefix else ""
            for tensor, shard in weight_map.items():
                key = prefix + str(shard)
                guesses[key] = guesses.get(key, HEADER_SLACK) + len(str(tensor)) + ENTRY_BYTES
        return {k: v for k, v in guesses.items() if k in shards}

    def _fetch_json(self, name: str, attempts: int = MAX_ATTEMPTS) -> dict[str, Any] | None:
        from vramcalc.readers.config_json import parse_json_object

        raw = self._request(self._url(name), name, attempts=attempts)[0]
        try:
            return parse_json_object(raw, f"{self.repo_id}/{name}", "report it to the repo's owner")
        except SourceError as e:
            raise HubError(e.what, e.todo) from None

    # ---------------------------------------------------------------- formats
    def _header_bytes(self, name: str, size: int | None, guess: int | None = None
                      ) -> tuple[bytes, int, int | None]:
        """A shard's header: its first bytes (the 8-byte length, then the header), the header's length, the file's
        size."""
        from vramcalc.readers.safetensors_header import header_length

        where = f"{self.repo_id}/{name}"
        head, total = self._get_sized(name, 0, min(guess or FIRST_RANGE, FIRST_RANGE) - 1)
        size = size if size is not None else total
        n = header_length(head[:8], name=where, file_size=size)
        if 8 + n > len(head):
            head += self._get(name, len(head), 8 + n - 1)
            if 8 + n > len(head):
                raise HubError(f"{where}: the server sent {len(head):,} of the header's {8 + n:,} bytes",
                               "retry later")
        self.raw_headers[name] = head[:8 + n]
        return head, n, size

    def _parse_header(self, name: str, head: bytes, n: int, size: int | None
                      ) -> tuple[list[TensorInfo], FileInfo, dict[str, str]]:
        from vramcalc.readers.safetensors_header import parse_safetensors_header

        where = f"{self.repo_id}/{name}"
        component = name.split("/", 1)[0] if "/" in name else ""
        tensors, metadata = parse_safetensors_header(head[8:8 + n], name=where, file_size=size, component=component,
                                                     file=name)
        return tensors, FileInfo(path=name, size=size or 8 + n + sum(t.nbytes for t in tensors),
                                 header_bytes=8 + n, tensors=len(tensors), component=component), metadata

    def _gguf(self, parts: list[str], sizes: dict[str, int | None]) -> Inventory:
        """Every part of the GGUF (split files hold their own tensor infos), read by ranges."""
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
        for tag, inv in zip(groups, self.pool.map(lambda parts: self._gguf(parts, sizes), groups.values()),
                            strict=True):
            out.append((tag, inv.model_copy(update={"source": f"{label}:{tag}"})))
            done += 1
            if self.progress:
                self.progress(done, len(groups))
        return QuantSet(label, tuple(out), repo_id=self.repo_id)

    def _gguf_header(self, name: str, size: int | None) -> Any:
        """The header, by ranges the parser asks for as it goes (what it skips is never fetched): at most
        GGUF_MAX_REQUESTS requests and GGUF_MAX_PREFIX bytes; a range answered with nothing is an error."""
        from vramcalc.readers.gguf import parse_gguf_prefix

        where = f"{self.repo_id}/{name}"
        first, total = self._get_sized(name, 0, GGUF_FIRST_RANGE - 1)
        size = size if size is not None else total  # the listing's size, else the range answer's
        requests, fetched = 1, len(first)
        ranges = [(0, first)]  # what was read where, for the header cache

        def read_at(offset: int, n: int) -> bytes:
            nonlocal requests, fetched
            n = min(n, GGUF_MAX_PREFIX - fetched)
            requests += 1
            if requests > GGUF_MAX_REQUESTS or n <= 0:
                raise SourceError(f"{where}: GGUF header larger than {GGUF_MAX_PREFIX >> 20} MB or the server "
                                  f"answers in pieces too small ({requests - 1} requests, {fetched:,} bytes)",
                                  "download the file and inspect it locally")
            data = self._get(name, offset, offset + n - 1)
            if not data:
                raise HubError(f"{where}: the server answered no bytes for range {offset:,}-{offset + n - 1:,}",
                               "retry later; if it persists, download the file and inspect it locally")
            fetched += len(data)
            ranges.append((offset, data))
            return data

        g = parse_gguf_prefix(first, name=where, file_size=size, registry=self.registry, read_at=read_at)
        # the ranges as read, cut at the tensor data (never needed again): the same parse replays from them
        self.raw_headers[name] = encode_ranges([(o, d[:g.data_offset - o]) for o, d in ranges if o < g.data_offset])
        return g


class _CacheMiss(Exception):
    """The header cache lacks something this read needs: the Hub is asked instead."""


class _CachedHub(_Hub):
    """The same read, answered from the header cache (readers/header_cache.py) instead of the network."""

    def __init__(self, kept: CachedRepo, repo_id: str, revision: str | None, progress: Progress | None, *,
                 registry: Registry | None = None) -> None:
        super().__init__(repo_id, revision, None, progress, registry=registry)
        self.kept = kept

    def _listing(self) -> dict[str, int | None]:
        self.commit, self.blob_ids = self.kept.commit, dict(self.kept.blobs)
        return dict(self.kept.sizes)

    def _each(self, read: Callable[[str], _T], names: list[str]) -> Iterator[_T]:
        return map(read, names)  # files on this disk: no network wait for threads to overlap

    def _header_guesses(self, shards: list[str]) -> dict[str, int]:
        return {}  # the cache holds each header whole: no range to size

    def _fetch_json(self, name: str, attempts: int = MAX_ATTEMPTS) -> dict[str, Any] | None:
        if name not in self.kept.jsons:
            raise _CacheMiss(name)
        value: dict[str, Any] | None = self.kept.jsons[name]
        return value

    def _header_bytes(self, name: str, size: int | None, guess: int | None = None
                      ) -> tuple[bytes, int, int | None]:
        from vramcalc.readers.safetensors_header import header_length

        head = self.kept.header(name)
        if head is None:
            raise _CacheMiss(name)
        n = header_length(head[:8], name=f"{self.repo_id}/{name}", file_size=size)
        if 8 + n != len(head):
            raise _CacheMiss(name)
        return head, n, size

    def _gguf_header(self, name: str, size: int | None) -> Any:
        from vramcalc.readers.gguf import parse_gguf_prefix

        ranges = decode_ranges(self.kept.header(name) or b"")
        if not ranges or 0 not in ranges:
            raise _CacheMiss(name)

        def read_at(offset: int, n: int) -> bytes:  # the same parse asks for the same ranges, or it was not this file
            if offset not in ranges:
                raise _CacheMiss(name)
            return ranges[offset][:n]

        return parse_gguf_prefix(ranges[0], name=f"{self.repo_id}/{name}", file_size=size, registry=self.registry,
                                 read_at=read_at)

    def _keep(self, sizes: dict[str, int | None]) -> None:
        pass
