"""Builders for scripts, matchers and faults: the JSON form of server/script/script.proto.

Each builder returns a plain dict (bytes base64-encoded, durations as "0.5s"), so a
script built here is the same data a `--script=FILE.json` holds:

    from fake_tcp_server import script as s
    fake.set_script(s.script(
        s.rule(s.equals(b"PING"), b"PONG", name="ping"),
        s.rule(s.regex(r"GET (\\w+)"), s.rewrite("VALUE \\1"), name="get"),
        fallback=b"ERR",
    ))
"""

from __future__ import annotations

import base64
from typing import Any, Dict, Mapping, Optional, Sequence, Union

Json = Dict[str, Any]
# A response: bytes (sent as they are), `rewrite(...)`, `callback(...)` or None (no reply).
Reply = Union[bytes, str, None, Mapping[str, Any]]

_ACTIONS = (
    "none",
    "close",
    "close_without_reply",
    "reset",
    "half_close",
    "stall",
    "garbage_then_close",
)


def _b64(data: Union[bytes, str]) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(bytes(data)).decode("ascii")


def duration(seconds: Union[float, int, str]) -> str:
    """A google.protobuf.Duration in JSON: 0.25 -> "0.25s"; a string passes as it is."""
    if isinstance(seconds, str):
        return seconds
    if seconds < 0:
        raise ValueError(f"duration: {seconds} s is negative")
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


# --- matchers -------------------------------------------------------------------------


def _matcher(kind: str, value: Any, ignore_case: bool) -> Json:
    m: Json = {kind: value}
    if ignore_case:
        m["ignore_case"] = True
    return m


def equals(data: Union[bytes, str], ignore_case: bool = False) -> Json:
    """The whole message is `data`."""
    return _matcher("equals", _b64(data), ignore_case)


def prefix(data: Union[bytes, str], ignore_case: bool = False) -> Json:
    return _matcher("prefix", _b64(data), ignore_case)


def suffix(data: Union[bytes, str], ignore_case: bool = False) -> Json:
    return _matcher("suffix", _b64(data), ignore_case)


def contains(data: Union[bytes, str], ignore_case: bool = False) -> Json:
    return _matcher("contains", _b64(data), ignore_case)


def regex(pattern: str, ignore_case: bool = False) -> Json:
    """RE2 syntax, matching the whole message; its groups feed `rewrite`."""
    return _matcher("regex", pattern, ignore_case)


def byte_pattern(pattern: str) -> Json:
    """Hex bytes, "??" for any byte, a final "*" for any rest: "47 45 ?? *"."""
    return {"byte_pattern": pattern}


def any_message() -> Json:
    return {"any": True}


def all_of(*matchers: Mapping[str, Any]) -> Json:
    return {"all_of": {"matchers": [dict(m) for m in matchers]}}


def any_of(*matchers: Mapping[str, Any]) -> Json:
    return {"any_of": {"matchers": [dict(m) for m in matchers]}}


def not_(matcher: Mapping[str, Any]) -> Json:
    return {"not": dict(matcher)}


# --- responses, faults, rules ---------------------------------------------------------


def rewrite(template: str) -> Json:
    """A reply with the rule's regex groups substituted: rewrite("VALUE \\1\\n")."""
    return {"rewrite": template}


def callback(name: str) -> Json:
    """A reply made by a C++ callback registered under `name` (in-process fakes only)."""
    return {"callback": name}


def response(reply: Reply) -> Json:
    if reply is None:
        return {"none": True}
    if isinstance(reply, Mapping):
        return dict(reply)
    if isinstance(reply, (bytes, bytearray, str)):
        return {"bytes": _b64(reply)}
    raise TypeError(f"response: {reply!r} is not bytes, str, None or a response dict")


def fault(
    delay: Optional[float] = None,
    slice_bytes: int = 0,
    slice_pause: Optional[float] = None,
    bytes_per_second: int = 0,
    send_only: Optional[int] = None,
    action: str = "none",
    action_delay: Optional[float] = None,
    garbage_bytes: int = 0,
    probability: Optional[float] = None,
) -> Json:
    """A fault on replies: a delay before, pieces of `slice_bytes` with `slice_pause`
    between, a rate, only the first `send_only` bytes, then an action: "close",
    "close_without_reply", "reset", "half_close", "stall" or "garbage_then_close"."""
    if action not in _ACTIONS:
        raise ValueError(f"fault: action {action!r} is not one of {', '.join(_ACTIONS)}")
    f: Json = {}
    if probability is not None:
        f["probability"] = probability
    if delay is not None:
        f["delay"] = duration(delay)
    if slice_bytes:
        f["slice_bytes"] = slice_bytes
    if slice_pause is not None:
        f["slice_pause"] = duration(slice_pause)
    if bytes_per_second:
        f["bytes_per_second"] = bytes_per_second
    if send_only is not None:
        f["send_only"] = send_only
    if action != "none":
        f["action"] = action.upper()
    if action_delay is not None:
        f["action_delay"] = duration(action_delay)
    if garbage_bytes:
        f["garbage_bytes"] = garbage_bytes
    return f


def rule(
    when: Mapping[str, Any],
    *replies: Reply,
    name: str = "",
    fault: Optional[Mapping[str, Any]] = None,  # pylint: disable=redefined-outer-name
    max_matches: int = 0,
    cycle: bool = False,
) -> Json:
    """A rule: messages `when` accepts get `replies` in turn (the last repeats, or they
    cycle with `cycle`); no replies means no answer."""
    r: Json = {"when": dict(when), "responses": [response(x) for x in replies or (None,)]}
    if name:
        r["name"] = name
    if fault:
        r["fault"] = dict(fault)
    if max_matches:
        r["max_matches"] = max_matches
    if cycle:
        r["after_last"] = "CYCLE"
    return r


def script(
    *rules: Mapping[str, Any],
    fallback: Union[bytes, str, None, bool] = True,
    seed: Optional[int] = None,
) -> Json:
    """A script: `rules` in order; a message no rule matches gets `fallback` (True: the
    fake's default "Received"; bytes: those; None: nothing)."""
    s: Json = {"rules": [dict(r) for r in rules]}
    if fallback is None:
        s["fallback"] = {"none": True}
    elif fallback is not True:
        if fallback is False:
            raise ValueError("script: fallback is True, bytes, str or None")
        s["fallback"] = {"reply": _b64(fallback)}
    if seed is not None:
        s["seed"] = seed
    return s


def as_script(value: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]]) -> Json:
    """A script dict from a script dict or a list of rules."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (list, tuple)):
        return script(*value)
    raise TypeError(f"a script is a dict or a list of rules, not {type(value).__name__}")
