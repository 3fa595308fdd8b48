//! Export and import: NDJSON round trips, bounded pages and exports, ChatGPT files.

use super::*;

/// Export then import reproduces a thread's tree, active branch, judgements and summaries under
/// new ids; re-importing skips it; bad files are refused whole.
pub async fn export_and_import<S: Store>(store: S) {
    let s = Fixture::new(store);
    let (t, _) = s
        .threads
        .create(
            &alice(),
            CreateThread {
                title: Some("Trip".into()),
                external_id: Some("trip-1".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    let [q, a] = s.chain(&alice(), t.id, ["Where to?", "Lisbon"]).await;
    s.messages
        .reaction(&alice(), t.id, a.id, Some("👍".into()))
        .await
        .unwrap();
    let gone = s.say(&alice(), t.id, user("oops")).await;
    s.messages
        .delete(&alice(), t.id, gone.id, DeleteScope::Subtree)
        .await
        .unwrap();
    s.messages
        .edit(
            &alice(),
            t.id,
            q.id,
            chat_threads_application::EditInput {
                content: "Where to in May?".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.messages
        .set_active_leaf(&alice(), t.id, a.id)
        .await
        .unwrap();
    s.summaries
        .add(&alice(), t.id, a.id, "Lisbon chosen".into(), None)
        .await
        .unwrap();

    let lines = s
        .transfer
        .export_thread(&alice(), t.id)
        .await
        .unwrap()
        .lines()
        .await
        .unwrap();
    assert_eq!(
        lines.len(),
        1 + 4 + 1,
        "thread, four messages (one deleted), one summary"
    );
    let body = lines.join("\n");
    let out = s.transfer.import_ndjson(&bob(), &body).await.unwrap();
    let ImportOutcome::Imported { id, messages, .. } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(*messages, 4);
    let copy = s.threads.get(&bob(), *id, false).await.unwrap();
    assert_eq!((copy.title.as_str(), copy.message_count), ("Trip", 3));
    assert_eq!(copy.owner, bob().owner());
    let path = s
        .messages
        .active_path(&bob(), *id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(
        texts(&path.data),
        ["Where to?", "Lisbon"],
        "the active branch survives"
    );
    assert_eq!(
        path.data[1].reaction.as_ref().map(|r| r.as_str()),
        Some("👍")
    );
    assert_eq!(s.messages.branches(&bob(), *id).await.unwrap().len(), 2);
    let summaries = s.summaries.list(&bob(), *id).await.unwrap();
    assert_eq!(summaries[0].covers_message_id, path.data[1].id);

    // The same file again: skipped (same external id), nothing duplicated.
    let again = s.transfer.import_ndjson(&bob(), &body).await.unwrap();
    assert!(
        matches!(&again[0], ImportOutcome::Skipped { .. }),
        "{again:?}"
    );
    // Exporting everything covers every live thread.
    s.thread(&alice()).await;
    let extra = s.thread(&alice()).await;
    s.threads.delete(&alice(), extra.id).await.unwrap();
    let all = s.transfer.export_all(&alice()).lines().await.unwrap();
    assert_eq!(
        all.iter()
            .filter(|l| l.contains("\"type\":\"thread\""))
            .count(),
        2,
        "the deleted thread is left out"
    );

    // Bad files are refused whole, naming the line.
    let orphan = body
        .lines()
        .filter(|l| !l.contains("\"type\":\"thread\""))
        .collect::<Vec<_>>()
        .join("\n");
    let err = s.transfer.import_ndjson(&bob(), &orphan).await.unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    let mut reordered: Vec<&str> = body.lines().collect();
    reordered.swap(1, 3);
    let err = s
        .transfer
        .import_ndjson(&bob(), &reordered.join("\n"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation_failed");
    assert!(s.transfer.import_ndjson(&bob(), "{not json").await.is_err());
    assert_eq!(
        s.threads
            .list(&bob(), ListThreads::default())
            .await
            .unwrap()
            .data
            .len(),
        1,
        "nothing half-imported"
    );
}

/// Responses never grow with the data: pages stop at `limits.page_bytes` (with a cursor to the
/// rest), and an export reads the store in small batches, parents always before children.
pub async fn pages_and_exports_are_bounded<S: Store>(store: S) {
    let s = Fixture::new(store);
    let budget = Limits::default().page_bytes;
    let t = s.thread(&alice()).await;
    let big = "x".repeat(budget * 2 / 5); // two fit in a page, three do not
    for _ in 0..5 {
        s.say(&alice(), t.id, user(&big)).await;
    }
    // The whole path (no limit) and a tree page both stop at the budget, then continue.
    let mut seen = 0;
    let mut cursor = None;
    loop {
        let page = s
            .messages
            .active_path(&alice(), t.id, cursor, None, MessageFilter::default())
            .await
            .unwrap();
        assert!(
            !page.data.is_empty() && page.data.len() <= 2,
            "{}",
            page.data.len()
        );
        seen += page.data.len();
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(seen, 5, "every message reached through the cursors");

    // A path longer than one read, without a limit: read back in chunks, every message once,
    // root first, nothing more to follow.
    let deep = s.thread(&alice()).await;
    let mut said = Vec::new();
    for i in 0..300 {
        said.push(s.say(&alice(), deep.id, user(&format!("d{i}"))).await.id);
    }
    let whole = s
        .messages
        .active_path(&alice(), deep.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert!(!whole.has_more);
    let ids: Vec<_> = whole.data.iter().map(|m| m.id).collect();
    assert_eq!(ids, said, "the whole path, in order");
    // Large messages at the end of that long path: the page stops at the budget there, and
    // its cursor leads on into the small ones.
    for _ in 0..3 {
        said.push(s.say(&alice(), deep.id, user(&big)).await.id);
    }
    let last = s
        .messages
        .active_path(&alice(), deep.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    let ids: Vec<_> = last.data.iter().map(|m| m.id).collect();
    assert_eq!(ids, said[said.len() - 2..], "the newest two that fit");
    assert!(last.has_more);
    let next = s
        .messages
        .active_path(
            &alice(),
            deep.id,
            last.next_cursor,
            None,
            MessageFilter::default(),
        )
        .await
        .unwrap();
    assert_eq!(next.data.first().map(|m| m.id), Some(said[0]));
    assert_eq!(next.data.last().map(|m| m.id), Some(said[said.len() - 3]));
    let first = s
        .messages
        .tree(&alice(), t.id, None, Some(100), MessageFilter::default())
        .await
        .unwrap();
    assert_eq!((first.data.len(), first.has_more), (2, true));

    // An export of more messages than one batch, in order.
    let long = s.thread(&alice()).await;
    for i in 0..70 {
        s.say(&alice(), long.id, user(&format!("m{i}"))).await;
    }
    let lines = s
        .transfer
        .export_thread(&alice(), long.id)
        .await
        .unwrap()
        .lines()
        .await
        .unwrap();
    assert_eq!(lines.len(), 1 + 70);
    assert_parents_first(&lines);

    // A child stamped earlier than its parent (possible in imported files) still follows it.
    let tid = uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0042);
    let file = [
        json!({"type": "thread", "id": tid, "title": "Odd clock", "active_leaf_id": null,
               "product": null, "org_id": null, "document_id": null, "external_id": null,
               "system_prompt": null, "model": null, "created_at": null, "updated_at": null,
               "deleted_at": null, "expires_at": null}),
        json!({"type": "message", "id": "00000000-0000-4000-8000-000000000001", "thread_id": tid,
               "parent_id": null, "role": "user", "content": "parent", "model": null,
               "prompt_tokens": null, "completion_tokens": null, "feedback": null, "reaction": null,
               "display_text": null, "edited_at": null, "deleted_at": null,
               "created_at": "2030-01-01T00:00:02Z"}),
        json!({"type": "message", "id": "00000000-0000-4000-8000-000000000002", "thread_id": tid,
               "parent_id": "00000000-0000-4000-8000-000000000001", "role": "assistant",
               "content": "child", "model": null, "prompt_tokens": null, "completion_tokens": null,
               "feedback": null, "reaction": null, "display_text": null, "edited_at": null,
               "deleted_at": null, "created_at": "2030-01-01T00:00:01Z"}),
    ]
    .map(|l| l.to_string())
    .join("\n");
    let out = s.transfer.import_ndjson(&alice(), &file).await.unwrap();
    let ImportOutcome::Imported { id, .. } = &out[0] else {
        panic!("{out:?}")
    };
    let lines = s
        .transfer
        .export_thread(&alice(), *id)
        .await
        .unwrap()
        .lines()
        .await
        .unwrap();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[1].contains("\"parent\"") && lines[2].contains("\"child\""),
        "{lines:?}"
    );
    assert_parents_first(&lines);
}

fn assert_parents_first(lines: &[String]) {
    let mut seen = std::collections::HashSet::new();
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if v["type"] == "message" {
            if let Some(p) = v["parent_id"].as_str() {
                assert!(seen.contains(p), "parent {p} after its child");
            }
            seen.insert(v["id"].as_str().unwrap().to_owned());
        }
    }
}

/// ChatGPT's conversations.json: the mapping tree, hidden nodes dropped, current_node active.
pub async fn chatgpt_import<S: Store>(store: S) {
    let s = Fixture::new(store);
    let export = json!([{
        "title": "Rust help",
        "create_time": 1_700_000_000.5,
        "update_time": 1_700_000_100.0,
        "conversation_id": "conv-1",
        "current_node": "a2",
        "mapping": {
            "root": {"id": "root", "message": null, "parent": null, "children": ["sys"]},
            "sys": {"id": "sys", "parent": "root", "children": ["u1"],
                    "message": {"author": {"role": "system"}, "content": {"content_type": "text", "parts": [""]}}},
            "u1": {"id": "u1", "parent": "sys", "children": ["a1", "a2"],
                   "message": {"author": {"role": "user"}, "create_time": 1_700_000_001.0,
                               "content": {"content_type": "text", "parts": ["What is a lifetime?"]}}},
            "a1": {"id": "a1", "parent": "u1", "children": [],
                   "message": {"author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["First answer"]},
                               "metadata": {"model_slug": "gpt-4o"}}},
            "a2": {"id": "a2", "parent": "u1", "children": [],
                   "message": {"author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["Regenerated ", "answer"]}}}
        }
    }]);
    let out = s
        .transfer
        .import_chatgpt(&alice(), export.to_string().as_bytes())
        .await
        .unwrap();
    let ImportOutcome::Imported { id, messages, .. } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        *messages, 3,
        "the empty root and hidden system prompt are dropped"
    );
    let t = s.threads.get(&alice(), *id, false).await.unwrap();
    assert_eq!(t.title.as_str(), "Rust help");
    assert_eq!(
        t.external_id.as_ref().map(|e| e.as_str()),
        Some("chatgpt:conv-1")
    );
    let path = s
        .messages
        .active_path(&alice(), *id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(
        texts(&path.data),
        ["What is a lifetime?", "Regenerated \nanswer"]
    );
    assert_eq!(path.data[0].depth, 0);
    assert_eq!(s.messages.branches(&alice(), *id).await.unwrap().len(), 2);
    let again = s
        .transfer
        .import_chatgpt(&alice(), export.to_string().as_bytes())
        .await
        .unwrap();
    assert!(matches!(&again[0], ImportOutcome::Skipped { .. }));
    assert!(s.transfer.import_chatgpt(&alice(), b"{}").await.is_err());
}
