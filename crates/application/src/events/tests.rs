//! The hub's tests: event kinds and wire forms, subscribers, rings and presence.

use super::*;

fn delta(thread_id: ThreadId, seq: u64, reply: MessageId) -> ThreadEvent {
    ThreadEvent {
        thread_id,
        seq: Some(seq),
        reply_id: Some(reply),
        data: Event::MessageDelta { delta: "Hi".into() },
    }
}

#[test]
fn one_event_has_one_wire_form_everywhere() {
    let (t, m) = (ThreadId::new(), MessageId::new());
    let e = delta(t, 3, m);
    assert_eq!(
        e.sse_frame(),
        format!(
            "id: 3\nevent: message.delta\ndata: {{\"type\":\"message.delta\",\"delta\":\"Hi\",\
             \"thread_id\":\"{t}\",\"seq\":3,\"message_id\":\"{m}\"}}\n\n"
        )
    );
    let ws: serde_json::Value = serde_json::from_str(&e.ws_frame()).unwrap();
    assert_eq!(ws["event"], "message.delta");
    assert_eq!(ws["id"], 3);
    assert_eq!(ws["data"]["type"], "message.delta");
    let over_the_bus: ThreadEvent =
        serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(over_the_bus, e);
    let unknown = serde_json::json!({"thread_id": t, "seq": null, "reply_id": null,
                                     "data": {"type": "message.exploded"}});
    assert!(serde_json::from_value::<ThreadEvent>(unknown).is_err());
    assert!(EventKind::MessageFailed.ends_reply() && !EventKind::MessageDelta.ends_reply());
}

#[test]
fn every_kind_has_a_distinct_name_and_its_documented_fields() {
    let names: std::collections::HashSet<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names.len(), EventKind::ALL.len());
    let t = ThreadId::new();
    let samples = [
        Event::MessageDelta { delta: "x".into() },
        Event::MessageCompleted {
            content: "x".into(),
            usage: None,
        },
        Event::MessageCancelled {
            content: "x".into(),
            usage: Some(Usage::default()),
        },
        Event::MessageFailed {
            content: String::new(),
            error: EventError::model("boom"),
        },
        Event::MessageDeleted {
            message_id: MessageId::new(),
            scope: DeleteScope::Subtree,
            deleted: 2,
            active_leaf_id: None,
        },
        Event::BranchSwitched {
            active_leaf_id: Some(MessageId::new()),
        },
        Event::TypingStarted(Typing::assistant()),
        Event::TypingStopped(Typing::assistant()),
    ];
    for data in samples {
        let kind = data.kind();
        let wire: serde_json::Value =
            serde_json::from_str(&ThreadEvent::thread(t, data).data_json()).unwrap();
        let mut keys: Vec<&str> = wire
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| !["type", "thread_id", "seq", "message_id"].contains(k))
            .collect();
        let mut want = kind.fields().to_vec();
        if kind == EventKind::MessageDeleted {
            keys.push("message_id");
        }
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want, "{}", kind.as_str());
        assert_eq!(wire["type"], kind.as_str());
    }
}

#[tokio::test]
async fn subscribers_get_their_threads_events_and_presence_follows_guards() {
    let hub = ThreadEvents::default();
    let (a, b) = (ThreadId::new(), ThreadId::new());
    let mut rx = hub.subscribe(a);
    hub.emit(
        b,
        Event::BranchSwitched {
            active_leaf_id: None,
        },
    )
    .await;
    hub.emit(a, Event::TypingStarted(Typing::assistant())).await;
    assert_eq!(rx.recv().await.unwrap().kind(), EventKind::TypingStarted);
    let g1 = hub.join(a);
    let g2 = hub.join(a);
    assert_eq!(hub.presence(a), 2);
    drop(g1);
    assert_eq!(hub.presence(a), 1);
    drop(g2);
    assert_eq!(hub.presence(a), 0);
}

#[tokio::test]
async fn subscribers_of_a_thread_share_one_copy_of_each_event() {
    let hub = ThreadEvents::default();
    let a = ThreadId::new();
    let (mut one, mut two) = (hub.subscribe(a), hub.subscribe(a));
    hub.emit(a, Event::TypingStarted(Typing::assistant())).await;
    let (x, y) = (one.recv().await.unwrap(), two.recv().await.unwrap());
    assert!(Arc::ptr_eq(&x, &y));
    assert_eq!(x.kind(), EventKind::TypingStarted);
}

fn rings(hub: &ThreadEvents) -> usize {
    hub.inner.lock().unwrap().channels.len()
}

#[tokio::test]
async fn a_threads_ring_goes_with_its_last_subscriber() {
    let hub = ThreadEvents::default();
    let (a, b) = (ThreadId::new(), ThreadId::new());
    let first = hub.subscribe(a);
    let mut second = hub.subscribe(a);
    let other = hub.subscribe(b);
    assert_eq!(rings(&hub), 2);
    drop(first);
    assert_eq!(rings(&hub), 2, "a subscriber of the thread is left");
    hub.emit(a, Event::TypingStarted(Typing::assistant())).await;
    assert_eq!(
        second.recv().await.unwrap().kind(),
        EventKind::TypingStarted
    );
    drop(second);
    assert_eq!(
        rings(&hub),
        1,
        "no event came after the last one left, and the ring is gone"
    );
    // Subscribing again makes a new ring, which carries the thread's events as before.
    let mut again = hub.subscribe(a);
    hub.emit(a, Event::TypingStopped(Typing::assistant())).await;
    assert_eq!(again.recv().await.unwrap().kind(), EventKind::TypingStopped);
    drop(other);
    drop(again);
    assert_eq!(rings(&hub), 0);
}
