"""Light asyncio clients for the connection and streaming benchmarks (standard library only).

Thousands of connections in one process: every connection is an asyncio.Protocol (no task, no
StreamReader per connection) speaking just enough HTTP/1.1, WebSocket (RFC 6455, client side:
masked frames, ping answered with pong) and Server-Sent Events for chat-threads:

- ``http(...)``: one request on a fresh connection (``Connection: close``); answers
  ``(status, headers, body, sent_at)``.
- ``WSClient``: ``GET /v1/ws`` with the bearer token in the header; ``ready`` / ``op(...)``
  futures; events go to ``on_event`` (parsed) or, in record mode, are kept raw with their arrival
  time (``record``) so that the event loop does nothing but read while a measurement runs.
- ``SSEClient``: a request whose answer is an SSE stream (chunked); events go to ``on_event``.

Times are ``time.monotonic()`` (CLOCK_MONOTONIC, comparable across processes on Linux); an
arrival time is taken once per read from the socket, before any parsing.
"""

import asyncio
import base64
import json
import os
import time

now = time.monotonic


def split_base(base):
    """'http://127.0.0.1:8080' -> ('127.0.0.1', 8080)."""
    hostport = base.split("://", 1)[-1].rstrip("/")
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


def rss_kib(pid):
    """A process's resident set (VmRSS), KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, q):
    """Nearest-rank percentile of a list (q in 0..100); None for an empty list."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def dechunk(body):
    """Decodes a complete chunked body (what arrived of it, if it was cut short)."""
    out = bytearray()
    pos = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            break
        try:
            size = int(body[pos:eol].split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += body[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2
    return bytes(out)


def parse_head(raw):
    """(status, headers dict with lower-case names) of a response head (without the blank line)."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


def request_bytes(host, port, method, path, token=None, body=None, headers=(), close=True):
    if body is not None and not isinstance(body, (bytes, bytearray)):
        body = json.dumps(body).encode()
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    if close:
        head.append("Connection: close")
    if token:
        head.append(f"Authorization: Bearer {token}")
    if body is not None:
        head.append("Content-Type: application/json")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        head.append(f"Content-Length: {len(body or b'')}")
    head.extend(headers)
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


async def http(base, method, path, token=None, body=None, headers=(), timeout=60.0):
    """One request on its own connection; (status, headers, body bytes, monotonic time sent)."""
    host, port = split_base(base)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        data = request_bytes(host, port, method, path, token, body, headers)
        sent_at = now()
        writer.write(data)
        raw = await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    status, hdrs = parse_head(head)
    if "chunked" in hdrs.get("transfer-encoding", ""):
        rest = dechunk(rest)
    elif "content-length" in hdrs:
        rest = rest[: int(hdrs["content-length"])]
    return status, hdrs, rest, sent_at


async def http_json(base, method, path, token=None, body=None, ok=(200, 201), timeout=60.0):
    status, _, raw, _ = await http(base, method, path, token, body, timeout=timeout)
    if status not in ok:
        raise RuntimeError(f"{method} {path}: {status} {raw[:300]!r}")
    return json.loads(raw) if raw else None


class HandshakeError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


def _mask(payload, key):
    n = len(payload)
    if not n:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def ws_frame(opcode, payload):
    """A masked client frame."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    return head + key + _mask(payload, key)


class WSClient(asyncio.Protocol):
    """One WebSocket to chat-threads, authenticated by the Authorization header."""

    __slots__ = ("req", "buf", "upgraded", "transport", "opened", "ready", "closed", "pending",
                 "next_id", "on_event", "record", "on_record", "frag", "frag_op", "close_code",
                 "errors", "tag", "lost")

    def __init__(self, host, port, token, on_event=None, path="/v1/ws", tag=None):
        key = base64.b64encode(os.urandom(16)).decode()
        head = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
                "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if token:
            head.append(f"Authorization: Bearer {token}")
        self.req = ("\r\n".join(head) + "\r\n\r\n").encode()
        loop = asyncio.get_running_loop()
        self.buf = bytearray()
        self.upgraded = False
        self.transport = None
        self.opened = loop.create_future()
        self.ready = loop.create_future()
        self.closed = loop.create_future()
        self.pending = {}
        self.next_id = 0
        self.on_event = on_event
        self.record = None          # a list: every text frame kept as (arrival, payload bytes)
        self.on_record = None       # called with (self, payload) for each recorded frame
        self.frag = None
        self.frag_op = 0
        self.close_code = None      # (code, reason) of a close frame from the server
        self.errors = []            # `error` frames (parsed), when not recording
        self.tag = tag
        self.lost = None            # why the connection ended, when it did

    # asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.req)

    def connection_lost(self, exc):
        if self.lost is None:
            self.lost = repr(exc) if exc else "closed by the server"
        for fut in (self.opened, self.ready, self.closed):
            if not fut.done():
                if fut is self.closed:
                    fut.set_result(self.lost)
                else:
                    fut.set_exception(ConnectionError(f"connection ended: {self.lost}"))
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"connection ended: {self.lost}"))
        self.pending.clear()

    def data_received(self, data):
        at = now()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status, _ = parse_head(bytes(buf[:end]))
            if status != 101:
                self.lost = f"handshake answered {status}"
                if not self.opened.done():
                    self.opened.set_exception(HandshakeError(status, bytes(buf[end + 4:])))
                self.transport.close()
                return
            self.upgraded = True
            del buf[:end + 4]
            if not self.opened.done():
                self.opened.set_result(at)
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            hl = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2:pos + 4], "big")
                hl = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2:pos + 10], "big")
                hl = 10
            masked = b1 & 0x80
            if masked:
                hl += 4
            if size - pos < hl + n:
                break
            payload = bytes(buf[pos + hl:pos + hl + n])
            if masked:
                payload = _mask(payload, bytes(buf[pos + hl - 4:pos + hl]))
            pos += hl + n
            self._frame(b0 & 0x0F, b0 & 0x80, payload, at)
        if pos:
            del buf[:pos]

    def _frame(self, opcode, fin, payload, at):
        if opcode == 0:  # continuation
            if self.frag is None:
                return
            self.frag += payload
            if fin:
                payload, opcode = bytes(self.frag), self.frag_op
                self.frag = None
            else:
                return
        elif opcode in (1, 2) and not fin:
            self.frag, self.frag_op = bytearray(payload), opcode
            return
        if opcode == 1:
            if self.record is not None:
                self.record.append((at, payload))
                if self.on_record is not None:
                    self.on_record(self, payload)
            else:
                self._text(payload, at)
        elif opcode == 9:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(ws_frame(0xA, payload))
        elif opcode == 8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            self.close_code = (code, payload[2:].decode("utf-8", "replace"))
            self.lost = f"close frame {code} {self.close_code[1]!r}"
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(ws_frame(0x8, payload[:2]))
                self.transport.close()

    def _text(self, payload, at):
        try:
            msg = json.loads(payload)
        except ValueError:
            return
        kind = msg.get("type")
        if kind == "event":
            if self.on_event is not None:
                self.on_event(self, msg, at)
        elif kind == "response":
            fut = self.pending.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif kind == "ready":
            if not self.ready.done():
                self.ready.set_result(msg)
        elif kind == "error":
            self.errors.append(msg.get("error"))

    # Client side
    def send_text(self, text):
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError(f"connection ended: {self.lost}")
        self.transport.write(ws_frame(0x1, text.encode() if isinstance(text, str) else text))

    async def op(self, op, timeout=30.0, **args):
        """Sends an op and waits for its response frame (the parsed frame)."""
        self.next_id += 1
        rid = self.next_id
        fut = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        self.send_text(json.dumps({"op": op, "id": rid, **args}))
        return await asyncio.wait_for(fut, timeout)

    def is_open(self):
        return self.transport is not None and not self.transport.is_closing() and self.lost is None

    def close(self, polite=True):
        if self.transport is None or self.transport.is_closing():
            return
        if polite and self.upgraded:
            self.transport.write(ws_frame(0x8, (1000).to_bytes(2, "big")))
        self.transport.close()


async def ws_connect(base, token, on_event=None, timeout=30.0, tag=None):
    """Opens an authenticated WebSocket; returns it once the server's `ready` frame arrived."""
    host, port = split_base(base)
    loop = asyncio.get_running_loop()
    ws = WSClient(host, port, token, on_event=on_event, tag=tag)
    await asyncio.wait_for(loop.create_connection(lambda: ws, host, port), timeout)
    try:
        await asyncio.wait_for(ws.opened, timeout)
        await asyncio.wait_for(ws.ready, timeout)
    except BaseException:
        ws.close(polite=False)
        raise
    return ws


class SSEClient(asyncio.Protocol):
    """A request answered with Server-Sent Events (the body chunked or not)."""

    __slots__ = ("req", "buf", "head_done", "chunked", "chunk_left", "text", "transport", "opened",
                 "closed", "first_event", "status", "headers", "on_event", "keepalives", "events",
                 "tag", "lost", "error_body")

    def __init__(self, host, port, method, path, token, body=None, on_event=None, tag=None,
                 headers=()):
        self.req = request_bytes(host, port, method, path, token, body,
                                 ("Accept: text/event-stream",) + tuple(headers), close=False)
        loop = asyncio.get_running_loop()
        self.buf = bytearray()
        self.head_done = False
        self.chunked = False
        self.chunk_left = 0         # bytes of the current chunk still to come (+2 for its CRLF)
        self.text = bytearray()
        self.transport = None
        self.opened = loop.create_future()
        self.closed = loop.create_future()
        self.first_event = loop.create_future()
        self.status = None
        self.headers = None
        self.on_event = on_event
        self.keepalives = 0
        self.events = 0
        self.tag = tag
        self.lost = None
        self.error_body = b""

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.req)

    def connection_lost(self, exc):
        if self.lost is None:
            self.lost = repr(exc) if exc else "closed by the server"
        for fut in (self.opened, self.first_event):
            if not fut.done():
                fut.set_exception(ConnectionError(f"connection ended: {self.lost}"))
        if not self.closed.done():
            self.closed.set_result(self.lost)

    def data_received(self, data):
        at = now()
        buf = self.buf
        buf += data
        if not self.head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status, self.headers = parse_head(bytes(buf[:end]))
            self.head_done = True
            self.chunked = "chunked" in self.headers.get("transfer-encoding", "")
            del buf[:end + 4]
            if self.status != 200:
                self.error_body = bytes(buf)
                if not self.opened.done():
                    self.opened.set_exception(HandshakeError(self.status, self.error_body))
                self.lost = f"answered {self.status}"
                self.transport.close()
                return
            if not self.opened.done():
                self.opened.set_result(at)
        if self.chunked:
            self._dechunk()
        else:
            self.text += buf
            buf.clear()
        self._events(at)

    def _dechunk(self):
        buf = self.buf
        pos = 0
        size = len(buf)
        while pos < size:
            if self.chunk_left > 0:
                take = min(self.chunk_left, size - pos)
                data_end = pos + take
                # The last two bytes of a chunk are its CRLF, not data.
                data_take = min(take, max(0, self.chunk_left - 2))
                self.text += buf[pos:pos + data_take]
                self.chunk_left -= take
                pos = data_end
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            try:
                n = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            except ValueError:
                n = 0
            pos = eol + 2
            if n == 0:
                self.lost = "stream ended"
                break
            self.chunk_left = n + 2
        del buf[:pos]

    def _events(self, at):
        text = self.text
        while True:
            end = text.find(b"\n\n")
            if end < 0:
                return
            block = bytes(text[:end])
            del text[:end + 2]
            if block.startswith(b":"):
                self.keepalives += 1
                continue
            event = eid = None
            data = []
            for line in block.split(b"\n"):
                name, _, value = line.partition(b":")
                if value.startswith(b" "):
                    value = value[1:]
                if name == b"event":
                    event = value.decode()
                elif name == b"id":
                    eid = value.decode()
                elif name == b"data":
                    data.append(value)
            self.events += 1
            if not self.first_event.done():
                self.first_event.set_result(at)
            if self.on_event is not None:
                self.on_event(self, event, eid, b"\n".join(data), at)

    def is_open(self):
        return self.transport is not None and not self.transport.is_closing() and self.lost is None

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


async def sse_open(base, method, path, token, body=None, on_event=None, timeout=30.0, tag=None,
                   wait_first_event=True):
    host, port = split_base(base)
    loop = asyncio.get_running_loop()
    c = SSEClient(host, port, method, path, token, body=body, on_event=on_event, tag=tag)
    await asyncio.wait_for(loop.create_connection(lambda: c, host, port), timeout)
    try:
        await asyncio.wait_for(c.opened, timeout)
        if wait_first_event:
            await asyncio.wait_for(c.first_event, timeout)
    except BaseException:
        c.close()
        raise
    return c


class Failures:
    """Counts failures by kind, keeping the first message of each."""

    def __init__(self):
        self.counts = {}
        self.first = {}

    def add(self, exc):
        kind = type(exc).__name__
        if isinstance(exc, HandshakeError):
            kind = f"HTTP {exc.status}"
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.first.setdefault(kind, str(exc)[:300])

    def total(self):
        return sum(self.counts.values())

    def report(self, indent="    "):
        return "\n".join(f"{indent}{k}: {n} (first: {self.first[k]})"
                         for k, n in sorted(self.counts.items()))
