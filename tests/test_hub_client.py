"""The Hub reads' own HTTP client (readers/http_client.py), against the local Hub: where the token goes, where it comes
from (huggingface_hub's rules), kept-alive connections, and a proxy from the environment."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.cli_helpers import run_cli
from tests.fixtures_files import llama_tensors, safetensors_bytes
from tests.hub_server import FakeHub, RemoteFile

SECRET = "hf_FILEtokenFILEtoken42"


def _repo(hub: FakeHub, **kw: object) -> None:
    files: dict[str, bytes | RemoteFile] = {}
    for i in range(3):
        head, data_len = safetensors_bytes({f"layers.{i}.w": ("BF16", [64, 64])})
        files[f"model-{i + 1:05d}-of-00003.safetensors"] = RemoteFile(head, len(head) + data_len)
    hub.add("org/m", files, **kw)


def test_the_token_goes_to_the_hub_never_to_the_cdn(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    _repo(fake_hub, token=SECRET)
    r = run_cli(capsys, "inspect", "org/m", "--token", SECRET, "--json")
    assert r.code == 0, r.err
    hub_auth = {auth for path, auth in fake_hub.log if not path.startswith("/cdn/")}
    cdn_auth = {auth for path, auth in fake_hub.log if path.startswith("/cdn/")}
    assert hub_auth == {f"Bearer {SECRET}"} and cdn_auth == {""}


def test_the_token_file_as_huggingface_hub_reads_it(fake_hub: FakeHub, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VRAMCALC_CACHE_DIR", "off")  # every run asks the Hub: the token is what is tested
    _repo(fake_hub, token=SECRET)
    home = tmp_path / "hf"
    home.mkdir()
    (home / "token").write_text(SECRET + "\n")
    monkeypatch.setenv("HF_HOME", str(home))
    r = run_cli(capsys, "inspect", "org/m", "--json")
    assert r.code == 0, r.err
    assert SECRET not in r.out + r.err
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")  # then only a token given on the command line
    r = run_cli(capsys, "inspect", "org/m")
    assert r.code == 1 and "gated or private" in r.err
    monkeypatch.setenv("HF_TOKEN", "hf_envENVenv")  # the variable wins over the file, and is implicit too
    r = run_cli(capsys, "inspect", "org/m")
    assert r.code == 1 and "hf_env" not in r.err


def test_connections_are_kept_alive(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    from vramcalc.readers import http_client

    made: list[str] = []
    real = http_client.Client._connect

    def counting(self: http_client.Client, key: tuple[str, str, int], timeout: float) -> http.client.HTTPConnection:
        made.append(key[1])
        return real(self, key, timeout)

    monkeypatch.setattr(http_client.Client, "_connect", counting)
    _repo(fake_hub)
    client = http_client.Client("test")
    for _ in range(5):
        with client.stream(f"{fake_hub.url}/org/m/resolve/main/model-00001-of-00003.safetensors",
                           {"Range": "bytes=0-7"}, 5) as r:
            assert r.status_code == 206 and len(b"".join(r.iter_bytes())) == 8
    client.close()
    # one connection to the Hub and one to its CDN, for five redirected range requests
    assert sorted(made) == ["127.0.0.1", "localhost"] and fake_hub.requests == 10


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy for http:// addresses (the request line holds the whole address), logging what it relays."""

    seen: list[tuple[str, str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        type(self).seen.append((self.path, self.headers.get("Proxy-Authorization", "")))
        conn = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=5)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-authorization", "host")}
        conn.request("GET", url.path + (f"?{url.query}" if url.query else ""), headers=headers)
        answer = conn.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        conn.close()


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://user:pa%40ss@127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_proxy_from_the_environment(fake_hub: FakeHub, proxy: str, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    head, data_len = safetensors_bytes(llama_tensors())
    fake_hub.add("org/p", {"model.safetensors": RemoteFile(head, len(head) + data_len)})
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    r = run_cli(capsys, "inspect", "org/p", "--json")
    assert r.code == 0, r.err
    assert _Proxy.seen and all(path.startswith("http://") for path, _ in _Proxy.seen)
    assert {auth for _, auth in _Proxy.seen} == {"Basic dXNlcjpwYUBzcw=="}  # user:pa@ss
    # NO_PROXY names the Hub's hosts: straight there
    _Proxy.seen.clear()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert run_cli(capsys, "inspect", "org/p", "--json").code == 0 and _Proxy.seen == []


class _Redirector(BaseHTTPRequestHandler):
    """A hostile endpoint: every answer is a redirect (`target`: where to), counted."""

    protocol_version = "HTTP/1.1"
    target = ""
    seen = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).seen += 1
        self.send_response(302)
        self.send_header("Location", type(self).target or self.path)  # to itself by default: a loop
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.mark.parametrize(("target", "said"), [("", "redirect too many times"),
                                              ("file:///etc/passwd", "malformed"),
                                              ("ftp://127.0.0.1/x", "malformed")])
def test_hostile_redirects_end_in_one_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                            target: str, said: str) -> None:
    from vramcalc.readers.http_client import MAX_REDIRECTS

    _Redirector.target, _Redirector.seen = target, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        r = run_cli(capsys, "inspect", "org/loop")
    finally:
        server.shutdown()
    assert r.code == 1 and r.err.count("\n") == 1 and said in r.err, r.err
    # the listing and the two early files, each followed at most MAX_REDIRECTS times, never retried
    assert _Redirector.seen <= 3 * (MAX_REDIRECTS + 1)


TLS = Path(__file__).parent / "data" / "tls"


@pytest.fixture
def tls_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """The fake Hub over HTTPS, its CDN under another name (localhost), with a test-only certificate."""
    import ssl

    from tests.hub_server import _handler, _Server

    hub = FakeHub()
    server = _Server(("127.0.0.1", 0), _handler(hub))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(TLS / "localhost.crt", TLS / "localhost.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    hub.url, hub.cdn_url = f"https://127.0.0.1:{port}", f"https://localhost:{port}"
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    yield hub
    server.shutdown()


def test_https_with_verified_certificates(tls_hub: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _repo(tls_hub, token=SECRET)
    monkeypatch.setenv("VRAMCALC_CACHE_DIR", "off")
    # a certificate nobody vouches for: one clear error, nothing read
    r = run_cli(capsys, "inspect", "org/m", "--token", SECRET)
    assert r.code == 1 and r.err.startswith("Error: the TLS connection to https://127.0.0.1:") and \
        "REQUESTS_CA_BUNDLE" in r.err and SECRET not in r.err
    # trusted through the variable requests and huggingface_hub users set: the Hub, then its CDN by name, over TLS
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(TLS / "localhost.crt"))
    r = run_cli(capsys, "inspect", "org/m", "--token", SECRET, "--json")
    assert r.code == 0, r.err
    assert r.json()["params"] == 3 * 64 * 64
    assert any(path.startswith("/cdn/") for path, _ in tls_hub.log)
    assert {auth for path, auth in tls_hub.log if path.startswith("/cdn/")} == {""}
