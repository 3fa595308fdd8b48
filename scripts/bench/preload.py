"""Writes NDJSON imports of THREADS threads with MESSAGES messages each, in files of at most
CHUNK threads (scripts/bench-http.sh posts them to /v1/import).

Usage: preload.py OUT_DIR THREADS MESSAGES CHUNK"""
import json
import os
import sys
import uuid

out, threads, messages, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
os.makedirs(out, exist_ok=True)
for start in range(0, threads, chunk):
    with open(os.path.join(out, f"import-{start:06d}.ndjson"), "w") as f:
        for t in range(start, min(start + chunk, threads)):
            tid = str(uuid.uuid4())
            f.write(json.dumps({"type": "thread", "id": tid, "title": f"bench {t}"}) + "\n")
            parent = None
            for m in range(messages):
                mid = str(uuid.uuid4())
                role = "user" if m % 2 == 0 else "assistant"
                f.write(json.dumps({"type": "message", "id": mid, "thread_id": tid,
                                    "parent_id": parent, "role": role,
                                    "content": f"message {m} of thread {t}: some words to index"}) + "\n")
                parent = mid
