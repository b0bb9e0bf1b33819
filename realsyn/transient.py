"""Which errors are transient (worth retrying the whole step) and which are not.

Retry only named transient I/O failures: network resets and timeouts, and object-store
throttling or 5xx answers, found anywhere in the exception's cause chain (storage errors wrap
botocore's). A bad record, a missing partition, a schema error or a bug is never retried.
"""

from __future__ import annotations

TRANSIENT_S3_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
    }
)
_BOTOCORE_TRANSIENT = (
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ProxyConnectionError",
)


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` or one of its causes is a transient network/object-store failure."""
    for err in _chain(exc):
        if isinstance(err, ConnectionError | TimeoutError):  # resets, refused, broken pipe
            return True
        name = type(err).__name__
        if name in _BOTOCORE_TRANSIENT:
            return True
        response = getattr(err, "response", None)
        if name == "ClientError" and isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in TRANSIENT_S3_CODES or (isinstance(status, int) and status >= 500):
                return True
    return False
