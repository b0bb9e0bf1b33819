from __future__ import annotations

import pytest

from realsyn.fetch import FetchParams, SafeFetcher
from tests.http_fixtures import http_server


@pytest.fixture
def server():
    with http_server() as s:
        yield s


def local_fetcher(**kw) -> SafeFetcher:
    """Allowed to reach 127.0.0.1 (the test server) and nothing else private."""
    params = {
        "allowed_networks": ("127.0.0.1/32",),
        "backoff_seconds": 0.01,
        "read_timeout": 0.5,
        **kw,
    }
    return SafeFetcher(FetchParams(**params))


def test_fetches_an_image_with_a_real_user_agent(server):
    base, handler = server
    result = local_fetcher().fetch(f"{base}/ok.jpg")
    assert result.error is None and result.status == 200
    assert result.data == handler.image and result.content_type == "image/jpeg"


def test_follows_redirects_and_revalidates_every_hop(server):
    base, _ = server
    assert local_fetcher().fetch(f"{base}/redirect").final_url.endswith("/ok.jpg")
    private = local_fetcher().fetch(f"{base}/redirect-private")
    assert private.error == "blocked_address" and "10.0.0.1" in private.detail
    metadata = local_fetcher().fetch(f"{base}/redirect-metadata")
    assert metadata.error == "blocked_address" and "169.254.169.254" in metadata.detail
    assert local_fetcher(max_redirects=3).fetch(f"{base}/loop").error == "too_many_redirects"


def test_default_fetcher_refuses_loopback_and_private_hosts(server):
    base, handler = server
    fetcher = SafeFetcher()
    assert fetcher.fetch(f"{base}/ok.jpg").error == "blocked_address"
    assert fetcher.fetch("http://localhost:9/x.jpg").error == "blocked_address"
    assert handler.counters == {}  # nothing reached the server
    rebinding = SafeFetcher(resolver=lambda host, port: ["93.184.216.34", "127.0.0.1"])
    assert rebinding.fetch("http://evil.example/x.jpg").error == "blocked_address"
    for address, why in [
        ("169.254.169.254", "metadata"),
        ("10.1.2.3", "private"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("fd00:ec2::254", "metadata"),
    ]:
        assert why in fetcher.address_refusal(address), address
    assert fetcher.address_refusal("93.184.216.34") is None


@pytest.mark.parametrize(
    "url,reason",
    [
        ("file:///etc/passwd", "unsupported_scheme"),
        ("ftp://host/x.jpg", "unsupported_scheme"),
        ("http:///nohost", "bad_url"),
        ("data:image/png;base64,xx", "unsupported_scheme"),
    ],
)
def test_non_http_urls_are_refused(url, reason):
    assert SafeFetcher().fetch(url).error == reason


def test_size_limit_on_declared_and_streamed_bodies(server):
    base, _ = server
    fetcher = local_fetcher(max_bytes=1000)
    assert fetcher.fetch(f"{base}/big").error == "too_large"
    assert fetcher.fetch(f"{base}/big-chunked").error == "too_large"


def test_noai_is_honoured(server):
    base, _ = server
    assert local_fetcher().fetch(f"{base}/noai").error == "robots_noai"
    assert local_fetcher(honor_noai=False).fetch(f"{base}/noai").error is None


def test_retries_only_transient_failures_with_a_bound(server):
    base, handler = server
    flaky = local_fetcher(retries=2).fetch(f"{base}/flaky")
    assert flaky.error is None and flaky.attempts == 3
    busy = local_fetcher(retries=1).fetch(f"{base}/always-503")
    assert busy.error == "http_503" and busy.attempts == 2
    missing = local_fetcher(retries=3).fetch(f"{base}/missing")
    assert missing.error == "http_404" and missing.attempts == 1
    slow = local_fetcher(retries=1, read_timeout=0.2).fetch(f"{base}/slow")
    assert slow.error == "timeout" and slow.attempts == 2


def test_fetch_many_keeps_order_and_bounds_concurrency(server):
    base, _ = server
    urls = [f"{base}/ok.jpg", f"{base}/missing", "file:///x", f"{base}/redirect"]
    calls: list[tuple[int, int]] = []
    results = local_fetcher(concurrency=2).fetch_many(urls, progress=lambda *a: calls.append(a))
    assert [r.error for r in results] == [None, "http_404", "unsupported_scheme", None]
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
