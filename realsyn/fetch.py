"""A safe image fetcher for crawler-fed input (SSRF-hardened, bounded, polite).

* http/https only; every hop (redirects included) resolves the host and refuses loopback,
  private, link-local (cloud metadata: 169.254.169.254, fd00:ec2::254), multicast, reserved and
  unspecified addresses unless ``allowed_networks`` lists them; the connection goes to the
  vetted IP (no second DNS lookup an attacker could rebind), with SNI/Host set to the name.
* connect/read timeouts, a maximum body size (checked on Content-Length and while streaming),
  at most ``max_redirects`` hops.
* retries only on named transient failures (connect/read timeouts, reset connections, HTTP
  429/502/503/504) with exponential backoff, at most ``retries`` times.
* a real User-Agent; ``X-Robots-Tag: noai`` / ``noimageai`` responses are not used.
* ``fetch_many`` runs at most ``concurrency`` requests at once.

Failures are returned as a :class:`FetchResult` with a reason, never raised.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

DEFAULT_USER_AGENT = "realsyn-image-fetcher/0.1 (+https://github.com/realsyn; dataset research)"
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}
TRANSIENT_STATUS = {429, 502, 503, 504}


@dataclass(frozen=True)
class FetchParams:
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_bytes: int = 16 * 1024 * 1024
    max_redirects: int = 5
    retries: int = 2
    backoff_seconds: float = 0.5
    concurrency: int = 16
    user_agent: str = DEFAULT_USER_AGENT
    allowed_networks: tuple[str, ...] = ()  # CIDRs exempt from the address block (a mirror)
    honor_noai: bool = True


@dataclass
class FetchResult:
    url: str
    data: bytes | None = None
    status: int | None = None
    final_url: str | None = None
    content_type: str | None = None
    error: str | None = None
    detail: str | None = None
    attempts: int = 0


class _Refused(Exception):
    def __init__(
        self, reason: str, detail: str, transient: bool = False, status: int | None = None
    ):
        super().__init__(detail)
        self.reason, self.detail, self.transient, self.status = reason, detail, transient, status


Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass
class SafeFetcher:
    params: FetchParams = field(default_factory=FetchParams)
    resolver: Resolver = system_resolver

    def __post_init__(self) -> None:
        self._allowed = [
            ipaddress.ip_network(n, strict=False) for n in self.params.allowed_networks
        ]

    # --- address policy ------------------------------------------------------------------
    def address_refusal(self, address: str) -> str | None:
        """Why ``address`` may not be contacted, or None."""
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self._allowed):
            return None
        if ip in METADATA_ADDRESSES:
            return "cloud metadata address"
        for attr in (
            "is_loopback",
            "is_unspecified",
            "is_link_local",
            "is_multicast",
            "is_private",
            "is_reserved",
        ):
            if getattr(ip, attr):
                return attr[3:].replace("_", "-") + " address"
        return None

    def _vetted_address(self, host: str, port: int) -> str:
        try:
            addresses = self.resolver(host, port)
        except (socket.gaierror, UnicodeError) as err:
            raise _Refused("dns_failed", f"{host}: {err}") from err
        if not addresses:
            raise _Refused("dns_failed", f"{host}: no address")
        for address in addresses:
            why = self.address_refusal(address)
            if why:  # one bad address is enough to refuse: the client might pick it
                raise _Refused("blocked_address", f"{host} -> {address} ({why})")
        return addresses[0]

    # --- one request -----------------------------------------------------------------------
    def _request_once(self, url: str) -> tuple[int, dict, bytes | None, str | None]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise _Refused("unsupported_scheme", f"{parts.scheme or 'no'} scheme: {url[:100]}")
        host = parts.hostname
        if not host:
            raise _Refused("bad_url", url[:200])
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self._vetted_address(host, port)
        timeout = urllib3.Timeout(
            connect=self.params.connect_timeout, read=self.params.read_timeout
        )
        common = {"port": port, "timeout": timeout, "retries": False, "maxsize": 1}
        if parts.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                server_hostname=host,
                assert_hostname=host,
                cert_reqs="CERT_REQUIRED",
                **common,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, **common)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = host if parts.port is None else f"{host}:{parts.port}"
        try:
            resp = pool.urlopen(
                "GET",
                path,
                headers={
                    "Host": host_header,
                    "User-Agent": self.params.user_agent,
                    "Accept": "image/*,*/*;q=0.5",
                },
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
            try:
                headers = {k.lower(): v for k, v in resp.headers.items()}
                if resp.status != 200:
                    return resp.status, headers, None, None
                declared = headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.params.max_bytes:
                    raise _Refused(
                        "too_large", f"Content-Length {declared} > {self.params.max_bytes}"
                    )
                body = bytearray()
                for chunk in resp.stream(64 * 1024):
                    body += chunk
                    if len(body) > self.params.max_bytes:
                        raise _Refused("too_large", f"body over {self.params.max_bytes} bytes")
                return resp.status, headers, bytes(body), headers.get("content-type")
            finally:
                resp.release_conn()
        finally:
            pool.close()

    def _follow(self, url: str) -> FetchResult:
        current = url
        for _hop in range(self.params.max_redirects + 1):
            status, headers, body, ctype = self._request_once(current)
            if status in (301, 302, 303, 307, 308):
                location = headers.get("location")
                if not location:
                    raise _Refused(f"http_{status}", "redirect without Location", status=status)
                current = urljoin(current, location)
                continue
            if status in TRANSIENT_STATUS:
                raise _Refused(f"http_{status}", f"HTTP {status}", transient=True, status=status)
            if status != 200:
                raise _Refused(f"http_{status}", f"HTTP {status}", status=status)
            robots = headers.get("x-robots-tag", "").lower()
            if self.params.honor_noai and ("noai" in robots or "noimageai" in robots):
                raise _Refused("robots_noai", f"X-Robots-Tag: {robots}")
            return FetchResult(url, data=body, status=status, final_url=current, content_type=ctype)
        raise _Refused("too_many_redirects", f"more than {self.params.max_redirects} redirects")

    def fetch(self, url: str) -> FetchResult:
        """Fetch one URL; failures come back as ``error``/``detail``."""
        attempts = 0
        while True:
            attempts += 1
            try:
                result = self._follow(url)
                result.attempts = attempts
                return result
            except _Refused as err:
                failure = FetchResult(
                    url, error=err.reason, detail=err.detail, status=err.status, attempts=attempts
                )
                transient = err.transient
            except (ConnectTimeoutError, ReadTimeoutError) as err:
                failure = FetchResult(
                    url, error="timeout", detail=str(err)[:200], attempts=attempts
                )
                transient = True
            except (NewConnectionError, ProtocolError) as err:
                failure = FetchResult(
                    url, error="connection_failed", detail=str(err)[:200], attempts=attempts
                )
                transient = True
            except SSLError as err:
                failure = FetchResult(
                    url, error="tls_error", detail=str(err)[:200], attempts=attempts
                )
                transient = False
            except (LocationParseError, ValueError) as err:
                failure = FetchResult(
                    url, error="bad_url", detail=str(err)[:200], attempts=attempts
                )
                transient = False
            if not transient or attempts > self.params.retries:
                return failure
            time.sleep(self.params.backoff_seconds * 2 ** (attempts - 1))

    def fetch_many(
        self, urls: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> list[FetchResult]:
        """Fetch ``urls`` concurrently, results in input order; ``progress(done, total)`` after each."""
        if not urls:
            return []
        results = []
        with ThreadPoolExecutor(max_workers=max(1, self.params.concurrency)) as pool:
            for done, result in enumerate(pool.map(self.fetch, urls), 1):
                results.append(result)
                if progress is not None:
                    progress(done, len(urls))
        return results
