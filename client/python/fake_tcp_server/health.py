"""Readiness from the fake's grpc.health.v1 endpoint, when grpcio is installed.

The two health messages are encoded here by hand (a request holds one string field, an
answer one enum field), so no generated code or protobuf runtime is needed: only grpcio.
"""

from __future__ import annotations

import time
from typing import Optional

try:  # grpcio is optional: without it the fake's control API tells readiness.
    import grpc
except ImportError:  # pragma: no cover - depends on the machine
    grpc = None  # type: ignore[assignment]

SERVING = 1
_STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def available() -> bool:
    """Whether grpcio is importable."""
    return grpc is not None


def _encode_request(service: str) -> bytes:
    data = service.encode("utf-8")
    if not data:
        return b""
    out = bytearray(b"\x0a")  # field 1, length-delimited
    n = len(data)
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + data


def _decode_status(data: bytes) -> int:
    """HealthCheckResponse.status (field 1, varint); 0 when absent."""
    i = 0
    while i < len(data):
        key = data[i]
        i += 1
        if key != 0x08:
            raise ValueError(f"HealthCheckResponse: unexpected field key {key:#x}")
        value, shift = 0, 0
        while True:
            b = data[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return value
    return 0


def status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, str(status))


def wait_until_serving(address: str, service: str = "", timeout: float = 30.0) -> None:
    """Blocks on Health/Watch until `service` is SERVING at `address` ("host:port").

    Raises TimeoutError saying what it last saw when the deadline passes first."""
    if grpc is None:
        raise RuntimeError("wait_until_serving: grpcio is not installed")
    deadline = time.monotonic() + timeout
    last: Optional[str] = None
    with grpc.insecure_channel(address) as channel:
        watch = channel.unary_stream(
            "/grpc.health.v1.Health/Watch",
            request_serializer=_encode_request,
            response_deserializer=_decode_status,
        )
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                for status in watch(service, timeout=left, wait_for_ready=True):
                    last = status_name(status)
                    if status == SERVING:
                        return
            except grpc.RpcError as e:
                last = f"{e.code().name}: {e.details()}"
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    break
    raise TimeoutError(
        f"health {address} service {service!r}: not SERVING after {timeout} s "
        f"(last: {last or 'never connected'})"
    )


def check(address: str, service: str = "", timeout: float = 10.0) -> str:
    """One Health/Check: "SERVING", "NOT_SERVING", ... (raises grpc.RpcError)."""
    if grpc is None:
        raise RuntimeError("check: grpcio is not installed")
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=_encode_request,
            response_deserializer=_decode_status,
        )
        return status_name(call(service, timeout=timeout, wait_for_ready=True))
