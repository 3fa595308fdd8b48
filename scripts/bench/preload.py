"""The data of scripts/bench-http.sh, one definition of its sizes for the service and for pgbench.

A thread alternates user messages of USER_BYTES and assistant messages of ASSISTANT_BYTES
(words of English, so the service's full-text columns index something realistic), each with
METADATA; a page of 50 is then ~45 KB of content. An append posts a user message of
USER_BYTES with METADATA.

Usage:
  preload.py import OUT_DIR THREADS MESSAGES CHUNK
      NDJSON imports for POST /v1/import, in files of at most CHUNK threads.
  preload.py minimal THREADS MESSAGES
      CSV (thread_id, role, content, metadata) of the same messages for the minimal ceiling's
      mini_messages, threads numbered 1..THREADS (COPY ... FROM STDIN WITH (FORMAT csv)).
  preload.py content
      The content of an append (one line).
  preload.py metadata
      The metadata of every message and append (one line of JSON).
  preload.py feed
      The data of an append's change feed entry (one line of JSON), for the replay ceiling."""
import csv
import json
import os
import random
import sys
import uuid

USER_BYTES = 300
ASSISTANT_BYTES = 1500
METADATA = {"source": "web", "locale": "en-US", "client": "bench/1.0"}

WORDS = """the a to of and in is it you that for on with as this was be are have not but what
all were when we there can an your which their said if do will each about how up out them then
she many some so these would other into has more her two like him see time could no make than
first been its who now people my made over did down only way find use may water long little very
after words called just where most know get through back much before go good new write our used
me man too any day same right look think also around another came come work three word must
because does part even place well such here take why things help put years different away again
off went old number great tell men say small every found still between name should home big give
air line set own under read last never us left end along while might next sound below saw
something thought both few those always looks show large often together asked house world going
want school important until form food keep children feet land side without boy once animals life
enough took sometimes four head above kind began almost live page got earth need far hand high
year mother light parts country father let night following picture being study second eyes soon
times story boys since white days ever paper hard near sentence better best across during today
others however sure means knew its try told young miles sun ways thing whole hear example heard
several change answer room sea against top turned learn point city play toward five using himself
usually query index database thread message reply model server request latency cache transaction
commit""".split()

ROLES = ("user", "assistant")


def text(rng, size):
    """About `size` bytes of words (ASCII, no quotes): cut at `size`, then at the last space."""
    out, n = [], 0
    while n < size:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    s = " ".join(out)[:size]
    if " " in s[-12:]:
        s = s[: s.rindex(" ")]
    return s.capitalize() + "."


def message(rng, m):
    """Role and content of the m-th message of a thread (0-based)."""
    role = ROLES[m % 2]
    return role, text(rng, USER_BYTES if role == "user" else ASSISTANT_BYTES)


def write_imports(out, threads, messages, chunk):
    os.makedirs(out, exist_ok=True)
    rng = random.Random(1)
    for start in range(0, threads, chunk):
        with open(os.path.join(out, f"import-{start:06d}.ndjson"), "w") as f:
            for t in range(start, min(start + chunk, threads)):
                tid = str(uuid.uuid4())
                f.write(json.dumps({"type": "thread", "id": tid, "title": f"bench {t}"}) + "\n")
                parent = None
                for m in range(messages):
                    mid = str(uuid.uuid4())
                    role, content = message(rng, m)
                    f.write(json.dumps({"type": "message", "id": mid, "thread_id": tid,
                                        "parent_id": parent, "role": role, "content": content,
                                        "metadata": METADATA}) + "\n")
                    parent = mid


def write_minimal(threads, messages):
    rng = random.Random(1)
    w = csv.writer(sys.stdout, lineterminator="\n")
    meta = json.dumps(METADATA)
    for t in range(1, threads + 1):
        for m in range(messages):
            role, content = message(rng, m)
            w.writerow((t, role, content, meta))


def feed_entry(content):
    """The data of an append's `message.created` change feed entry, shaped as the service
    writes it (no parent, depth 0: the append statement writes in the ones it chose)."""
    at = "2026-12-06T00:00:00.000000Z"
    tid = "01900000-0000-7000-8000-000000000000"
    message = {
        "id": "01900000-0000-7000-8000-000000000001", "thread_id": tid, "parent_id": None,
        "depth": 0, "role": "user", "content": content, "content_type": "text",
        "display_text": None, "status": "complete", "model": None, "prompt_tokens": None,
        "completion_tokens": None, "feedback": None, "reaction": None, "metadata": METADATA,
        "edited_at": None, "created_at": at, "updated_at": at, "deleted_at": None,
        "version": 1, "tombstoned_at": None, "attachments": [], "parts": [],
        "author": {"id": "user:bench", "name": None},
    }
    data = {"type": "message.created", "message": message, "thread_id": tid}
    return json.dumps(data, separators=(",", ":"))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "import":
        write_imports(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "minimal":
        write_minimal(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "content":
        print(text(random.Random(2), USER_BYTES))
    elif mode == "metadata":
        print(json.dumps(METADATA, separators=(",", ":")))
    elif mode == "feed":
        print(feed_entry(text(random.Random(2), USER_BYTES)))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
