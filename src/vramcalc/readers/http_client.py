"""A small HTTP/1.1 client on the standard library for the Hub reads: kept-alive connections per host, redirects that
drop the token when they leave its host, proxies from the environment, streamed bodies.

Why not huggingface_hub's session: importing it and building its client (httpx, its SSL context) costs ~190 ms of a
~300 ms `inspect org/model`, more than all the requests of a 4-shard repo together (benchmarks/bench_hub.py). What the
Hub needs from a client here is a GET with a Range header; the token rules are huggingface_hub's (token_for below).
"""

from __future__ import annotations

import base64
import http.client
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

if TYPE_CHECKING:
    import ssl

MAX_REDIRECTS = 10
# a connection attempt that takes this many times the host's first, at least QUICK_CONNECT_MIN seconds, was most
# likely dropped by a full accept queue: tried afresh rather than waiting for TCP's one-second retry (Client._open)
QUICK_CONNECT_FACTOR = 4.0
QUICK_CONNECT_MIN = 0.05
QUICK_CONNECT_TRIES = 5
CHUNK = 1 << 16
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TRUE = ("1", "on", "yes", "true")


class TooManyRedirects(Exception):
    pass


class _ForwardProxy(http.client.HTTPConnection):
    """A connection to a proxy that forwards plain http:// requests (with the proxy's credentials, if any)."""

    def __init__(self, host: str, port: int, *, timeout: float, proxy_headers: dict[str, str]) -> None:
        super().__init__(host, port, timeout=timeout)
        self.proxy_headers = proxy_headers


class Response:
    """A streamed answer: status, reason, headers (case-insensitive .get) and the body in chunks."""

    def __init__(self, raw: http.client.HTTPResponse, url: str) -> None:
        self.raw, self.url = raw, url
        self.status_code = raw.status
        self.reason_phrase = raw.reason
        self.headers = raw.headers

    def iter_bytes(self) -> Iterator[bytes]:
        while chunk := self.raw.read1(CHUNK):
            yield chunk


def token_for(explicit: str | None) -> str | None:
    """The token huggingface_hub would send: the one given, else (unless HF_HUB_DISABLE_IMPLICIT_TOKEN) $HF_TOKEN,
    then the file `hf auth login` writes ($HF_TOKEN_PATH, else $HF_HOME/token)."""
    if explicit:
        return explicit
    if os.environ.get("HF_HUB_DISABLE_IMPLICIT_TOKEN", "").strip().lower() in _TRUE:
        return None
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    path = Path(os.environ.get("HF_TOKEN_PATH") or os.path.join(home, "token"))
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:4096].strip()
    except OSError:
        return None
    return text or None


class Client:
    """Connections kept alive per (scheme, host, port), shared by the threads of one read."""

    def __init__(self, user_agent: str) -> None:
        self.user_agent = user_agent
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._quick: dict[tuple[str, str, int], float] = {}  # seconds a new connection may take before a retry
        self._ssl: ssl.SSLContext | None = None

    @contextmanager
    def stream(self, url: str, headers: dict[str, str], timeout: float) -> Iterator[Response]:
        """GET `url`, following redirects; the Authorization header goes no further than the host it was given for."""
        headers = {"User-Agent": self.user_agent, **headers}
        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            conn, key, raw = self._send(url, headers, timeout)
            location = raw.getheader("Location")
            if raw.status in REDIRECTS and location:
                raw.read(CHUNK)  # a redirect's body is a line at most: drained so the connection can be kept
                self._release(key, conn, raw)
                url = urljoin(url, location)
                if urlsplit(url).netloc != origin:
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                continue
            try:
                yield Response(raw, url)
            finally:
                self._release(key, conn, raw)
            return
        raise TooManyRedirects(url)

    def _send(self, url: str, headers: dict[str, str], timeout: float
              ) -> tuple[http.client.HTTPConnection, tuple[str, str, int], http.client.HTTPResponse]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise http.client.InvalidURL(f"not an http(s) address: {url[:200]!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.scheme, parts.hostname, port)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        for attempt in range(2):
            conn, reused = self._acquire(key, timeout)
            extra: dict[str, str] = {}
            if isinstance(conn, _ForwardProxy):  # an http:// address through a proxy: it takes the whole address
                target, extra = url, conn.proxy_headers
            try:
                conn.request("GET", target, headers={**headers, **extra})
                return conn, key, conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if not reused or attempt:  # a kept-alive connection the server had closed: once more, afresh
                    raise
        raise AssertionError("unreachable")

    def _acquire(self, key: tuple[str, str, int], timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            conn = idle.pop() if idle else None
        if conn is not None:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            return conn, True
        return self._open(key, timeout), False

    def _open(self, key: tuple[str, str, int], timeout: float) -> http.client.HTTPConnection:
        """A new connection, opened now. A server whose accept queue is full drops the attempt silently, and TCP
        tries again only after a second: a burst of parallel connections to a small server or proxy would stall
        for that second. So once one connection to the host has shown how long opening one takes, later attempts
        give up after QUICK_CONNECT_FACTOR times that (at least QUICK_CONNECT_MIN s) and try afresh, up to
        QUICK_CONNECT_TRIES times, before waiting the full timeout as usual."""
        with self._lock:  # a host not yet connected to (the CDN) is judged by the others (the Hub itself)
            quick = self._quick.get(key) or max(self._quick.values(), default=None)
        for _ in range(QUICK_CONNECT_TRIES if quick is not None else 0):
            conn = self._connect(key, min(quick or timeout, timeout))
            try:
                conn.connect()
            except TimeoutError:
                conn.close()
                continue
            break
        else:
            conn = self._connect(key, timeout)
            t0 = time.monotonic()
            conn.connect()
            with self._lock:
                self._quick.setdefault(key, max(QUICK_CONNECT_MIN, QUICK_CONNECT_FACTOR * (time.monotonic() - t0)))
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _connect(self, key: tuple[str, str, int], timeout: float) -> http.client.HTTPConnection:
        scheme, host, port = key
        proxy = _proxy_for(scheme, host)
        if proxy is None:
            if scheme == "https":
                return http.client.HTTPSConnection(host, port, timeout=timeout, context=self._context())
            return http.client.HTTPConnection(host, port, timeout=timeout)
        p = urlsplit(proxy)
        auth = {}
        if p.username:
            creds = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
            auth = {"Proxy-Authorization": "Basic " + base64.b64encode(creds).decode()}
        phost, pport = p.hostname or "", p.port or 8080
        if scheme == "https":  # a CONNECT tunnel: the proxy sees the host, never the request or the token
            tunnel = http.client.HTTPSConnection(phost, pport, timeout=timeout, context=self._context())
            tunnel.set_tunnel(host, port, headers=auth)
            return tunnel
        return _ForwardProxy(phost, pport, timeout=timeout, proxy_headers=auth)

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                import ssl

                ctx = ssl.create_default_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
                # the bundle a corporate proxy's users point requests (and so huggingface_hub) at
                bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                if bundle:
                    try:
                        ctx.load_verify_locations(bundle)
                    except (OSError, ssl.SSLError):
                        pass  # unreadable: the system's certificates alone, and a clear TLS error if they do not do
                if not ctx.cert_store_stats().get("x509_ca"):
                    try:  # no system certificates (a slim container): certifi's, which httpx would use
                        import certifi

                        ctx.load_verify_locations(certifi.where())
                    except (ImportError, OSError):
                        pass
                self._ssl = ctx
            return self._ssl

    def _release(self, key: tuple[str, str, int], conn: http.client.HTTPConnection,
                 raw: http.client.HTTPResponse) -> None:
        """Keep the connection for the next request where its answer was read to the end; else close it (a range
        answer we stopped reading, a server that says Connection: close)."""
        read_out = raw.isclosed() or (not raw.chunked and raw.length == 0)
        if read_out and not raw.will_close:
            raw.close()  # the answer's file, as http.client does at the end of a body; the socket stays open
            with self._lock:
                self._idle.setdefault(key, []).append(conn)
        else:
            conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy the environment names for this address ($HTTPS_PROXY, $HTTP_PROXY, $ALL_PROXY; $NO_PROXY)."""
    if not any(k.lower().endswith("_proxy") for k in os.environ):
        return None
    import urllib.request

    if urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(scheme) or proxies.get("all")
