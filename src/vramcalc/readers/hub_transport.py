"""The Hub's HTTP side for one model's read: the endpoint, the token's header, one deadline over every request,
retries, and what the server said, named.

Whatever a server does, a read is bounded: every path is checked before a request is made (a name from a listing or
an index never leaves the repo); each answer is streamed and read only as far as the bytes asked for (a proxy that
ignores Range, a Content-Length of 10 GB); 429 and 5xx answers are retried with backoff (Retry-After honoured); and
the whole read runs under one deadline ($VRAMCALC_TIMEOUT seconds, default 120; HF_HUB_DOWNLOAD_TIMEOUT bounds each
read), so a server that drips one byte every few seconds cannot hang us. A token is sent to the endpoint's host only
(readers/http_client.py drops it on a redirect elsewhere), never printed: no message here contains it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from vramcalc.errors import HubError, UsageError
from vramcalc.readers.paths import stays_inside

MAX_JSON_BYTES = 64 << 20  # a repo listing, config.json, an index (DeepSeek-V3's: ~9 MB)
DEADLINE_ENV = "VRAMCALC_TIMEOUT"
DEFAULT_DEADLINE = 120.0  # seconds for one model's Hub reads, all requests together
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 4  # per request: the first, then up to three retries
MAX_RETRY_WAIT = 30.0  # seconds: a longer Retry-After is not waited for
T = TypeVar("T")


def deadline_seconds() -> float:
    """$VRAMCALC_TIMEOUT: seconds one model's Hub reads may take in all (default 120)."""
    return _env_seconds(DEADLINE_ENV, DEFAULT_DEADLINE)


def _env_seconds(var: str, default: float) -> float:
    """A number of seconds from $var (`default` when unset); a usage error for anything else."""
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86_400:
        raise UsageError(f"{var}={raw[:40]!r} is not a number of seconds", f"set {var}={default:g}, or unset it")
    return value


def _total_from(headers: Any) -> int | None:
    """The whole file's length from a range answer: `Content-Range: bytes a-b/<total>` (the CDN's), else the Hub's
    `X-Linked-Size`; None when the server does not say (`*`)."""
    total = (headers.get("Content-Range") or "").rpartition("/")[2].strip()
    if total.isdigit() and len(total) < 19:
        return int(total)
    linked = (headers.get("X-Linked-Size") or "").strip()
    return int(linked) if linked.isdigit() and len(linked) < 19 else None


class HubTransport:
    """GET a repo's files (whole, or a byte range) within one deadline, through readers/http_client.py."""

    def __init__(self, repo_id: str, revision: str | None, token: str | None, deadline: float | None = None) -> None:
        import sys

        from vramcalc import __version__
        from vramcalc.readers.http_client import Client, token_for

        self.repo_id, self.revision = repo_id, revision
        self.endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        token = token_for(token)
        # sent to the endpoint's host only: the client drops it on a redirect to the CDN (signed addresses)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.session = Client(f"vramcalc/{__version__}; python/{sys.version.split()[0]}")
        # seconds per read: huggingface_hub's download timeout (HF_HUB_DOWNLOAD_TIMEOUT, default 10); all the reads
        # of one model within one deadline
        self.timeout = _env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", 10.0)
        self.deadline_s = deadline if deadline is not None else deadline_seconds()
        self.ends = time.monotonic() + self.deadline_s
        self.cancelled = False

    def within_deadline(self, fn: Callable[[], T]) -> T:
        """fn() in a worker thread, waited for until the deadline: a server that stalls inside a read (headers
        dripped a byte at a time) is given up on even where no read of ours returns to check the clock."""
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = fn()
            except BaseException as e:  # handed to the caller's thread
                box["error"] = e

        worker = threading.Thread(target=work, name="vramcalc-hub", daemon=True)
        worker.start()
        worker.join(max(0.0, self.ends - time.monotonic()) + 1.0)
        if worker.is_alive():
            self.cancelled = True  # the worker stops at its next chunk; the process does not wait for it
            raise self._too_slow()
        if "error" in box:
            raise box["error"]
        value: T = box["value"]
        return value

    def _too_slow(self) -> HubError:
        return HubError(f"reading {self.repo_id} from {self.endpoint} took longer than {self.deadline_s:g} s (the "
                        "server answers too slowly or stalls)", f"retry later, or allow more time with "
                        f"{DEADLINE_ENV}=<seconds>")

    def _left(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0 or self.cancelled:
            raise self._too_slow()
        return left

    def _url(self, name: str) -> str:
        """hf_hub_url's address for a file of the repo, after checking that the name stays inside it."""
        from urllib.parse import quote

        if not stays_inside(name):
            raise HubError(f"{self.repo_id}: refusing to request {name[:200]!r}, a path outside the repo",
                           "report it to the repo's owner")
        return f"{self.endpoint}/{self.repo_id}/resolve/{quote(self.revision or 'main', safe='')}/{quote(name)}"

    def _request(self, url: str, name: str | None, start: int | None = None, end: int | None = None,
                 limit: int = MAX_JSON_BYTES, attempts: int = MAX_ATTEMPTS) -> tuple[bytes, int | None]:
        """GET `url` (bytes start..end inclusive when given), streamed and read no further than asked (or `limit`
        bytes for a whole file): (the bytes, the whole file's length where the answer says it). 429 and 5xx are
        retried with backoff; every wait and every chunk is checked against the deadline."""
        headers = dict(self.headers)
        if start is not None:
            headers["Range"] = f"bytes={start}-{end}"
        want = (end - start + 1) if start is not None and end is not None else limit + 1
        attempt = 0
        while True:
            left = self._left()
            try:
                with self.session.stream(url, headers, timeout=min(self.timeout, left)) as r:
                    status = r.status_code
                    if status in RETRY_STATUSES and attempt + 1 < attempts:
                        wait = self._retry_wait(r.headers.get("Retry-After"), attempt)
                        if wait is not None:
                            attempt += 1
                            time.sleep(wait)
                            continue
                    if status >= 400:
                        raise self._status_error(status, r.reason_phrase, r.headers, name, attempt + 1)
                    declared = r.headers.get("Content-Length", "").strip()
                    length = int(declared) if declared.isdigit() and len(declared) < 19 else None
                    if start is None and length is not None and length > limit:
                        raise self._too_large(name, limit)
                    # a 200 to a range request: the server ignored Range and sends the file from byte 0
                    skip = start if start and status != 206 else 0
                    data = self._read_body(r, skip, want)
                    if start is None and len(data) > limit:
                        raise self._too_large(name, limit)
                    total = _total_from(r.headers) if status == 206 else len(data) if start is None else length
                    return data, total
            except HubError:
                raise
            except Exception as e:  # transport errors: one clear message
                raise self._error(e) from None

    def _too_large(self, name: str | None, limit: int) -> HubError:
        return HubError(f"{self._where(name)} is larger than {limit >> 20} MiB, more than vramcalc reads",
                        "report it to the repo's owner")

    def _read_body(self, r: Any, skip: int, want: int) -> bytes:
        out = bytearray()
        for chunk in r.iter_bytes():
            self._left()
            if skip:
                if len(chunk) <= skip:
                    skip -= len(chunk)
                    continue
                chunk, skip = chunk[skip:], 0
            out += chunk
            if len(out) >= want:
                break
        return bytes(out[:want])

    def _retry_wait(self, retry_after: str | None, attempt: int) -> float | None:
        """Seconds to wait before retrying: Retry-After (seconds or an HTTP date) where given, else 0.5, 1, 2 s;
        None when that would run past the deadline or past MAX_RETRY_WAIT (the error is then given at once)."""
        wait = 0.5 * 2 ** attempt
        if retry_after:
            text = retry_after.strip()
            if text.isdigit() and len(text) < 10:
                wait = float(text)
            else:
                from email.utils import parsedate_to_datetime

                try:
                    wait = parsedate_to_datetime(text).timestamp() - time.time()
                except (TypeError, ValueError, IndexError, OverflowError):
                    pass
        wait = max(0.0, float(wait))
        if wait > MAX_RETRY_WAIT or wait >= self.ends - time.monotonic():
            return None
        return wait

    def _where(self, name: str | None) -> str:
        return f"{self.repo_id}/{name}" if name else f"the Hub's listing of {self.repo_id}"

    def _status_error(self, status: int, reason: str, headers: Any, name: str | None, tries: int) -> HubError:
        """What the server said, named: not found, gated, a missing file, rate limiting, a server error."""
        code = (headers.get("X-Error-Code") or "").strip()
        rid = self.repo_id
        said = f"{status} {reason}".strip()
        if code == "GatedRepo" or status == 403:
            return HubError(f"{rid} is gated or private and this token has no access",
                            "accept the license on the model page, then pass --token or set HF_TOKEN")
        if code == "RevisionNotFound":
            return HubError(f"{rid} has no revision {self.revision!r}", "check the branch, tag or commit")
        if name is not None and (code == "EntryNotFound" or status == 404 and code != "RepoNotFound"):
            return HubError(f"{rid} has no file {name!r} (the Hub answered {said})",
                            "the repo's listing or index names a file it does not hold: report it to the repo's owner")
        if code in ("RepoNotFound", "RepositoryNotFound") or status in (401, 404):
            return HubError(f"{rid} was not found on {self.endpoint} (or it is private)",
                            "check the repo id; for a private repo pass --token or set HF_TOKEN")
        after = f"{tries} tries" if tries > 1 else "no retry: its Retry-After is past the deadline"
        if status == 429:
            return HubError(f"the Hub is rate-limiting requests for {rid} (429, {after})",
                            "wait a minute and retry; a token (HF_TOKEN) raises the limit")
        if status >= 500:
            return HubError(f"the Hub answered {said} for {self._where(name)} ({after})",
                            "the server failed: retry later")
        return HubError(f"the Hub answered {said} for {self._where(name)}", "retry later, or report it")

    def _error(self, e: Exception) -> HubError:
        name = type(e).__name__
        rid = self.repo_id
        from http.client import HTTPException, RemoteDisconnected

        from vramcalc.readers.http_client import TooManyRedirects

        if isinstance(e, TooManyRedirects):
            return HubError(f"the Hub's answers for {rid} redirect too many times", "retry later, or report it")
        if isinstance(e, TimeoutError):
            return HubError(f"the Hub did not answer in time for {rid}", "retry, or check your connection")
        import ssl

        if isinstance(e, ssl.SSLError):
            reason = getattr(e, "verify_message", None) or getattr(e, "reason", None) or name
            return HubError(f"the TLS connection to {self.endpoint} failed ({str(reason)[:120]})",
                            "behind a proxy that re-signs traffic, point SSL_CERT_FILE or REQUESTS_CA_BUNDLE at its "
                            "certificate")
        if isinstance(e, HTTPException | ValueError) and not isinstance(e, RemoteDisconnected):
            return HubError(f"the Hub's answer for {rid} broke off or is malformed ({name})", "retry later")
        if isinstance(e, OSError | RemoteDisconnected):
            return HubError(f"cannot reach {self.endpoint}", "check your connection, or set HF_HUB_OFFLINE=1 "
                            "to use the local cache")
        return HubError(f"reading {rid} from the Hub failed ({name})", "retry, or set VRAMCALC_DEBUG=1 for details")

    def _get(self, name: str, start: int | None = None, end: int | None = None) -> bytes:
        return self._get_sized(name, start, end)[0]

    def _get_sized(self, name: str, start: int | None = None, end: int | None = None) -> tuple[bytes, int | None]:
        """The bytes, and the whole file's length where the answer says it (a range answer's Content-Range)."""
        return self._request(self._url(name), name, start, end)
