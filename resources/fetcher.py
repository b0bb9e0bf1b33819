"""ImageFetcherResource: the safe URL fetcher, off unless enabled (offline runs)."""

from __future__ import annotations

import dagster as dg

from realsyn.fetch import DEFAULT_USER_AGENT, FetchParams, SafeFetcher


class ImageFetcherResource(dg.ConfigurableResource):
    """Fetch URL images over http(s) with SSRF protection, timeouts, size cap and retries.

    ``enabled=False`` (the default) records URL images as ``not_fetched``: nothing leaves the
    machine. ``allowed_networks`` exempts CIDRs from the private-address block (e.g. a mirror
    inside your VPC); leave it empty for crawled URLs.
    """

    enabled: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_bytes: int = 16 * 1024 * 1024
    max_redirects: int = 5
    retries: int = 2
    concurrency: int = 16
    user_agent: str = DEFAULT_USER_AGENT
    allowed_networks: list[str] = []
    honor_noai: bool = True

    def get(self) -> SafeFetcher | None:
        if not self.enabled:
            return None
        return SafeFetcher(
            FetchParams(
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                max_bytes=self.max_bytes,
                max_redirects=self.max_redirects,
                retries=self.retries,
                concurrency=self.concurrency,
                user_agent=self.user_agent,
                allowed_networks=tuple(self.allowed_networks),
                honor_noai=self.honor_noai,
            )
        )
