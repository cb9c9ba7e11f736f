"""Fetching a feed or a page over http(s) for ingest: only http and https, a bounded number of
redirects (each checked again), a timeout, and a size cap read as the body streams in, so a slow,
endless or misdirected response costs one error line naming the URL, never the run."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from rag.settings import IngestSettings

#: Sent with every fetch, so a site's logs say what asked.
USER_AGENT = "whosaid/0.1 (+https://github.com/whosaid; news question answering)"


@dataclass(frozen=True)
class Fetched:
    url: str  #: after redirects
    body: bytes
    content_type: str  #: the media type, lower case, without parameters ("" when not sent)
    etag: str = ""
    last_modified: str = ""
    not_modified: bool = False  #: a conditional fetch found nothing new (HTTP 304): ``body`` is empty


class FetchError(Exception):
    """A fetch that failed; the message is one line, without the URL (the caller names it)."""


def is_url(text: str) -> bool:
    """An http(s) URL with a host: what ingest and watch fetch rather than open as a path."""
    parts = urlsplit(text.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in text.strip())


def client(limits: IngestSettings | None = None):
    """An HTTP client for many fetches (a URL list's): making one loads the system's certificates,
    which took 70% of a fetch from 127.0.0.1 when each fetch made its own."""
    import httpx

    return httpx.Client(timeout=httpx.Timeout((limits or IngestSettings()).fetch_timeout), follow_redirects=False, trust_env=False)


def fetch(url: str, limits: IngestSettings | None = None, *, etag: str = "", last_modified: str = "", using=None) -> Fetched:
    """The body at ``url``, following at most ``limits.max_redirects`` redirects; raises
    :class:`FetchError` for anything but a 2xx (or a 304 to a conditional fetch) within the caps.
    ``using``: a :func:`client` to fetch with (else one is made for this fetch)."""
    import httpx

    limits = limits or IngestSettings()
    headers = {"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, application/xml, text/xml, text/html;q=0.9, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + 3 * limits.fetch_timeout
    current = url
    try:
        with (nullcontext(using) if using is not None else client(limits)) as http:
            for _ in range(limits.max_redirects + 1):
                if not is_url(current):
                    raise FetchError(f"only http and https URLs are fetched, not '{current[:200]}'")
                with http.stream("GET", current, headers=headers) as response:
                    if response.status_code == 304 and (etag or last_modified):
                        return Fetched(current, b"", "", etag, last_modified, not_modified=True)
                    if response.status_code in (301, 302, 303, 307, 308):
                        location = response.headers.get("location", "")
                        if not location:
                            raise FetchError(f"HTTP {response.status_code} redirect without a Location")
                        current = urljoin(current, location)
                        continue
                    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    tags = (response.headers.get("etag", ""), response.headers.get("last-modified", ""))
                    if not 200 <= response.status_code < 300:
                        raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limits.max_fetch_bytes:
                        raise FetchError(_over(int(declared), limits))
                    body = bytearray()
                    for piece in response.iter_bytes():
                        body += piece
                        if len(body) > limits.max_fetch_bytes:
                            raise FetchError(_over(len(body), limits, more=True))
                        if time.monotonic() > deadline:  # a server dripping bytes resets httpx's read timeout
                            raise FetchError(f"the response took over {limits.fetch_timeout * 3:g} s "
                                             "(3 x WHOSAID_INGEST__FETCH_TIMEOUT)")
                    return Fetched(current, bytes(body), ctype, *tags)
            raise FetchError(f"more than {limits.max_redirects} redirects (WHOSAID_INGEST__MAX_REDIRECTS)")
    except httpx.TimeoutException:
        raise FetchError(f"no answer within {limits.fetch_timeout:g} s (WHOSAID_INGEST__FETCH_TIMEOUT)") from None
    except httpx.HTTPError as e:
        raise FetchError(f"cannot fetch: {_reason(e)}") from None


def _over(size: int, limits: IngestSettings, more: bool = False) -> str:
    return (f"response is {'over ' if more else ''}{size:,} bytes, over the {limits.max_fetch_bytes:,} byte cap "
            "(WHOSAID_INGEST__MAX_FETCH_BYTES)")


def _reason(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    return " ".join(text.split())[:200]
