"""The change feed's lag under load, for scripts/bench-http.sh.

  feed_lag.py BASE TOKEN OUT

Follows `GET /v1/events?after=now&types=message.created` as Server-Sent Events and writes, one
line per event, the milliseconds from the message's `created_at` (stamped by the service just
before the transaction that stores it) to the moment the event's bytes were read here: a change
made, committed, logged in the feed and seen by a tailing client. Runs until killed; the file is
flushed line by line.
"""

import datetime
import http.client
import json
import sys
import time
import urllib.parse


def main():
    base, token, out = sys.argv[1:4]
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=None)
    conn.request(
        "GET",
        "/v1/events?after=now&types=message.created",
        headers={"authorization": f"Bearer {token}", "accept": "text/event-stream"},
    )
    resp = conn.getresponse()
    if resp.status != 200:
        sys.exit(f"feed_lag: {resp.status} {resp.read()[:200]!r}")
    with open(out, "w") as f:
        data = None
        while True:
            line = resp.readline()
            if not line:
                return
            seen = time.time()
            line = line.decode().rstrip("\n")
            if line.startswith("data: "):
                data = line[6:]
            elif line == "" and data is not None:
                event = json.loads(data)
                made = datetime.datetime.fromisoformat(event["message"]["created_at"]).timestamp()
                f.write(f"{(seen - made) * 1000:.3f}\n")
                f.flush()
                data = None


if __name__ == "__main__":
    main()
