"""Client side of scripts/bench-connections.sh (see its header). One asyncio process.

  connections.py ws    BASE TOKEN PID N THREADS IDLE_SECS
  connections.py sse   BASE TOKEN PID N REPLIES IDLE_SECS
  connections.py limit BASE TOKEN PID LIMIT TIMEOUT_SECS
"""

import asyncio
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from netclient import (Failures, http, http_json, now, rss_kib, split_base, sse_open,  # noqa: E402
                       ws_connect)

OPEN_AT_ONCE = 128      # handshakes in flight at once (the listen backlog is 1,024)
CHECK_THREADS = 3       # threads / replies whose followers must see one event each
CHECK_TIMEOUT = 15.0


def mib(kib):
    return kib / 1024.0


def self_rss():
    return rss_kib("self")


def log(msg):
    print(f"  {msg}", flush=True)


async def create_threads(base, token, n, title):
    sem = asyncio.Semaphore(16)

    async def one(i):
        async with sem:
            t = await http_json(base, "POST", "/v1/threads", token, {"title": f"{title} {i}"})
            return t["id"]
    return await asyncio.gather(*(one(i) for i in range(n)))


async def open_many(n, make, label):
    """Opens n connections with make(i) (a coroutine returning the connection), OPEN_AT_ONCE at a
    time; returns (connections in order, with None for failures; Failures; seconds)."""
    sem = asyncio.Semaphore(OPEN_AT_ONCE)
    conns = [None] * n
    fails = Failures()
    done = 0
    started = now()
    last_print = started

    async def one(i):
        nonlocal done, last_print
        async with sem:
            try:
                conns[i] = await make(i)
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                fails.add(e)
            done += 1
            if now() - last_print > 10:
                last_print = now()
                log(f"{label}: {done}/{n} opened ({fails.total()} failed)")
    await asyncio.gather(*(one(i) for i in range(n)))
    return conns, fails, now() - started


async def presence(base, token, thread):
    try:
        p = await http_json(base, "GET", f"/v1/threads/{thread}/presence", token)
        return p
    except Exception as e:  # noqa: BLE001
        return f"error: {e}"


def rss_lines(kind, n_open, target_mib, r0, r1, r2, g2=""):
    grown = r1 - r0
    per = grown / n_open if n_open else 0.0
    print(f"  server RSS before   {mib(r0):9.1f} MiB")
    print(f"  server RSS open     {mib(r1):9.1f} MiB   (+{mib(grown):.1f} MiB for {n_open} {kind}: "
          f"{per:.1f} KiB each)")
    if target_mib:
        scaled = mib(r1) if n_open >= 10000 else mib(r0) + mib(per * 10000)
        note = "" if n_open >= 10000 else " (extrapolated from this run)"
        print(f"  target: 10,000 {kind} < {target_mib} MiB RSS; "
              f"at 10,000: {scaled:.1f} MiB{note}")
    print(f"  server RSS closed   {mib(r2):9.1f} MiB   (3 s after closing them all; {g2})")


async def gauges(base):
    """The server's own count of open WebSockets and SSE streams (GET /metrics), as a dict, or
    a string saying why not."""
    try:
        status, _, body, _ = await http(base, "GET", "/metrics", timeout=10)
    except Exception as e:  # noqa: BLE001
        return f"/metrics failed: {e!r}"
    if status != 200:
        return f"/metrics answered {status}"
    found = {}
    for line in body.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(" ")
        if name in ("chat_websocket_connections", "chat_sse_followers"):
            found[name] = int(float(value))
    return found


def show(g):
    return g if isinstance(g, str) else ", ".join(f"{k} {v}" for k, v in sorted(g.items()))


async def released(base, pid, gauge, closed_at, wait=45.0):
    """Polls the server's gauge until it reaches 0 (the server let go of every connection); prints
    when, and the RSS then."""
    g = None
    while now() - closed_at < wait:
        g = await gauges(base)
        if isinstance(g, dict) and g.get(gauge, 0) == 0:
            print(f"  server RSS released {mib(rss_kib(pid)):9.1f} MiB   ({gauge} reached 0 "
                  f"{now() - closed_at:.1f} s after the clients closed)")
            if now() - closed_at < 15.0:
                await asyncio.sleep(15.0 - (now() - closed_at))
                print(f"  server RSS later    {mib(rss_kib(pid)):9.1f} MiB   (15 s after the close)")
            return
        await asyncio.sleep(0.5)
    print(f"  server RSS          {mib(rss_kib(pid)):9.1f} MiB   {wait:.0f} s after the clients "
          f"closed, {gauge} still {show(g)}")


def ended_early(conns):
    """Counts, by reason, the connections among `conns` that ended before the client closed them."""
    closes = {}
    for c in conns:
        if not c.is_open():
            closes[c.lost] = closes.get(c.lost, 0) + 1
    for why, count in closes.items():
        print(f"  ended before the close: {count} ({why})")


async def close_and_measure(conns, base, pid, kind, target_mib, gauge, n_open, r0, r1):
    """Closes every connection, prints the RSS lines 3 s later and how long `gauge` takes to
    reach 0."""
    for c in conns:
        if c is not None:
            c.close()
    closed_at = now()
    await asyncio.sleep(3.0)
    r2 = rss_kib(pid)
    rss_lines(kind, n_open, target_mib, r0, r1, r2, show(await gauges(base)))
    await released(base, pid, gauge, closed_at)


async def settle(conns, idle, label):
    """Waits idle seconds (the server's heartbeat and keep-alives run meanwhile); prints how many
    connections are still open."""
    if idle > 0:
        log(f"{label}: idle for {idle:.0f} s")
        await asyncio.sleep(idle)
    alive = sum(1 for c in conns if c is not None and c.is_open())
    opened = sum(1 for c in conns if c is not None)
    return alive, opened


async def phase_ws(base, token, pid, n, nthreads, idle):
    print(f"\n== {n} idle WebSocket connections (header auth + subscribe), "
          f"spread over {nthreads} threads")
    threads = await create_threads(base, token, nthreads, "ws bench")
    await asyncio.sleep(3.0)
    r0 = rss_kib(pid)
    created = {}  # ws index -> {message id: arrival} of the message.created events it got

    def on_event(ws, msg, at):
        if msg.get("event") == "message.created":
            mid = msg.get("data", {}).get("message_id")
            created.setdefault(ws.tag, {}).setdefault(mid, at)

    async def make(i):
        ws = await ws_connect(base, token, on_event=on_event, tag=i)
        try:
            r = await ws.op("subscribe", thread_id=threads[i % nthreads])
        except BaseException:
            ws.close(polite=False)
            raise
        if not r.get("ok"):
            ws.close()
            raise RuntimeError(f"subscribe refused: {r.get('error')}")
        return ws

    conns, fails, secs = await open_many(n, make, "websockets")
    ok = sum(1 for c in conns if c is not None)
    print(f"  opened {ok}/{n} in {secs:.1f} s ({ok / secs if secs else 0:.0f}/s)")
    if fails.total():
        print(f"  failed to open: {fails.total()}\n{fails.report()}")
    alive, _ = await settle(conns, idle, "websockets")
    r1 = rss_kib(pid)
    print(f"  still open after {idle:.0f} s idle: {alive}/{ok}; server: {show(show(await gauges(base)))}")
    pres = await presence(base, token, threads[0])
    expect0 = sum(1 for i, c in enumerate(conns) if c is not None and i % nthreads == 0)
    print(f"  presence of thread 0 (one instance): {pres} (expected {expect0} sockets)")

    # Deliveries: a message appended to a few threads must reach every socket subscribed there.
    expected = [i for i, c in enumerate(conns)
                if c is not None and c.is_open() and i % nthreads < CHECK_THREADS]
    posted = {}  # thread index -> (message id, time the request was sent)
    for k in range(min(CHECK_THREADS, nthreads)):
        t0 = now()
        m = await http_json(base, "POST", f"/v1/threads/{threads[k]}/messages", token,
                            {"content": f"delivery check {k}"})
        posted[k] = (m["id"], t0)

    def arrival(i):
        mid, _ = posted[i % nthreads]
        return created.get(i, {}).get(mid)
    deadline = now() + CHECK_TIMEOUT
    while now() < deadline and sum(1 for i in expected if arrival(i)) < len(expected):
        await asyncio.sleep(0.05)
    got = [i for i in expected if arrival(i)]
    lat = sorted((arrival(i) - posted[i % nthreads][1]) * 1000 for i in got)
    lat_s = f", post to delivery p50 {lat[len(lat) // 2]:.1f} ms, last {lat[-1]:.1f} ms" if lat else ""
    print(f"  delivery check: {len(got)}/{len(expected)} subscribed sockets of {CHECK_THREADS} "
          f"threads got the message posted there{lat_s}")
    errors = [e for c in conns if c is not None for e in c.errors]
    if errors:
        print(f"  error frames received: {len(errors)} (first: {errors[0]})")
    ended_early(c for c in conns if c is not None)
    await close_and_measure(conns, base, pid, "WebSockets", 256, "chat_websocket_connections",
                            ok, r0, r1)
    pres = await presence(base, token, threads[0])
    print(f"  presence of thread 0 after the close: {pres}")
    print(f"  client process RSS  {mib(self_rss()):9.1f} MiB")


async def phase_sse(base, token, pid, n, nreplies, idle):
    print(f"\n== {n} idle SSE followers (GET .../messages/{{id}}/stream), "
          f"spread over {nreplies} running replies")
    threads = await create_threads(base, token, nreplies, "sse bench")
    # A reply per thread, started over a WebSocket (messages.send answers the reply's id at
    # once, and a closed socket is let go at once). The echo model is slowed down so far (the
    # script sets its delay) that no delta comes during the run: the followers stay idle but for
    # keep-alive comments.
    replies = []
    control = await ws_connect(base, token)
    for t in threads:
        r = await control.op("messages.send", thread_id=t, content="hold the line")
        if not r.get("ok"):
            raise RuntimeError(f"messages.send refused: {r.get('error')}")
        replies.append((t, r["result"]["assistant_message_id"]))
    control.close()
    await asyncio.sleep(3.0)
    r0 = rss_kib(pid)

    cancelled = {}  # follower index -> arrival of message.cancelled

    def on_event(c, event, eid, data, at):
        if event == "message.cancelled" and c.tag not in cancelled:
            cancelled[c.tag] = at

    async def make(i):
        t, m = replies[i % nreplies]
        return await sse_open(base, "GET", f"/v1/threads/{t}/messages/{m}/stream", token,
                              on_event=on_event, tag=i)

    conns, fails, secs = await open_many(n, make, "sse followers")
    ok = sum(1 for c in conns if c is not None)
    print(f"  opened {ok}/{n} in {secs:.1f} s ({ok / secs if secs else 0:.0f}/s)")
    if fails.total():
        print(f"  failed to open: {fails.total()}\n{fails.report()}")
    alive, _ = await settle(conns, idle, "sse followers")
    r1 = rss_kib(pid)
    ka = sum(c.keepalives for c in conns if c is not None)
    print(f"  still open after {idle:.0f} s idle: {alive}/{ok} ({ka} keep-alive comments received); "
          f"server: {show(show(await gauges(base)))}")

    # Deliveries: cancelling a few replies must reach every follower of each.
    expected = [i for i, c in enumerate(conns)
                if c is not None and c.is_open() and i % nreplies < CHECK_THREADS]
    sent = {}
    for k in range(min(CHECK_THREADS, nreplies)):
        t, m = replies[k]
        sent[k] = now()
        await http_json(base, "POST", f"/v1/threads/{t}/messages/{m}/cancel", token)
    deadline = now() + CHECK_TIMEOUT
    while now() < deadline and sum(1 for i in expected if i in cancelled) < len(expected):
        await asyncio.sleep(0.05)
    got = [i for i in expected if i in cancelled]
    lat = sorted((cancelled[i] - sent[i % nreplies]) * 1000 for i in got)
    lat_s = f", cancel to delivery p50 {lat[len(lat) // 2]:.1f} ms, last {lat[-1]:.1f} ms" if lat else ""
    print(f"  delivery check: {len(got)}/{len(expected)} followers of {CHECK_THREADS} replies got "
          f"message.cancelled{lat_s}")
    await asyncio.sleep(0.5)
    ended = sum(1 for i in got if not conns[i].is_open())
    print(f"  streams ended after the final event: {ended}/{len(got)}")
    # Followers of the cancelled replies ended on purpose.
    ended_early(c for i, c in enumerate(conns) if c is not None and i % nreplies >= CHECK_THREADS)
    await close_and_measure(conns, base, pid, "SSE followers", 160, "chat_sse_followers",
                            ok, r0, r1)
    print(f"  client process RSS  {mib(self_rss()):9.1f} MiB")


async def try_request(base, timeout):
    """GET /healthz on a new connection. Returns (outcome text, reader/writer if still waiting)."""
    host, port = split_base(base)
    t0 = now()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        return f"TCP connect did not complete within {timeout:.0f} s", None, t0
    except OSError as e:
        return f"TCP connect failed after {(now() - t0) * 1000:.0f} ms: {e!r}", None, t0
    connect_ms = (now() - t0) * 1000
    writer.write(f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    try:
        raw = await asyncio.wait_for(reader.read(-1), timeout)
    except asyncio.TimeoutError:
        return (f"TCP connected in {connect_ms:.1f} ms, then NO ANSWER within {timeout:.0f} s "
                f"(hangs)"), (reader, writer), t0
    except OSError as e:
        writer.close()
        return f"TCP connected, then the connection failed after {(now() - t0) * 1000:.0f} ms: {e!r}", None, t0
    writer.close()
    return describe_answer(raw, t0), None, t0


def describe_answer(raw, t0):
    ms = (now() - t0) * 1000
    if not raw:
        return f"connection closed without an answer after {ms:.0f} ms"
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    return f"answered after {ms:.0f} ms: {status!r}, body {body[:200]!r}"


async def phase_limit(base, token, pid, limit, timeout):
    print(f"\n== over the limit: server.max_connections = {limit}")
    host, port = split_base(base)

    async def over(label, conns, close_one):
        opened = sum(1 for c in conns if c is not None)
        print(f"  {label}: {opened}/{limit} open; request #{limit + 1} (GET /healthz), "
              f"{timeout:.0f} s timeout:")
        outcome, pending, t0 = await try_request(base, timeout)
        print(f"    {outcome}")
        if pending is not None:
            reader, writer = pending
            t1 = now()
            close_one()
            try:
                raw = await asyncio.wait_for(reader.read(-1), timeout)
                print(f"    after closing one of the {opened}: answered "
                      f"{(now() - t1) * 1000:.0f} ms later "
                      f"({describe_answer(raw, t0).split(': ', 1)[-1]})")
            except asyncio.TimeoutError:
                print(f"    after closing one of the {opened}: still no answer {timeout:.0f} s later")
            writer.close()
        # While at the limit, is an established connection still served?
        return opened

    # 1. Idle authenticated WebSockets.
    conns, fails, secs = await open_many(limit, lambda i: asyncio.wait_for(
        ws_connect(base, token, tag=i), timeout), "websockets")
    if fails.total():
        print(f"  {fails.total()} of {limit} WebSockets failed to open:\n{fails.report()}")
    live = [c for c in conns if c is not None]

    def close_ws():
        live.pop().close()
    await over(f"{limit} idle WebSockets", conns, close_ws)
    if live:
        t0 = now()
        try:
            r = await live[0].op("ping", timeout=timeout)
            print(f"    an open WebSocket still answers ops at the limit: {r.get('result')!r} in "
                  f"{(now() - t0) * 1000:.1f} ms")
        except Exception as e:  # noqa: BLE001
            print(f"    an open WebSocket does not answer an op at the limit: {e!r}")
    for c in live:
        c.close()
    await asyncio.sleep(2.0)

    # 2. Plain TCP connections that never send a request: at the limit the server closes the
    #    oldest of them to admit the extra request (answered 200, not 503).
    socks = []
    for _ in range(limit):
        try:
            socks.append(await asyncio.wait_for(asyncio.open_connection(host, port), timeout))
        except Exception as e:  # noqa: BLE001
            print(f"  a silent TCP connection failed: {e!r}")
            break
    await asyncio.sleep(0.5)

    def close_sock():
        socks.pop()[1].close()
    await over(f"{limit} silent TCP connections (no request sent)", [s for s in socks], close_sock)
    for _, w in socks:
        w.close()
    await asyncio.sleep(1.0)
    outcome, pending, _ = await try_request(base, timeout)
    print(f"  after closing them all: {outcome}")
    if pending is not None:
        pending[1].close()


def main():
    kind = sys.argv[1]
    base, token, pid = sys.argv[2], sys.argv[3], int(sys.argv[4])
    if kind == "ws":
        coro = phase_ws(base, token, pid, int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]))
    elif kind == "sse":
        coro = phase_sse(base, token, pid, int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]))
    elif kind == "limit":
        coro = phase_limit(base, token, pid, int(sys.argv[5]), float(sys.argv[6]))
    else:
        raise SystemExit(f"unknown phase {kind}")
    asyncio.run(coro)


if __name__ == "__main__":
    main()
