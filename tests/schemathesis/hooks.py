"""schemathesis hooks for chat-threads (loaded through schemathesis.toml)."""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    """Imports take NDJSON: a string is sent as it is, anything else one JSON value per line."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, list):
        return "".join(json.dumps(v) + "\n" for v in value).encode()
    return (json.dumps(value) + "\n").encode()


@schemathesis.hook
def map_query(ctx, query):
    """Cursors are opaque and issued by the server: a made-up one is rightly refused
    (400 invalid_cursor), so generated requests start from the first page."""
    if query:
        query.pop("cursor", None)
    return query
