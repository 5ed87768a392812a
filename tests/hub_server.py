"""A local stand-in for the Hugging Face Hub on 127.0.0.1, so the real huggingface_hub client runs in tests.

Serves `/api/models/{repo}[/revision/{rev}]` and `/{repo}/resolve/{rev}/{file}` (GET, HEAD, Range → 206), gated
repos (401 + X-Error-Code: GatedRepo without the right token), missing repos and revisions (404 + X-Error-Code),
429 and injected latency. Large files are a header plus a declared length: bytes past the header are zeros made on
demand, so a repo of multi-GB shards costs nothing.

Sizes are reported where and as the real Hub reports them (the fields huggingface_hub reads):
- the repo listing's `siblings` carry only `rfilename`, unless `?blobs=true` (`model_info(files_metadata=True)`)
  asks for `size`, `blobId` and, for LFS files, `lfs: {size, sha256, pointerSize}`;
- `resolve` of an LFS file (.safetensors, .gguf …) answers 302 to a CDN address (another host: localhost) with
  `X-Linked-Size`, `X-Linked-Etag` (the sha256) and `X-Repo-Commit`; the CDN answers a range with 206 and
  `Content-Range: bytes a-b/<size>`, a whole file with `Content-Length`;
- small (git) files are served directly, ETag = their git blob id.
`FakeHub.list_sizes = False` plays a Hub (mirror) whose listing carries no sizes even when asked.

Fault modes (issue 13), each a field of FakeHub:
- `drip`: every body is sent one byte every `drip` seconds (a server that never quite stalls);
- `range_mode`: "empty" (206 with no bytes), "short" (206 with at most `short_bytes` bytes), "ignore" (a proxy that
  ignores Range: 200 and the whole file);
- `endless`: files are answered with `Content-Length: 10 GB` and zeros for as long as the client reads;
- `fail_status` (every request) or `status_every = (n, status)` (every n-th request): that status, with
  `Retry-After: retry_after` on 429 and 503;
- `log`: every request's path with the Authorization it carried, to check what was asked of whom.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

LFS_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".onnx")


@dataclass
class RemoteFile:
    head: bytes
    size: int

    @property
    def sha256(self) -> str:
        """Stands in for the content's sha256 (hashing gigabytes of zeros would cost seconds): unique per content."""
        return hashlib.sha256(self.head + str(self.size).encode()).hexdigest()

    @property
    def git_oid(self) -> str:
        return hashlib.sha1(b"blob %d\0" % self.size + self.read(0, self.size - 1)).hexdigest()

    def read(self, start: int, end: int) -> bytes:  # inclusive end
        end = min(end, self.size - 1)
        out = self.head[start:end + 1]
        return out + b"\0" * (end + 1 - start - len(out))


@dataclass
class Repo:
    files: dict[str, RemoteFile]
    token: str | None = None  # gated: only this token gets in
    revisions: tuple[str, ...] = ("main",)
    sha: str = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeHub:
    repos: dict[str, Repo] = field(default_factory=dict)
    latency: float = 0.0
    rate_limited: bool = False
    list_sizes: bool = True  # False: the listing never carries sizes (a mirror), so readers must find them elsewhere
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0  # the most requests answered at once (readers fetch headers concurrently)
    bytes_sent: int = 0
    seen_auth: list[str] = field(default_factory=list)
    drip: float = 0.0
    range_mode: str = "normal"  # "empty", "short", "ignore"
    short_bytes: int = 1
    endless: bool = False
    fail_status: int | None = None
    status_every: tuple[int, int] | None = None
    retry_after: str | None = "1"
    log: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization header)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    cdn_url: str = ""  # the same server under another host name, as the Hub's CDN is another host


    def add(self, repo_id: str, files: dict[str, bytes | RemoteFile], **kw: object) -> None:
        self.repos[repo_id] = Repo({k: v if isinstance(v, RemoteFile) else RemoteFile(v, len(v))
                                    for k, v in files.items()}, **kw)  # type: ignore[arg-type]


_API = re.compile(r"^/api/models/([^/?]+/[^/?]+)(?:/revision/([^/?]+))?(?:\?(.*))?$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+?)(?:\?.*)?$")
_CDN = re.compile(r"^/cdn/([^/]+/[^/]+)/([0-9a-f]{64})/(.+?)(?:\?.*)?$")


def is_lfs(name: str, f: RemoteFile) -> bool:
    return name.endswith(LFS_SUFFIXES) or f.size > 10 << 20


def _pointer_oid(f: RemoteFile) -> str:
    """An LFS file's blob id: the git object id of its pointer file, which names the content's sha256 (so a new
    content is a new id, as on the Hub)."""
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{f.sha256}\nsize {f.size}\n".encode()
    return hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()


def _sibling(name: str, f: RemoteFile, blobs: bool) -> dict[str, object]:
    if not blobs:
        return {"rfilename": name}
    if is_lfs(name, f):
        return {"rfilename": name, "blobId": _pointer_oid(f), "size": f.size,
                "lfs": {"sha256": f.sha256, "size": f.size, "pointerSize": 134}}
    return {"rfilename": name, "blobId": f.git_oid, "size": f.size}


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY, as the Hub's front ends set it: the status line and headers go out in one write and the body
        # in another, and with Nagle's algorithm the body would wait for the client's delayed ACK (~40 ms on a
        # kept-alive connection) — a stall no real server adds
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None,
                  length: int | None = None) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if self.command == "HEAD":
                return
            if hub.drip:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    with hub.lock:
                        hub.bytes_sent += 1
                    time.sleep(hub.drip)
                return
            self.wfile.write(body)
            with hub.lock:
                hub.bytes_sent += len(body)

        def _error(self, code: int, error_code: str) -> None:
            self._send(code, json.dumps({"error": error_code}).encode(),
                       {"X-Error-Code": error_code, "Content-Type": "application/json"})

        def _repo(self, repo_id: str, rev: str | None) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(401, "RepoNotFound")
                return None
            auth = self.headers.get("Authorization", "")
            if auth:
                hub.seen_auth.append(auth)
            if repo.token is not None and auth != f"Bearer {repo.token}":
                self._error(401, "GatedRepo")
                return None
            if rev is not None and rev not in repo.revisions and rev != repo.sha:
                self._error(404, "RevisionNotFound")
                return None
            return repo

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            with hub.lock:
                hub.requests += 1
                hub.in_flight += 1
                hub.max_in_flight = max(hub.max_in_flight, hub.in_flight)
                hub.log.append((self.path, self.headers.get("Authorization", "")))
                count = hub.requests
            try:
                status = hub.fail_status
                if hub.status_every and count % hub.status_every[0] == 0:
                    status = hub.status_every[1]
                if status is not None:
                    extra = {"Retry-After": hub.retry_after} if hub.retry_after and status in (429, 503) else {}
                    self._send(status, b"injected fault", extra)
                else:
                    self._answer()
            finally:
                with hub.lock:
                    hub.in_flight -= 1

        def _answer(self) -> None:
            if hub.latency:
                time.sleep(hub.latency)
            if hub.rate_limited:
                self._send(429, b"slow down", {"Retry-After": "1"})
                return
            m = _API.match(self.path)
            if m:
                repo = self._repo(m.group(1), m.group(2))
                if repo is not None:
                    blobs = hub.list_sizes and "blobs=true" in (m.group(3) or "").lower().split("&")
                    body = {"id": m.group(1), "modelId": m.group(1), "sha": repo.sha, "private": False,
                            "siblings": [_sibling(n, f, blobs) for n, f in sorted(repo.files.items())]}
                    self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
                return
            m = _CDN.match(self.path)
            if m:  # the CDN: signed addresses, no token needed
                repo = hub.repos.get(m.group(1))
                f = repo.files.get(m.group(3)) if repo else None
                if f is None or f.sha256 != m.group(2):
                    self._send(404, b"no such object")
                else:
                    self._serve(f, {"ETag": f'"{f.sha256}"', "Accept-Ranges": "bytes"})
                return
            m = _RESOLVE.match(self.path)
            if not m:
                self._send(404, b"no route")
                return
            repo = self._repo(m.group(1), m.group(2))
            if repo is None:
                return
            f = repo.files.get(m.group(3))
            if f is None:
                self._error(404, "EntryNotFound")
                return
            name = m.group(3)
            if is_lfs(name, f):
                self._send(302, b"", {"Location": f"{hub.cdn_url}/cdn/{m.group(1)}/{f.sha256}/{name}",
                                      "X-Repo-Commit": repo.sha, "X-Linked-Etag": f'"{f.sha256}"',
                                      "X-Linked-Size": str(f.size),
                                      "ETag": f'"{hashlib.sha1(name.encode()).hexdigest()}"'})
                return
            self._serve(f, {"ETag": f'"{f.git_oid}"', "X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"})

        def _serve(self, f: RemoteFile, headers: dict[str, str]) -> None:
            rng = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if hub.endless:  # Content-Length: 10 GB, zeros for as long as the client reads
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(10**10))
                self.end_headers()
                self.wfile.write(f.head)
                for _ in range(10**10 // (1 << 20)):
                    self.wfile.write(b"\0" * (1 << 20))
                    with hub.lock:
                        hub.bytes_sent += 1 << 20
                return
            if rng and hub.range_mode == "ignore":
                rng = None
            if rng and hub.range_mode in ("empty", "short"):
                start = int(rng.group(1))
                end = start + (hub.short_bytes if hub.range_mode == "short" else 0) - 1
                end = min(end, f.size - 1)
                headers["Content-Range"] = f"bytes {start}-{max(end, start)}/{f.size}"
                self._send(206, f.read(start, end) if end >= start else b"", headers)
                return
            if rng:
                start = int(rng.group(1))
                end = int(rng.group(2)) if rng.group(2) else f.size - 1
                if start >= f.size:
                    self._send(416, b"", {"Content-Range": f"bytes */{f.size}"})
                    return
                end = min(end, f.size - 1)
                headers["Content-Range"] = f"bytes {start}-{end}/{f.size}"
                self._send(206, f.read(start, end), headers)
            elif self.command == "HEAD":  # the length, without making the body
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(f.size))
                self.end_headers()
            else:
                self._send(200, f.read(0, f.size - 1), headers)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-answer (vramcalc stops reading at the bytes it asked for) is not an error."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    hub = FakeHub()
    server = _Server(("127.0.0.1", 0), _handler(hub))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    hub.cdn_url = f"http://localhost:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
