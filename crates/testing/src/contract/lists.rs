//! Thread lists (keyset pages and filters) and full-text search.

use super::*;

/// Thread lists page by keyset with no gap or repeat, and every filter applies.
pub async fn list_filters_and_pages<S: Store>(store: S) {
    let s = Fixture::new(store);
    let mut created = Vec::new();
    for i in 0..23 {
        let org = if i % 3 == 0 { "acme" } else { "globex" };
        let input = CreateThread {
            title: Some(format!("thread {i}")),
            product: Some(
                if i % 2 == 0 {
                    "co_pilot"
                } else {
                    "doc_creator"
                }
                .into(),
            ),
            org_id: Some(org.into()),
            document_id: (i == 5).then(|| "doc-5".to_string()),
            external_id: Some(format!("ext-{i}")),
            ..CreateThread::default()
        };
        created.push(s.threads.create(&alice_in(org), input).await.unwrap().0);
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .threads
            .list(
                &alice(),
                ListThreads {
                    cursor,
                    limit: Some(7),
                    ..ListThreads::default()
                },
            )
            .await
            .unwrap();
        assert!(page.data.len() <= 7);
        seen.extend(page.data.iter().map(|t| t.id));
        if !page.has_more {
            assert!(page.next_cursor.is_none());
            break;
        }
        cursor = page.next_cursor;
    }
    let expected: Vec<_> = created.iter().rev().map(|t| t.id).collect();
    assert_eq!(seen, expected, "newest first, every thread once");

    let count = |f: ListThreads| {
        let threads = &s.threads;
        async move {
            threads
                .list(
                    &alice(),
                    ListThreads {
                        limit: Some(100),
                        ..f
                    },
                )
                .await
                .unwrap()
                .data
                .len()
        }
    };
    assert_eq!(
        count(ListThreads {
            product: Some("co_pilot".into()),
            ..ListThreads::default()
        })
        .await,
        12
    );
    assert_eq!(
        count(ListThreads {
            org_id: Some("acme".into()),
            ..ListThreads::default()
        })
        .await,
        8
    );
    assert_eq!(
        count(ListThreads {
            document_id: Some("doc-5".into()),
            ..ListThreads::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(ListThreads {
            external_id: Some("ext-7".into()),
            ..ListThreads::default()
        })
        .await,
        1
    );
    s.threads.archive(&alice(), created[0].id).await.unwrap();
    s.threads.delete(&alice(), created[1].id).await.unwrap();
    assert_eq!(
        count(ListThreads {
            status: Some("archived".into()),
            ..ListThreads::default()
        })
        .await,
        1
    );
    assert_eq!(count(ListThreads::default()).await, 22);
    assert_eq!(
        count(ListThreads {
            deleted: DeletedFilter::Include,
            ..ListThreads::default()
        })
        .await,
        23
    );
    assert_eq!(
        count(ListThreads {
            deleted: DeletedFilter::Only,
            ..ListThreads::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(ListThreads {
            product: Some("co_pilot".into()),
            org_id: Some("acme".into()),
            ..ListThreads::default()
        })
        .await,
        4
    );
    let bad = s
        .threads
        .list(
            &alice(),
            ListThreads {
                limit: Some(101),
                ..ListThreads::default()
            },
        )
        .await;
    assert_eq!(bad.unwrap_err().code(), "validation_failed");
    let bad = s
        .threads
        .list(
            &alice(),
            ListThreads {
                cursor: Some("x".into()),
                ..ListThreads::default()
            },
        )
        .await;
    assert!(matches!(bad, Err(AppError::InvalidCursor)));
}

/// Titles and message content are searchable by word.
pub async fn text_search<S: Store>(store: S) {
    let s = Fixture::new(store);
    let (t1, _) = s
        .threads
        .create(
            &alice(),
            CreateThread {
                title: Some("Quarterly budget review".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    let (t2, _) = s
        .threads
        .create(
            &alice(),
            CreateThread {
                title: Some("Holiday plans".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    s.say(&alice(), t1.id, user("What is the marketing budget?"))
        .await;
    let hit = s
        .say(
            &alice(),
            t2.id,
            assistant("Book the flights to Lisbon early"),
        )
        .await;
    let gone = s.say(&alice(), t2.id, user("Lisbon hotels please")).await;
    s.messages
        .delete(&alice(), t2.id, gone.id, DeleteScope::Subtree)
        .await
        .unwrap();

    let by_title = s
        .threads
        .list(
            &alice(),
            ListThreads {
                text: Some("budget".into()),
                ..ListThreads::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        by_title.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t1.id]
    );
    let by_title = s
        .threads
        .list(
            &alice(),
            ListThreads {
                text: Some("holiday plans".into()),
                ..ListThreads::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        by_title.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t2.id]
    );

    let hits = s
        .threads
        .search(&alice(), find("lisbon", None, None))
        .await
        .unwrap()
        .data;
    assert_eq!(hits.len(), 1, "deleted messages are not found: {hits:?}");
    assert_eq!((hits[0].thread_id, hits[0].message_id), (t2.id, hit.id));
    assert_eq!(hits[0].thread_title, "Holiday plans");
    assert!(hits[0].snippet.contains("[Lisbon]"), "{}", hits[0].snippet);
    // Every word matches as a prefix, on every backend, through the index.
    let prefix = s
        .threads
        .search(&alice(), find("LISB", None, None))
        .await
        .unwrap()
        .data;
    assert_eq!(
        prefix.iter().map(|h| h.message_id).collect::<Vec<_>>(),
        vec![hit.id]
    );
    let by_title = s
        .threads
        .list(
            &alice(),
            ListThreads {
                text: Some("holi pla".into()),
                ..ListThreads::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        by_title.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t2.id]
    );
    assert!(
        s.threads
            .search(&alice(), find("nothing-matches-this", None, None))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    // Search syntax characters are taken literally, never as an error.
    assert!(
        s.threads
            .search(&alice(), find("\"budget* OR (", None, None))
            .await
            .is_ok()
    );
    let err = s
        .threads
        .search(&alice(), find("   ", None, None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation_failed");
    // Search pages newest first with a cursor: no hit twice, none skipped.
    for i in 0..5 {
        s.say(&alice(), t2.id, user(&format!("porto trip day {i}")))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .threads
            .search(&alice(), find("porto", cursor.take(), Some(2)))
            .await
            .unwrap();
        assert!(page.data.len() <= 2);
        seen.extend(page.data.iter().map(|h| h.snippet.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).rev().map(|i| format!("day {i}")).collect();
    assert_eq!(seen.len(), 5, "{seen:?}");
    for (snippet, day) in seen.iter().zip(&expected) {
        assert!(snippet.contains(day.as_str()), "{seen:?}");
    }
    let err = s
        .threads
        .search(&alice(), find("porto", Some("garbage".into()), None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_cursor");
}
