"""Client side of scripts/bench-tools.sh (see its header). One asyncio process, standard library
only (scripts/bench/netclient.py; the CPU reading of scripts/bench/stream.py).

  tools.py run BACKEND BASE SERVICE_PID TOKEN MCP_URL MCP_PID MCP_KEY SECS "CONCURRENCY" \
      ROUNDS_PER_THREAD RESULTS
  tools.py report RESULTS

`run` measures one instance (warm-up, then per concurrency the phases chat, tool, mcp and
direct, SECS seconds each, closed loop: every worker sends its next round as soon as its last
one is answered) and appends one JSON line per phase to RESULTS; progress goes to stderr. A
kind of round that fails in the warm-up (which stops at its first failure: a reply that never
ends would cost REQUEST_TIMEOUT a round) is not measured, nor is anything once the service has
exited. It exits 1 if any request failed or anything was left unmeasured. `report` prints the table of every phase in RESULTS and the
ratios; it exits 1 if any phase had failures.

A round, and what counts as its success (anything else is a failure, counted by kind):
  chat     POST /v1/threads/{t}/chat {content: ~300 bytes of words}: 201, reply `complete`;
  tool     POST .../chat {content: `call weather {json}` (~300 bytes), tools: TOOLS}: 201,
           reply `requires_action` with one `tool_call` of `weather` and the arguments sent;
           then POST .../messages/{reply}/tool_results {results: [{call_id, output: ~1 KB}],
           tools: TOOLS}: 201, reply `complete` with content "Echo: " + output;
  mcp      POST .../chat {content: `call add {"a": 2, "b": 3}`, mcp_servers: [calc]}: 201, reply
           `complete` with content "Echo: 5";
  direct   POST MCP_URL tools/list then tools/call add {a: 2, b: 3} (JSON-RPC, the MCP server's
           streamable HTTP in its JSON mode, stateless: no initialize): 200, a list holding
           `add` / the text "5". What the service asks of the MCP server in an mcp round (it lists the
           server's tools for each reply that names it, then calls the tool), without the service.
A request's latency runs from writing it (after the connection is made) to the end of the
answer (netclient.http: one connection per request, `Connection: close`).

Threads: a chat goes to a thread no other worker uses (worker w takes threads w, w + c, ...),
fresh threads for every phase (created before it, not timed), each used for at most
ROUNDS_PER_THREAD rounds, so that no thread outgrows the prompt's token budget
(replies.context_tokens: a summary would then be made, a cost no single round has). A phase
that runs out of threads goes round its threads again; those rounds are counted (`reused`).
"""

import asyncio
import json
import math
import os
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from netclient import Failures, HandshakeError, http, http_json, now, percentile  # noqa: E402
from stream import cpu_secs  # noqa: E402

REQUEST_TIMEOUT = 20.0      # s; a reply the service never answers (a stuck reply) fails here
WARMUP_ROUNDS = 20
CORES = len(os.sched_getaffinity(0))

WORDS = ("forecast", "harbour", "morning", "light", "wind", "from", "the", "north", "west",
         "clouds", "over", "the", "river", "clearing", "by", "noon", "with", "warm", "afternoon",
         "sun", "and", "a", "cool", "evening", "breeze", "along", "the", "coast")


def filler(n_bytes, offset=0):
    """Words (ASCII) joined by spaces, `n_bytes` long."""
    out, i = [], offset
    size = -1
    while size < n_bytes:
        w = WORDS[i % len(WORDS)]
        out.append(w)
        size += len(w) + 1
        i += 1
    return " ".join(out)[:n_bytes].rstrip()


def call_text(name, args):
    return f"call {name} {json.dumps(args)}"


# The caller's tools, offered on both requests of a tool round (three, as an app would offer).
TOOLS = [
    {"name": "weather", "description": "Current weather and a three-day forecast for a city.",
     "parameters": {"type": "object", "properties": {
         "city": {"type": "string", "description": "The city, in English."},
         "note": {"type": "string", "description": "What the user wants to know."}},
         "required": ["city"]}},
    {"name": "search_docs", "description": "Searches the product documentation.",
     "parameters": {"type": "object", "properties": {
         "query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
         "required": ["query"]}},
    {"name": "create_event", "description": "Adds an event to the user's calendar.",
     "parameters": {"type": "object", "properties": {
         "title": {"type": "string"}, "start": {"type": "string", "format": "date-time"},
         "minutes": {"type": "integer"}}, "required": ["title", "start"]}},
]
# ~300-byte user messages: the padding of the tool call goes inside its JSON arguments (the echo
# model reads the whole message as `call NAME {json}`).
_ARGS = {"city": "Lisbon", "note": ""}
_ARGS["note"] = filler(300 - len(call_text("weather", _ARGS)))
TOOL_ARGS = json.dumps(_ARGS)
TOOL_CONTENT = call_text("weather", _ARGS)
CHAT_CONTENT = filler(len(TOOL_CONTENT), offset=3)
# ~1 KB tool output (JSON, as tools tend to answer).
_OUT = {"city": "Lisbon", "now": {"temp_c": 21, "wind_kmh": 14, "sky": "clear"}, "days": [],
        "summary": ""}
for _d in range(3):
    _OUT["days"].append({"date": f"2026-06-0{_d + 1}", "min_c": 15 + _d, "max_c": 24 + _d,
                         "rain_mm": 0.2 * _d, "sky": "partly cloudy"})
_OUT["summary"] = filler(1024 - len(json.dumps(_OUT)), offset=7)
TOOL_OUTPUT = json.dumps(_OUT)
MCP_CONTENT = call_text("add", {"a": 2, "b": 3})
MCP_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
MCP_CALL = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}


class Non2xx(HandshakeError):
    """A non-2xx answer (Failures counts it as `HTTP <status>`)."""

    def __init__(self, what, status, body):
        super().__init__(status, body)
        self.args = (f"{what}: HTTP {status}: {body[:300]!r}",)


class Unexpected(Exception):
    """A 2xx answer that is not what the round expects."""


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with open(f"/proc/{pid}/stat") as f:       # a zombie has exited too
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def log(msg):
    print(f"  {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, base, token, mcp_url, mcp_key, pids, per_thread):
        self.base = base
        self.token = token
        self.mcp_base, _, path = mcp_url.partition("://")[2].partition("/")
        self.mcp_base = "http://" + self.mcp_base
        self.mcp_path = "/" + path
        self.mcp_headers = ("Accept: application/json, text/event-stream",
                            f"x-api-key: {mcp_key}")
        self.pids = pids
        self.per_thread = per_thread

    async def post(self, what, path, body):
        try:
            status, _, raw, sent = await http(self.base, "POST", path, self.token, body,
                                              timeout=REQUEST_TIMEOUT)
        except TimeoutError:
            raise TimeoutError(f"{what}: no answer within {REQUEST_TIMEOUT:g} s") from None
        ms = (now() - sent) * 1000
        if not 200 <= status < 300:
            raise Non2xx(what, status, raw)
        return json.loads(raw), ms

    # The rounds: each takes a thread id and returns {measure: latency ms}.
    async def chat(self, t):
        r, ms = await self.post("chat", f"/v1/threads/{t}/chat", {"content": CHAT_CONTENT})
        reply = r["assistant_message"]
        if reply["status"] != "complete":
            raise Unexpected(f"chat: reply {reply['status']}, not complete")
        return {"chat": ms}

    async def tool(self, t):
        r, a = await self.post("tool chat", f"/v1/threads/{t}/chat",
                               {"content": TOOL_CONTENT, "tools": TOOLS})
        reply = r["assistant_message"]
        calls = [p for p in reply.get("parts") or [] if p.get("type") == "tool_call"]
        if reply["status"] != "requires_action" or len(calls) != 1 \
                or calls[0].get("name") != "weather" or calls[0].get("arguments") != TOOL_ARGS:
            raise Unexpected(f"tool chat: reply {reply['status']} with parts "
                             f"{json.dumps(reply.get('parts'))[:200]}")
        r, b = await self.post("tool_results",
                               f"/v1/threads/{t}/messages/{reply['id']}/tool_results",
                               {"results": [{"call_id": calls[0]["call_id"],
                                             "output": TOOL_OUTPUT}],
                                "tools": TOOLS})
        reply = r["assistant_message"]
        if reply["status"] != "complete" or reply["content"] != "Echo: " + TOOL_OUTPUT:
            raise Unexpected(f"tool_results: reply {reply['status']}, content "
                             f"{reply['content'][:80]!r}")
        return {"tool round": a + b, "tool chat": a, "tool results": b}

    async def mcp(self, t):
        r, ms = await self.post("mcp chat", f"/v1/threads/{t}/chat",
                                {"content": MCP_CONTENT, "mcp_servers": ["calc"]})
        reply = r["assistant_message"]
        if reply["status"] != "complete" or reply["content"] != "Echo: 5":
            raise Unexpected(f"mcp chat: reply {reply['status']}, content "
                             f"{reply['content'][:200]!r}")
        return {"mcp round": ms}

    async def rpc(self, what, body):
        try:
            status, _, raw, sent = await http(self.mcp_base, "POST", self.mcp_path, body=body,
                                              headers=self.mcp_headers, timeout=REQUEST_TIMEOUT)
        except TimeoutError:
            raise TimeoutError(f"{what}: no answer within {REQUEST_TIMEOUT:g} s") from None
        ms = (now() - sent) * 1000
        if not 200 <= status < 300:
            raise Non2xx(what, status, raw)
        r = json.loads(raw)
        if "result" not in r:
            raise Unexpected(f"{what}: {raw[:200]!r}")
        return r["result"], ms

    async def direct(self, _t):
        listed, a = await self.rpc("MCP tools/list", MCP_LIST)
        if "add" not in [t.get("name") for t in listed.get("tools", [])]:
            raise Unexpected(f"MCP tools/list: no add in {json.dumps(listed)[:200]}")
        called, b = await self.rpc("MCP tools/call", MCP_CALL)
        texts = [c.get("text") for c in called.get("content", [])]
        if called.get("isError") or texts != ["5"]:
            raise Unexpected(f"MCP tools/call: {json.dumps(called)[:200]}")
        return {"mcp list": a, "mcp call": b}

    async def threads(self, n):
        sem = asyncio.Semaphore(8)

        async def create():
            async with sem:
                return (await http_json(self.base, "POST", "/v1/threads", self.token, {}))["id"]
        return await asyncio.gather(*(create() for _ in range(n)))

    async def phase(self, name, c, secs=None, rounds=None, threads=()):
        """Runs round `name` with c workers for `secs` seconds (or `rounds` rounds in all)."""
        op = getattr(self, name)
        lat = {}
        fails = Failures()
        slices = [threads[w::c] for w in range(c)]
        state = {"started": 0, "reused": 0, "stop": False}
        cpu0 = {k: cpu_secs(p) for k, p in self.pids.items()}
        t0 = now()
        end = t0 + secs if secs is not None else math.inf

        async def worker(w):
            mine, i = slices[w], 0
            while not state["stop"] and now() < end:
                if rounds is not None and state["started"] >= rounds:
                    return
                state["started"] += 1
                t = None
                if mine:
                    t = mine[i % len(mine)]
                    if i >= self.per_thread * len(mine):
                        state["reused"] += 1
                i += 1
                try:
                    for k, v in (await op(t)).items():
                        lat.setdefault(k, []).append(v)
                except Exception as e:  # noqa: BLE001 - every failure is counted by kind
                    fails.add(e)
                    if rounds is not None:      # the warm-up stops at the first failure
                        state["stop"] = True
        await asyncio.gather(*(worker(w) for w in range(c)))
        wall = now() - t0
        cpu = {k: cpu_secs(p) - cpu0[k] for k, p in self.pids.items()}
        main = {"chat": "chat", "tool": "tool round", "mcp": "mcp round",
                "direct": "mcp call"}[name]
        n = len(lat.get(main, []))
        return {
            "phase": name, "c": c, "wall": wall, "rounds": n, "reused": state["reused"],
            "threads": len(threads), "per_thread": self.per_thread,
            "lat": {k: {"n": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99)}
                    for k, v in lat.items()},
            "cpu_ms": {k: (v * 1000 / n if n else None) for k, v in cpu.items()},
            "cpu_pct": {k: v / wall * 100 for k, v in cpu.items()},
            "failures": dict(fails.counts), "first": dict(fails.first),
        }


async def run(args):
    backend, base, pid, token, mcp_url, mcp_pid, mcp_key = args[:7]
    secs = float(args[7])
    levels = [int(c) for c in args[8].split()]
    per_thread = int(args[9])
    pids = {"service": int(pid), "mcp": int(mcp_pid), "client": os.getpid()}
    b = Bench(base, token, mcp_url, mcp_key, pids, per_thread)
    out = []
    # How many threads a phase needs: from the rounds/s at c = 1 and how busy the machine was
    # then (CPU of service + MCP server + client, in cores), c workers are expected to go
    # min(c, cores / busy) times faster (a round that mostly waits scales with c, one that
    # mostly computes with the cores left), with a margin of 2.
    rate, busy = {}, {}
    broken = {}     # round kind -> why the warm-up failed (its phases are left out)

    log(f"{backend}: warm-up, {WARMUP_ROUNDS} rounds of each kind at c=1")
    for name in ("chat", "tool", "mcp", "direct"):
        try:
            threads = [] if name == "direct" else \
                await b.threads(-(-WARMUP_ROUNDS // per_thread))
        except Exception as e:  # noqa: BLE001 - reported
            broken[name] = f"creating threads for its warm-up failed: {e!r}"[:300]
            log(f"{backend}: {name}: {broken[name]}")
            continue
        r = await b.phase(name, 1, rounds=WARMUP_ROUNDS, threads=threads)
        r.update(backend=backend, warmup=True)
        out.append(r)
        if r["failures"]:
            kind = next(iter(r["failures"]))
            broken[name] = f"failed in the warm-up: {kind}: {r['first'][kind]}"
            log(f"{backend}: {name} rounds: {broken[name]}: not measured")
            continue
        main = {"chat": "chat", "tool": "tool round", "mcp": "mcp round",
                "direct": "mcp call"}[name]
        rate[name] = 1000.0 / max(0.01, r["lat"][main]["p50"])
        busy[name] = sum(r["cpu_pct"].values()) / 100
    plan = [(c, name) for c in levels for name in ("chat", "tool", "mcp", "direct")]
    if 1 not in levels:     # the MCP server's own time, uncontended: what the report subtracts
        plan.insert(0, (1, "direct"))
    for c, name in plan:
        if name in broken:
            continue
        if not alive(pids["service"]):
            broken["service"] = "the service exited (see its log)"
            log(f"{backend}: the service exited; the rest is not measured")
            break
        threads = []
        if name != "direct":
            want = secs * rate[name] * min(c, CORES / max(0.05, busy[name])) * 2 / per_thread
            try:
                threads = await b.threads(max(2 * c, math.ceil(want) + c))
            except Exception as e:  # noqa: BLE001 - reported
                broken[f"{name} c={c}"] = f"creating its threads failed: {e!r}"[:300]
                log(f"{backend} c={c} {name}: {broken[f'{name} c={c}']}")
                continue
        await asyncio.sleep(0.3)
        r = await b.phase(name, c, secs=secs, threads=threads)
        r.update(backend=backend, warmup=False)
        out.append(r)
        if c == 1 and r["rounds"]:
            rate[name] = r["rounds"] / r["wall"]
            busy[name] = sum(r["cpu_pct"].values()) / 100
        fails = sum(r["failures"].values())
        log(f"{backend} c={c} {name}: {r['rounds']} rounds in {r['wall']:.1f} s"
            + (f", {fails} failed" if fails else ""))
    out += [{"backend": backend, "phase": name, "broken": why} for name, why in broken.items()]
    return out


def fmt(v, spec="9.2f"):
    width = spec.split(".")[0].rstrip("f") or "0"
    return format(v, spec) if v is not None else format("-", f">{width}s")


def report(path):
    rows = []
    with open(path) as f:
        for line in f:
            rows.append(json.loads(line))
    failed = False
    print(f"  per round: user message {len(CHAT_CONTENT.encode())} bytes (plain chat) / "
          f"{len(TOOL_CONTENT.encode())} bytes (`call weather {{json}}`, {len(TOOLS)} tools "
          f"offered, {len(json.dumps(TOOLS))} bytes of definitions), tool output "
          f"{len(TOOL_OUTPUT.encode())} bytes; mcp: `{MCP_CONTENT}`")
    head = "  {:<8} {:>2}  {:<32} {:>7} {:>9} {:>9} {:>9} {:>9}"
    print(head.format("backend", "c", "measure", "n", "per s", "p50 ms", "p99 ms", "svc cpu"))
    print(head.format("", "", "", "", "", "", "", "ms/round"))
    phases = {}
    for r in rows:
        if "broken" in r or r.get("warmup"):
            continue
        phases[(r["backend"], r["c"], r["phase"])] = r
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    levels = sorted({c for (_, c, _) in phases})

    def line(backend, c, label, lat, rate=None, cpu=None):
        print(head.format(backend, c, label, lat.get("n", "") if lat else "",
                          fmt(rate, "9.1f"), fmt(lat.get("p50") if lat else None),
                          fmt(lat.get("p99") if lat else None), fmt(cpu, "9.3f")))

    def diff(a, *bs):
        out = {}
        for q in ("p50", "p99"):
            if a.get(q) is None or any(x.get(q) is None for x in bs):
                out[q] = None
            else:
                out[q] = a[q] - sum(x[q] for x in bs)
        return out

    for backend in backends:
        for c in levels:
            get = phases.get
            if (r := get((backend, c, "chat"))):
                line(backend, c, "chat (no tools)", r["lat"].get("chat"),
                     r["rounds"] / r["wall"], r["cpu_ms"]["service"])
            if (r := get((backend, c, "tool"))):
                line(backend, c, "tool round (chat + results)", r["lat"].get("tool round"),
                     r["rounds"] / r["wall"], r["cpu_ms"]["service"])
                line(backend, c, "  chat -> requires_action", r["lat"].get("tool chat"))
                line(backend, c, "  tool_results -> complete", r["lat"].get("tool results"))
            m, d = get((backend, c, "mcp")), get((backend, c, "direct"))
            own = get((backend, 1, "direct"))   # the MCP server's own time: uncontended
            if m:
                line(backend, c, "mcp round (chat running add)", m["lat"].get("mcp round"),
                     m["rounds"] / m["wall"], m["cpu_ms"]["service"])
            if d:
                line(backend, c, "  MCP server: tools/list", d["lat"].get("mcp list"))
                line(backend, c, "  MCP server: tools/call", d["lat"].get("mcp call"))
            if m and own and m["lat"].get("mcp round") and own["lat"].get("mcp call"):
                mr = m["lat"]["mcp round"]
                dl, dc = own["lat"]["mcp list"], own["lat"]["mcp call"]
                line(backend, c, "  mcp round - call (MCP c=1)", diff(mr, dc))
                line(backend, c, "  mcp round - list - call (c=1)", diff(mr, dl, dc))

    print()
    print("  Ratios to the plain chat of the same backend and c (p50, p99, service CPU per round):")
    for backend in backends:
        for c in levels:
            base = phases.get((backend, c, "chat"))
            if not base or not base["lat"].get("chat"):
                continue
            parts = []
            for name, key, label in (("tool", "tool round", "tool round"),
                                     ("mcp", "mcp round", "mcp round")):
                r = phases.get((backend, c, name))
                if not r or not r["lat"].get(key):
                    parts.append(f"{label} -")
                    continue
                q = [ratio(r["lat"][key][p], base["lat"]["chat"][p]) for p in ("p50", "p99")]
                q.append(ratio(r["cpu_ms"]["service"], base["cpu_ms"]["service"]))
                parts.append(f"{label} / chat " + " ".join(q))
            print(f"    {backend:<8} c={c:<2} " + ";  ".join(parts))

    print()
    print("  Notes:")
    for r in rows:
        label = f"{r['backend']}"
        if "broken" in r:
            print(f"    {label} {r['phase']}: NOT MEASURED ({r['broken'][:300]})")
            failed = True
            continue
        label += " warm-up" if r["warmup"] else f" c={r['c']}"
        notes = []
        if r["failures"]:
            failed = True
            notes.append("FAILED " + ", ".join(
                f"{k} x{n} (first: {r['first'][k]})" for k, n in sorted(r["failures"].items())))
        if r["warmup"]:
            if not r["failures"]:
                continue
        else:
            notes.append(f"{r['wall']:.1f} s, {r['threads']} threads" if r["threads"]
                         else f"{r['wall']:.1f} s")
            if r["reused"]:
                notes.append(f"{r['reused']} rounds on threads already used {r['per_thread']} "
                             f"times (more rounds than the threads made for the phase)")
            pct = r["cpu_pct"]
            notes.append(f"CPU (of one core) service {pct['service']:.0f}%, "
                         f"MCP server {pct['mcp']:.0f}%, client {pct['client']:.0f}%")
            if r["phase"] in ("mcp", "direct") and r["cpu_ms"]["mcp"] is not None:
                notes.append(f"MCP server CPU {r['cpu_ms']['mcp']:.3f} ms/round")
        print(f"    {label} {r['phase']}: " + "; ".join(notes))
    return 1 if failed else 0


def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "-"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "report":
        sys.exit(report(sys.argv[2]))
    if len(sys.argv) == 13 and sys.argv[1] == "run":
        done = asyncio.run(run(sys.argv[2:]))
        with open(sys.argv[12], "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in done)
        sys.exit(1 if any(r.get("failures") or "broken" in r for r in done) else 0)
    sys.exit(__doc__)
