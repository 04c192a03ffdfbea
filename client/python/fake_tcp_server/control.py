"""A client of a running fake's control API (HTTP/1.1 + JSON, server/control/README.md).

Standard library only. Every operation is one HTTP request; waits block on the server (no
polling) and, when their deadline passes, raise `WaitTimeout` with what the server saw.
Errors raise `ControlError` carrying the server's JSON error: its code ("NOT_FOUND", ...)
and a message that names the operation and its inputs.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import urllib.parse
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from fake_tcp_server import script as script_lib

Data = Union[bytes, str]

# A wait's answer comes at its deadline; the HTTP request may take this much longer.
_WAIT_SLACK_SECONDS = 10.0


class ControlError(Exception):
    """The control API answered an error, or could not be reached.

    `code` is named like absl::StatusCode ("INVALID_ARGUMENT", "NOT_FOUND",
    "UNAUTHENTICATED", "FAILED_PRECONDITION", ...; "UNAVAILABLE" when the API could not
    be reached), `http_status` the HTTP status (0 when there was none), `operation` the
    request ("POST /v1/connections/7/send").
    """

    def __init__(self, operation: str, code: str, message: str, http_status: int = 0):
        # The server's messages name the operation already.
        text = message if message.startswith(operation) else f"{operation}: {message}"
        super().__init__(f"{text} ({code})")
        self.operation = operation
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclasses.dataclass(frozen=True)
class Entry:
    """One entry of the fake's log: a message or a connection event."""

    sequence: int
    # "accepted", "received", "sent", "peer_closed", "reset", "server_closed", ...
    kind: str
    connection: int
    peer: str
    data: bytes
    # When, in RFC 3339, and in seconds since the log began (start or the last clear).
    time: str
    offset_seconds: float
    # Why, for closes and faults; the rule that answered, for received messages.
    detail: str

    @staticmethod
    def from_json(j: Mapping[str, Any]) -> "Entry":
        return Entry(
            sequence=int(j.get("sequence", 0)),
            kind=j.get("kind", ""),
            connection=int(j.get("connection", 0)),
            peer=j.get("peer", ""),
            data=base64.b64decode(j.get("bytes", "")),
            time=j.get("time", ""),
            offset_seconds=float(j.get("offset_seconds", 0.0)),
            detail=j.get("detail", ""),
        )


@dataclasses.dataclass(frozen=True)
class Connection:
    """An open connection, as the status reports it."""

    id: int
    peer: str
    # "open", "peer_closed", "half_closed" or "stalled".
    state: str
    bytes_received: int
    bytes_sent: int
    messages_received: int
    pending_output: int

    @staticmethod
    def from_json(j: Mapping[str, Any]) -> "Connection":
        return Connection(
            id=int(j.get("id", 0)),
            peer=j.get("peer", ""),
            state=j.get("state", ""),
            bytes_received=int(j.get("bytes_received", 0)),
            bytes_sent=int(j.get("bytes_sent", 0)),
            messages_received=int(j.get("messages_received", 0)),
            pending_output=int(j.get("pending_output", 0)),
        )


@dataclasses.dataclass(frozen=True)
class Status:
    """What `GET /v1/status` answers; `raw` holds the whole JSON answer."""

    # "accepting", "paused", "refusing" or "stopped".
    listener: str
    address: str
    port: int
    health_address: str
    connections: List[Connection]
    # Counters since start or the last clear: "received", "sent", "accepted", "dropped",
    # "open", "max_events", "max_bytes", "last_sequence".
    log: Dict[str, int]
    # The first 1000 rules that never matched; unused_rules_not_shown counts the rest.
    unused_rules: List[str]
    unused_rules_not_shown: int
    # Connections open at once (lowered to fit the descriptor limit), and whether that
    # many are open: a new one is then closed at once (health stays SERVING).
    max_connections: int
    at_capacity: bool
    raw: Dict[str, Any]

    @staticmethod
    def from_json(j: Mapping[str, Any]) -> "Status":
        return Status(
            listener=j.get("listener", ""),
            address=j.get("address", ""),
            port=int(j.get("port", 0)),
            health_address=j.get("health_address", ""),
            connections=[Connection.from_json(c) for c in j.get("connections", [])],
            log={k: int(v) for k, v in j.get("log", {}).items()},
            unused_rules=list(j.get("unused_rules", [])),
            unused_rules_not_shown=int(j.get("unused_rules_not_shown", 0)),
            max_connections=int(j.get("max_connections", 0)),
            at_capacity=bool(j.get("at_capacity", False)),
            raw=dict(j),
        )


@dataclasses.dataclass(frozen=True)
class LogPage:
    entries: List[Entry]
    # Pass as `after` to read on without reading an entry twice.
    next_after: int
    # More entries matched than the limit let through.
    more: bool
    # Entries the log's caps dropped before they could be read.
    dropped: int


@dataclasses.dataclass(frozen=True)
class WaitResult:
    """A wait's answer: whether it held, what it was for, what was seen."""

    satisfied: bool
    waited_for: str
    # The entry that satisfied a message or close wait.
    event: Optional[Entry]
    # The counters when it ended, and the last entries.
    seen: Dict[str, int]
    last_entries: List[Entry]
    waited: str
    # Why it ended unsatisfied before its deadline ("the server stopped").
    ended: str

    @staticmethod
    def from_json(j: Mapping[str, Any]) -> "WaitResult":
        event = j.get("event")
        return WaitResult(
            satisfied=bool(j.get("satisfied", False)),
            waited_for=j.get("waited_for", ""),
            event=Entry.from_json(event) if event and event.get("sequence") else None,
            seen={k: int(v) for k, v in j.get("seen", {}).items()},
            last_entries=[Entry.from_json(e) for e in j.get("last_entries", [])],
            waited=j.get("waited", ""),
            ended=j.get("ended", ""),
        )

    def describe(self) -> str:
        """Says what the wait was for and what was seen, for a failure message."""
        seen = self.seen
        lines = [
            f"waited {self.waited or '?'} for {self.waited_for}"
            + (f" ({self.ended})" if self.ended else ""),
            f"seen: {seen.get('received', 0)} received, {seen.get('sent', 0)} sent, "
            f"{seen.get('accepted', 0)} accepted, {seen.get('open', 0)} open",
        ]
        if self.last_entries:
            lines.append("last entries:")
            for e in self.last_entries:
                lines.append(f"  #{e.sequence} connection {e.connection} {e.kind} {e.data!r}")
        return "\n".join(lines)


class WaitTimeout(AssertionError):
    """A wait's deadline passed before its condition held (an assertion failure in a
    test). `result` is the server's answer: what it waited for and what it saw."""

    def __init__(self, result: WaitResult):
        super().__init__(result.describe())
        self.result = result


def _data_fields(data: Data) -> Dict[str, Any]:
    if isinstance(data, str):
        return {"text": data}
    if isinstance(data, (bytes, bytearray, memoryview)):
        return {"data": base64.b64encode(bytes(data)).decode("ascii")}
    raise TypeError(f"data must be bytes or str, not {type(data).__name__}")


class ControlClient:
    """Drives one running fake through its control API.

    `url` is "http://127.0.0.1:PORT" and `token` the bearer token, both from the fake's
    `--control_address_file` (`ControlClient.from_address_file(path)`). `timeout` bounds
    every request that is not a wait (seconds).
    """

    def __init__(self, url: str, token: str, timeout: float = 30.0):
        self._configure(url, token, timeout)

    def _configure(self, url: str, token: str, timeout: float) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError(f"ControlClient: url {url!r} is not http://host:port")
        self._host = parsed.hostname
        self._port = parsed.port
        self._token = token
        self._timeout = timeout
        self.url = url

    @staticmethod
    def from_address_file(path: str, timeout: float = 30.0) -> "ControlClient":
        with open(path, encoding="utf-8") as f:
            address = json.load(f)
        return ControlClient(address["url"], address["token"], timeout)

    # --- transport --------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> Dict[str, Any]:
        """One request; returns the JSON answer or raises ControlError."""
        operation = f"{method} {path}"
        if not self._port:
            raise ControlError(operation, "FAILED_PRECONDITION", "the fake is not started")
        payload = json.dumps(body).encode("utf-8") if body is not None else b""
        headers = {"Authorization": f"Bearer {self._token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(
            self._host, self._port, timeout=timeout or self._timeout
        )
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as e:
            raise ControlError(
                operation, "UNAVAILABLE", f"control API at {self.url}: {e}"
            ) from e
        finally:
            conn.close()
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {"message": raw.decode("utf-8", "replace").strip()}
        if response.status >= 400:
            raise ControlError(
                operation,
                answer.get("code", f"HTTP {response.status}"),
                answer.get("message", ""),
                response.status,
            )
        return answer

    # --- reading ----------------------------------------------------------------------

    def status(self) -> Status:
        return Status.from_json(self.call("GET", "/v1/status"))

    def log(
        self,
        after: int = 0,
        limit: int = 0,
        connection: int = 0,
        direction: str = "",
        kinds: Sequence[str] = (),
        wait: Optional[float] = None,
    ) -> LogPage:
        """One page of the log after the cursor `after` (filtered); with `wait` (seconds)
        it blocks until an entry comes."""
        query: Dict[str, Any] = {"after": after}
        if limit:
            query["limit"] = limit
        if connection:
            query["connection"] = connection
        if direction:
            query["direction"] = direction
        if kinds:
            query["kind"] = ",".join(kinds)
        if wait is not None:
            query["wait"] = script_lib.duration(wait)
        j = self.call(
            "GET",
            "/v1/log?" + urllib.parse.urlencode(query),
            timeout=None if wait is None else wait + _WAIT_SLACK_SECONDS,
        )
        return LogPage(
            entries=[Entry.from_json(e) for e in j.get("entries", [])],
            next_after=int(j.get("next_after", after)),
            more=bool(j.get("more", False)),
            dropped=int(j.get("dropped", 0)),
        )

    def entries(
        self, connection: int = 0, direction: str = "", kinds: Sequence[str] = ()
    ) -> Iterator[Entry]:
        """Every entry now in the log (filtered), page by page."""
        after = 0
        while True:
            page = self.log(after=after, connection=connection, direction=direction, kinds=kinds)
            yield from page.entries
            if not page.more:
                return
            after = page.next_after

    def messages(self, connection: int = 0) -> List[bytes]:
        """The messages the fake received (on one connection when given), in order."""
        return [e.data for e in self.entries(connection=connection, direction="received")]

    def sent(self, connection: int = 0) -> List[bytes]:
        """What the fake sent (replies, pushes), in order."""
        return [e.data for e in self.entries(connection=connection, direction="sent")]

    # --- waits (block on the server until the deadline) --------------------------------

    def wait(
        self, condition: Mapping[str, Any], timeout: float = 5.0, connection: int = 0
    ) -> WaitResult:
        """Waits for one condition of `WaitRequest` ({"messages": 3}, {"closed": True},
        ...); returns the result when it held, raises WaitTimeout when it did not."""
        body: Dict[str, Any] = dict(condition)
        body["timeout"] = script_lib.duration(timeout)
        if connection:
            body["connection"] = connection
        result = WaitResult.from_json(
            self.call("POST", "/v1/wait", body, timeout=timeout + _WAIT_SLACK_SECONDS)
        )
        if not result.satisfied:
            raise WaitTimeout(result)
        return result

    def wait_for_messages(
        self, count: int, timeout: float = 5.0, connection: int = 0
    ) -> WaitResult:
        """At least `count` messages received (on `connection`, when given)."""
        return self.wait({"messages": count}, timeout, connection)

    def wait_for_message(
        self, matcher: Mapping[str, Any], timeout: float = 5.0, connection: int = 0
    ) -> Entry:
        """A received message the matcher accepts (`script.equals(b"PING")`,
        `script.regex("GET .*")`, ...); returns it."""
        result = self.wait({"matching": dict(matcher)}, timeout, connection)
        assert result.event is not None, result
        return result.event

    def wait_for_connections(self, count: int, timeout: float = 5.0) -> WaitResult:
        """At least `count` connections accepted since start or the last clear."""
        return self.wait({"connections": count}, timeout)

    def wait_for_open_connections(self, count: int, timeout: float = 5.0) -> WaitResult:
        """At least `count` connections open at once."""
        return self.wait({"open_connections": count}, timeout)

    def wait_for_closed(self, connection: int, timeout: float = 5.0) -> WaitResult:
        """Connection `connection` closed, by either side."""
        return self.wait({"closed": True}, timeout, connection)

    # --- actions ----------------------------------------------------------------------

    def send(
        self, connection: int, data: Data, fault: Optional[Mapping[str, Any]] = None
    ) -> None:
        """Pushes bytes (or UTF-8 text) to one connection, with an optional fault
        (`script.fault(...)`)."""
        body = _data_fields(data)
        if fault:
            body["fault"] = dict(fault)
        self.call("POST", f"/v1/connections/{int(connection)}/send", body)

    def broadcast(self, data: Data, fault: Optional[Mapping[str, Any]] = None) -> int:
        """Pushes to every open connection; returns how many."""
        body = _data_fields(data)
        if fault:
            body["fault"] = dict(fault)
        return int(self.call("POST", "/v1/broadcast", body).get("connections", 0))

    def close(self, connection: int, reset: bool = False) -> None:
        """Closes one connection after what is queued for it (RST with `reset`)."""
        self.call("POST", f"/v1/connections/{int(connection)}/close", {"reset": reset})

    def close_all(self, reset: bool = False) -> int:
        """Closes every open connection now; returns how many."""
        answer = self.call("POST", "/v1/connections:close", {"reset": reset})
        return int(answer.get("connections", 0))

    def pause(self) -> None:
        """Stops accepting (new connects wait in the backlog); health says NOT_SERVING."""
        self.call("POST", "/v1/listener:pause")

    def resume(self) -> None:
        """Accepts again; health says SERVING."""
        self.call("POST", "/v1/listener:resume")

    def stop_accepting(self) -> None:
        """Closes the listener: new connects are refused; health says NOT_SERVING."""
        self.call("POST", "/v1/listener:stop")

    def set_script(self, script: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]]) -> None:
        """Replaces the rules (and fallback, seed) from the next message on: a script
        (`script.script(...)`, or a dict in the JSON form of server/script/script.proto), or a
        list of rules."""
        self.call("PUT", "/v1/script", {"script": script_lib.as_script(script)})

    def add_rules(self, *rules: Mapping[str, Any]) -> None:
        """Appends rules after the current ones."""
        self.call("POST", "/v1/script/rules", {"script": {"rules": [dict(r) for r in rules]}})

    def set_reply(
        self, data: Optional[Data], fault: Optional[Mapping[str, Any]] = None
    ) -> None:
        """Answers every message with `data` from the next one on (None: nothing);
        the script stops answering."""
        body: Dict[str, Any] = {"none": True} if data is None else _data_fields(data)
        if fault:
            body["fault"] = dict(fault)
        self.call("PUT", "/v1/reply", body)

    def clear(self) -> None:
        """Clears the log, match counts and near misses; connections stay open."""
        self.call("POST", "/v1/log:clear")

    def reset(self, keep_connections: bool = False) -> int:
        """The fake as it started: its starting script or reply, accepting, every
        connection closed (unless `keep_connections`), the log cleared. Returns how many
        connections it closed."""
        answer = self.call("POST", "/v1/reset", {"keep_connections": keep_connections})
        return int(answer.get("connections_closed", 0))

    def transcript(self) -> str:
        """The transcript of the log now (also written to the fake's --transcript)."""
        return self.call("POST", "/v1/transcript").get("text", "")

    def record(self) -> Dict[str, Any]:
        """Writes the recording (the fake's --record) now: {"path": ..., "rules": N}."""
        result = self.call("POST", "/v1/recording")
        return {"path": result.get("path", ""), "rules": int(result.get("rules", 0))}

    def shutdown(self) -> None:
        """Asks the fake to shut down as on SIGTERM (transcript and recording kept)."""
        self.call("POST", "/v1/shutdown")
