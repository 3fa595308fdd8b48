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


@schemathesis.hook
def filter_body(ctx, body):
    """An upload is multipart/form-data: schemathesis sends a property whose value is an empty
    list (or null) as no part at all, so a body "with an extra property" would reach the server
    as a valid upload and be reported as a schema violation that was accepted. Such bodies are
    not generated; extra parts that are actually sent are refused (400) and still tested."""
    operation = ctx.operation
    if operation is None or operation.path != "/v1/files" or not isinstance(body, dict):
        return True
    return all(value is not None and value != [] for value in body.values())
