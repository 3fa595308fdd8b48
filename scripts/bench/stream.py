"""Client side of scripts/bench-stream.sh (see its header). One asyncio process.

  stream.py BASE_A BASE_B PID_A PID_B TOKEN REPLIES WORDS DELAY_MS WATCHERS RAMP_SECS

Every reply's thread is watched by a WebSocket subscription on A and one on B (WATCHERS sockets
per instance, the threads spread over them). While replies stream, the sockets only record each
text frame with the time its bytes were read (one time per read, before any parsing); frames are
decoded afterwards.

Instance B may receive a run of deltas coalesced into one frame (docs/operations.md, the event
bus): its `id` is the last seq and its text the parts joined. Such a frame delivers each of those
deltas, so a delta's B arrival is the arrival of the B frame whose (previous id, id] range holds
its seq and whose text is exactly A's deltas of that range joined. A delta of A that no B frame
delivers is lost on B.
"""

import asyncio
import json
import os
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from netclient import Failures, http, http_json, now, percentile, ws_connect  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")


def cpu_secs(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ
    except OSError:
        return 0.0


def pg_cpu_secs():
    """CPU time of every PostgreSQL process (the server's backends live through a round)."""
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.find("(") + 1:raw.rfind(")")]
        if comm.startswith("postgres"):
            fields = raw.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / HZ


GAUGES = ("chat_db_pool_in_use", "chat_event_bus_queue", "chat_replies_running")


async def sample_gauges(base, peaks, stop):
    """Keeps the highest value of GAUGES seen on the instance's /metrics, every 200 ms."""
    while not stop.is_set():
        try:
            status, _, body, _ = await http(base, "GET", "/metrics", timeout=5)
            if status == 200:
                for line in body.decode("utf-8", "replace").splitlines():
                    name, _, value = line.partition(" ")
                    if name in GAUGES:
                        peaks[name] = max(peaks.get(name, 0), int(float(value)))
        except Exception:  # noqa: BLE001 - a missed sample is only a missed sample
            pass
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except asyncio.TimeoutError:
            pass


def log(msg):
    print(f"  {msg}", file=sys.stderr, flush=True)


def echo_chunks(content):
    """How many deltas the echo model streams for a message (its words with their separators)."""
    text = f"Echo: {content}"
    n, cur = 0, False
    for ch in text:
        cur = True
        if ch.isspace():
            n += 1
            cur = False
    return n + (1 if cur else 0)


class Side:
    """The watcher sockets on one instance."""

    def __init__(self, name, base):
        self.name = name
        self.base = base
        self.sockets = []
        self.completed = 0
        self.target = 0
        self.done = None

    def on_record(self, ws, payload):
        if b'"message.completed"' in payload or b'"message.failed"' in payload \
                or b'"message.cancelled"' in payload:
            self.completed += 1
            if self.completed >= self.target and self.done is not None and not self.done.done():
                self.done.set_result(None)

    def mark(self):
        return [len(ws.record) for ws in self.sockets]

    def frames_since(self, mark):
        for ws, start in zip(self.sockets, mark):
            yield from ws.record[start:]
        return


def decode(side, mark, threads):
    """Per thread of `threads`: {'deltas': [(seq, text, at)], 'final': (kind, content) or None,
    'lost_errors': n}; plus a count of error frames."""
    per = {t: {"deltas": [], "final": None, "created": None} for t in threads}
    errors = []
    for at, payload in side.frames_since(mark):
        try:
            msg = json.loads(payload)
        except ValueError:
            continue
        kind = msg.get("type")
        if kind == "error":
            errors.append(msg.get("error"))
            continue
        if kind != "event":
            continue
        data = msg.get("data") or {}
        entry = per.get(data.get("thread_id"))
        if entry is None:
            continue
        event = msg.get("event")
        if event == "message.delta":
            entry["deltas"].append((msg.get("id"), data.get("delta", ""), at))
        elif event in ("message.completed", "message.failed", "message.cancelled"):
            entry["final"] = (event, data.get("content"))
        elif event == "message.created" and (data.get("message") or {}).get("role") == "assistant":
            entry["created"] = at
    return per, errors


def analyse(label, a_per, b_per, sent, expected_deltas, delay_ms):
    extra = []          # B arrival - A arrival, ms, per delta B delivered
    lost_b = 0
    lost_a = 0          # deltas A's watcher missed (expected - received)
    mismatched = 0      # B frames whose text is not A's deltas of their range
    coalesced = 0       # B frames that stood for more than one delta
    bad_final = 0
    first_a, first_b = [], []
    created_a = []      # chat sent -> the reply's message.created at A's watcher, ms
    total_a = 0
    for t, a in a_per.items():
        b = b_per[t]
        a_map = {}
        for seq, text, at in a["deltas"]:
            a_map.setdefault(seq, (text, at))
        total_a += len(a_map)
        lost_a += max(0, expected_deltas - len(a_map))
        if a["final"] is not None and a["final"][0] == "message.completed":
            joined = "".join(a_map[s][0] for s in sorted(a_map))
            if joined != a["final"][1]:
                bad_final += 1
        elif a["final"] is None or a["final"][0] != "message.completed":
            bad_final += 1
        if t in sent and a_map:
            first_a.append((min(at for _, at in a_map.values()) - sent[t]) * 1000 - delay_ms)
        if t in sent and a["created"] is not None:
            created_a.append((a["created"] - sent[t]) * 1000)
        if t in sent and b["deltas"]:
            first_b.append((min(at for _, _, at in b["deltas"]) - sent[t]) * 1000 - delay_ms)
        if not a_map:
            continue
        delivered = set()
        prev = min(a_map) - 1
        for seq, text, at in sorted(b["deltas"], key=lambda d: d[0]):
            span = [s for s in range(prev + 1, seq + 1) if s in a_map]
            if text == "".join(a_map[s][0] for s in span):
                if len(span) > 1:
                    coalesced += 1
                for s in span:
                    delivered.add(s)
                    extra.append((at - a_map[s][1]) * 1000)
            elif seq in a_map and text == a_map[seq][0]:
                delivered.add(seq)
                extra.append((at - a_map[seq][1]) * 1000)
            else:
                mismatched += 1
            prev = seq
        lost_b += len(set(a_map) - delivered)
    return {
        "label": label,
        "deltas": total_a,
        "p50": percentile(extra, 50), "p99": percentile(extra, 99),
        "max": max(extra) if extra else None,
        "lost_b": lost_b, "lost_a": lost_a, "mismatched": mismatched, "coalesced": coalesced,
        "bad_final": bad_final,
        "first_a50": percentile(first_a, 50), "first_a99": percentile(first_a, 99),
        "first_b50": percentile(first_b, 50), "first_b99": percentile(first_b, 99),
        "replies_seen": len(first_a),
        "created50": percentile(created_a, 50), "created99": percentile(created_a, 99),
    }


async def run_round(label, threads, sides, token, content, delay_ms, ramp, expected, pids):
    a, b = sides
    marks = [s.mark() for s in sides]
    loop = asyncio.get_running_loop()
    for s in sides:
        s.completed = 0
        s.target = len(threads)
        s.done = loop.create_future()
    sent = {}
    statuses = {}
    fails = Failures()
    n = len(threads)
    t0 = now() + 0.2

    async def one(i, t):
        await asyncio.sleep(max(0.0, t0 + (ramp * i / n) - now()))
        try:
            status, _, body, at = await http(a.base, "POST", f"/v1/threads/{t}/chat", token,
                                             {"content": content}, timeout=600)
            sent[t] = at
            statuses[status] = statuses.get(status, 0) + 1
            if status != 201 and statuses[status] == 1:
                log(f"chat answered {status}: {body[:300]!r}")
        except Exception as e:  # noqa: BLE001
            fails.add(e)

    cpu0 = {k: cpu_secs(p) for k, p in pids.items()}
    pg0 = pg_cpu_secs()
    peaks = {"A": {}, "B": {}}
    stop = asyncio.Event()
    samplers = [asyncio.create_task(sample_gauges(s.base, peaks[s.name], stop)) for s in sides]
    w0 = now()
    chats = asyncio.gather(*(one(i, t) for i, t in enumerate(threads)))
    stream_secs = expected * delay_ms / 1000.0
    try:
        await asyncio.wait_for(asyncio.gather(a.done, b.done), ramp + stream_secs + 60)
    except asyncio.TimeoutError:
        log(f"{label}: timed out waiting for the final events (A {a.completed}/{n}, "
            f"B {b.completed}/{n})")
    await chats
    await asyncio.sleep(0.5)
    wall = now() - w0
    cpu = {k: (cpu_secs(p) - cpu0[k]) / wall * 100 for k, p in pids.items()}
    cpu["PostgreSQL"] = (pg_cpu_secs() - pg0) / wall * 100
    stop.set()
    await asyncio.gather(*samplers)
    a_per, a_err = decode(a, marks[0], threads)
    b_per, b_err = decode(b, marks[1], threads)
    r = analyse(label, a_per, b_per, sent, expected, delay_ms)
    r.update(statuses=statuses, fails=fails, a_err=a_err, b_err=b_err, cpu=cpu, wall=wall,
             peaks=peaks)
    return r


def fmt(v, spec="8.1f"):
    return format(v, spec) if v is not None else format("-", spec.split(".")[0].rstrip("f") + "s")


async def main():
    base_a, base_b, pid_a, pid_b, token = sys.argv[1:6]
    replies, words, delay_ms, watchers = (int(x) for x in sys.argv[6:10])
    ramp = float(sys.argv[10])
    content = " ".join(f"w{i}" for i in range(words))
    expected = echo_chunks(content)
    pids = {"A": int(pid_a), "B": int(pid_b), "client": os.getpid()}

    log(f"creating {replies + 2} threads on A")
    sem = asyncio.Semaphore(16)

    async def create(i):
        async with sem:
            return (await http_json(base_a, "POST", "/v1/threads", token,
                                    {"title": f"stream bench {i}"}))["id"]
    threads = await asyncio.gather(*(create(i) for i in range(replies + 2)))

    sides = [Side("A", base_a), Side("B", base_b)]
    for s in sides:
        s.sockets = [await ws_connect(s.base, token, tag=(s.name, w)) for w in range(watchers)]

    async def subscribe(s, w):
        ws = s.sockets[w]
        for t in threads[w::watchers]:
            r = await ws.op("subscribe", thread_id=t)
            if not r.get("ok"):
                raise RuntimeError(f"subscribe on {s.name}: {r.get('error')}")
    log(f"subscribing {len(threads)} threads on A and on B ({watchers} sockets each)")
    await asyncio.gather(*(subscribe(s, w) for s in sides for w in range(watchers)))
    for s in sides:
        for ws in s.sockets:
            ws.record = []
            ws.on_record = s.on_record
    await asyncio.sleep(0.5)

    # The first reply of a process pays for lazy start-up work (the tokenizer, prepared
    # statements, pools): a warm-up round, shown apart.
    log("warm-up: 1 reply")
    warm = await run_round("1", threads[:1], sides, token, content, delay_ms, 0.0, expected, pids)
    await asyncio.sleep(1.0)
    rounds = []
    log("baseline: 1 reply")
    rounds.append(await run_round("1", threads[1:2], sides, token, content, delay_ms, 0.0,
                                  expected, pids))
    await asyncio.sleep(1.0)
    log(f"{replies} replies, started over {ramp:g} s")
    rounds.append(await run_round(str(replies), threads[2:], sides, token, content, delay_ms,
                                  ramp, expected, pids))

    print(f"  each reply: {expected} deltas, the echo model waits {delay_ms} ms before each "
          f"(first token {delay_ms} ms, ~{expected * delay_ms / 1000:.1f} s per reply)")
    print(f"  {'replies':>7} {'deltas':>8} | {'B extra delay, ms':^26} | {'lost':>5} | "
          f"{'first delta - model, ms':^35}")
    print(f"  {'':>7} {'':>8} | {'p50':>8} {'p99':>8} {'max':>8} | {'on B':>5} | "
          f"{'A p50':>8} {'A p99':>8} {'B p50':>8} {'B p99':>8}")
    for r in rounds:
        print(f"  {r['label']:>7} {r['deltas']:>8} | {fmt(r['p50'])} {fmt(r['p99'])} "
              f"{fmt(r['max'])} | {r['lost_b']:>5} | {fmt(r['first_a50'])} {fmt(r['first_a99'])} "
              f"{fmt(r['first_b50'])} {fmt(r['first_b99'])}")
    print(f"  warm-up (the first reply of the processes, not in the table): first delta - model "
          f"A {fmt(warm['first_a50'], '.1f')} ms, B {fmt(warm['first_b50'], '.1f')} ms; "
          f"B extra delay max {fmt(warm['max'], '.1f')} ms; lost on B {warm['lost_b']}")
    for r in rounds:
        notes = []
        if r["statuses"] != {201: int(r["label"])}:
            notes.append(f"chat answers {r['statuses']}")
        if r["fails"].total():
            notes.append(f"chat requests failed:\n{r['fails'].report()}")
        if r["lost_a"]:
            notes.append(f"{r['lost_a']} deltas never reached A's watchers")
        if r["mismatched"]:
            notes.append(f"{r['mismatched']} B frames matched no run of A's deltas")
        if r["coalesced"]:
            notes.append(f"{r['coalesced']} B frames carried coalesced deltas")
        if r["bad_final"]:
            notes.append(f"{r['bad_final']} replies without a completed event matching their deltas on A")
        for side, errs in (("A", r["a_err"]), ("B", r["b_err"])):
            if errs:
                notes.append(f"{len(errs)} error frames on {side} (first: {errs[0]})")
        notes.append(f"chat sent to the reply's message.created at A p50 {fmt(r['created50'], '.1f')} "
                     f"ms, p99 {fmt(r['created99'], '.1f')} ms")
        cpu = ", ".join(f"{k} {v:.0f}%" for k, v in r["cpu"].items())
        notes.append(f"{r['wall']:.1f} s; CPU (of one core) {cpu}")
        for name, p in r["peaks"].items():
            if p:
                notes.append(f"peaks on {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(p.items())))
        print(f"  {r['label']} replies: " + "; ".join(notes))
    for s in sides:
        closed = [ws.lost for ws in s.sockets if not ws.is_open()]
        if closed:
            print(f"  {len(closed)} watcher sockets on {s.name} were closed: {closed[0]}")
        for ws in s.sockets:
            ws.close()


if __name__ == "__main__":
    asyncio.run(main())
