"""A short round trip through the Python client generated from /openapi.json, run by
tests/contract.rs: create a thread, append, list, chat, read an error code; then check that
/metrics parses with the Prometheus client's own parser.

Usage: roundtrip.py BASE_URL TOKEN  (the generated package must be importable)."""

import sys
import uuid

from chat_threads_client import AuthenticatedClient
from chat_threads_client.api.messages import append_message, list_messages
from chat_threads_client.api.replies import chat, list_models
from chat_threads_client.api.search import search_messages
from chat_threads_client.api.threads import create_thread, get_thread
from chat_threads_client.models import (
    AppendMessageBody,
    ChatBody,
    CreateThreadBody,
    ErrorBody,
    MessageDto,
    PageDtoMessageDto,
    PageDtoModelDto,
    PageDtoSearchHitDto,
    ReplyDto,
    ThreadDto,
)
from chat_threads_client.models.error_code import ErrorCode


def check(condition, what):
    if not condition:
        raise SystemExit(f"round trip failed: {what}")


def main():
    base, token = sys.argv[1], sys.argv[2]
    client = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)

    created = create_thread.sync_detailed(client=client, body=CreateThreadBody(title="From Python"))
    check(created.status_code == 201, f"create_thread answered {created.status_code}")
    thread = created.parsed
    check(isinstance(thread, ThreadDto), f"create_thread parsed as {type(thread)}")
    check(thread.title == "From Python", thread.title)

    appended = append_message.sync(
        thread_id=thread.id, client=client, body=AppendMessageBody(content="hello from the SDK")
    )
    check(isinstance(appended, MessageDto), f"append_message parsed as {type(appended)}")
    check(appended.content == "hello from the SDK", appended.content)

    page = list_messages.sync(thread_id=thread.id, client=client)
    check(isinstance(page, PageDtoMessageDto), f"list_messages parsed as {type(page)}")
    check([m.id for m in page.data] == [appended.id], "the list holds the appended message")
    check(isinstance(page.data[0], MessageDto), f"page items are {type(page.data[0])}")
    check(page.has_more is False, "one page")

    reply = chat.sync(thread_id=thread.id, client=client, body=ChatBody(content="echo this"))
    check(isinstance(reply, ReplyDto), f"chat parsed as {type(reply)}")
    check(reply.assistant_message.status == "complete", reply.assistant_message.status)
    check("echo this" in reply.assistant_message.content, reply.assistant_message.content)

    models = list_models.sync(client=client)
    check(isinstance(models, PageDtoModelDto), f"list_models parsed as {type(models)}")
    check(any(m.id == "echo" for m in models.data), "echo is listed")

    hits = search_messages.sync(client=client, q="sdk", limit=5)
    check(isinstance(hits, PageDtoSearchHitDto), f"search parsed as {type(hits)}")
    check([h.message_id for h in hits.data] == [appended.id], "search finds the message")

    missing = get_thread.sync_detailed(thread_id=uuid.uuid4(), client=client)
    check(missing.status_code == 404, f"unknown thread answered {missing.status_code}")
    check(isinstance(missing.parsed, ErrorBody), f"404 parsed as {type(missing.parsed)}")
    check(missing.parsed.error.code == ErrorCode.THREAD_NOT_FOUND, str(missing.parsed.error.code))

    # The metrics endpoint parses with the Prometheus client's parser.
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get_httpx_client().get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "http_requests",
        "http_request_duration_seconds",
        "chat_replies_running",
        "chat_websocket_connections",
        "chat_sse_followers",
        "chat_db_pool_in_use",
        "chat_db_pool_idle",
        "chat_event_bus_queue",
    ):
        check(name in families, f"{name} not in /metrics ({sorted(families)})")
    created_threads = [
        s.value
        for s in families["http_requests"].samples
        if s.name == "http_requests_total"
        and s.labels == {"method": "POST", "route": "/v1/threads", "status": "201"}
    ]
    check(created_threads == [1.0], f"POST /v1/threads counted {created_threads}")
    print("round trip ok")


if __name__ == "__main__":
    main()
