//! Threads: their lifecycle, soft delete and purge, and who may see and change them.

use super::*;

/// Create, read, update, archive a thread; external ids are unique per owner.
pub async fn thread_lifecycle<S: Store>(store: S) {
    let s = Fixture::new(store);
    let (t, created) = s
        .threads
        .create(
            &alice_in("acme"),
            CreateThread {
                title: Some("  Planning  ".into()),
                product: Some("co_pilot".into()),
                org_id: Some("acme".into()),
                document_id: Some("doc-1".into()),
                external_id: Some("ext-1".into()),
                metadata: Some(json!({"source": "web", "n": 1})),
                system_prompt: Some("Be brief.".into()),
                model: Some("echo".into()),
                expires_at: None,
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    assert!(created);
    assert_eq!(t.title.as_str(), "Planning");
    let got = s.threads.get(&alice(), t.id, false).await.unwrap();
    assert_eq!(got, t, "a thread reads back exactly as created");

    let (again, created) = s
        .threads
        .create(
            &alice(),
            CreateThread {
                external_id: Some("ext-1".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(
        again.id, t.id,
        "an existing external id returns the existing thread"
    );
    let (bobs, created) = s
        .threads
        .create(
            &bob(),
            CreateThread {
                external_id: Some("ext-1".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap();
    assert!(
        created && bobs.id != t.id,
        "external ids are unique per owner only"
    );

    let updated = s
        .threads
        .update(
            &alice(),
            t.id,
            UpdateThread {
                title: Some("Renamed".into()),
                metadata: Some(json!({"k": "v"})),
                system_prompt: Some(None),
                model: Some(Some("gpt-4o".into())),
                status: None,
                ..UpdateThread::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.title.as_str(), "Renamed");
    assert_eq!(updated.metadata.to_value(), json!({"k": "v"}));
    assert_eq!(updated.system_prompt, None);
    assert_eq!(updated.model.as_ref().map(|m| m.as_str()), Some("gpt-4o"));
    assert!(updated.updated_at >= t.updated_at);

    let archived = s.threads.archive(&alice(), t.id).await.unwrap();
    assert_eq!(archived.status, ThreadStatus::Archived);
    let bad = s
        .threads
        .update(
            &alice(),
            t.id,
            UpdateThread {
                status: Some("gone".into()),
                ..UpdateThread::default()
            },
        )
        .await;
    assert_eq!(bad.unwrap_err().code(), "validation_failed");
    let too_long = s
        .threads
        .create(
            &alice(),
            CreateThread {
                title: Some("x".repeat(201)),
                ..CreateThread::default()
            },
        )
        .await;
    assert_eq!(too_long.unwrap_err().code(), "limit_exceeded");
}

/// Another owner's thread does not exist for them, for reads and writes alike.
pub async fn owners_are_isolated<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    let m = s.say(&alice(), t.id, user("secret")).await;
    assert!(matches!(
        s.threads.get(&bob(), t.id, true).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.messages.append(&bob(), t.id, user("x")).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.messages.get(&bob(), t.id, m.id).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.threads.delete(&bob(), t.id).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.threads.purge(&bob(), t.id).await,
        Err(AppError::ThreadNotFound)
    ));
    let page = s
        .threads
        .list(&bob(), ListThreads::default())
        .await
        .unwrap();
    assert!(page.data.is_empty());
    assert!(
        s.threads
            .search(&bob(), find("secret", None, None))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    // Bob cannot hang a message under Alice's message either.
    let bt = s.thread(&bob()).await;
    let err = s
        .messages
        .append(
            &bob(),
            bt.id,
            AppendMessage {
                parent_id: Some(m.id),
                ..user("x")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "parent_not_found",
        "another owner's message is unknown, not foreign"
    );
    // Alice's data is unchanged.
    assert_eq!(
        s.threads
            .get(&alice(), t.id, false)
            .await
            .unwrap()
            .message_count,
        1
    );
}

/// Soft delete hides, restore brings back, purge removes everything.
pub async fn delete_restore_purge<S: Store>(store: S) {
    let s = Fixture::new(store);
    let t = s.thread(&alice()).await;
    let m = s.say(&alice(), t.id, user("hi")).await;
    s.summaries
        .add(&alice(), t.id, m.id, "greeting".into(), None)
        .await
        .unwrap();

    let deleted = s.threads.delete(&alice(), t.id).await.unwrap();
    assert!(deleted.deleted_at.is_some());
    assert!(matches!(
        s.threads.get(&alice(), t.id, false).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(s.threads.get(&alice(), t.id, true).await.is_ok());
    assert!(matches!(
        s.messages.append(&alice(), t.id, user("x")).await,
        Err(AppError::ThreadNotFound)
    ));
    let live = s
        .threads
        .list(&alice(), ListThreads::default())
        .await
        .unwrap();
    assert!(live.data.is_empty());
    let trash = s
        .threads
        .list(
            &alice(),
            ListThreads {
                deleted: DeletedFilter::Only,
                ..ListThreads::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(trash.data.len(), 1);

    let restored = s.threads.restore(&alice(), t.id).await.unwrap();
    assert!(restored.deleted_at.is_none());
    assert_eq!(restored.message_count, 1);
    assert_eq!(
        s.messages
            .get(&alice(), t.id, m.id)
            .await
            .unwrap()
            .content
            .as_str(),
        "hi"
    );

    s.threads.purge(&alice(), t.id).await.unwrap();
    assert!(matches!(
        s.threads.get(&alice(), t.id, true).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.threads.purge(&alice(), t.id).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(
        s.threads
            .search(&alice(), find("hi", None, None))
            .await
            .unwrap()
            .data
            .is_empty()
    );
}

/// An org admin reads the org's threads but cannot change them; members file threads under
/// their own org only.
pub async fn org_admin_reads_the_org<S: Store>(store: S) {
    let s = Fixture::new(store);
    let dave = Principal::user("dave", Some("acme"));
    let mut carol = Principal::user("carol", Some("acme"));
    carol.scopes.push(SCOPE_ORG_ADMIN.into());
    let outsider = {
        let mut p = Principal::user("erin", Some("globex"));
        p.scopes.push(SCOPE_ORG_ADMIN.into());
        p
    };
    let t = s.thread(&dave).await;
    assert_eq!(
        t.org_id.as_ref().map(|o| o.as_str()),
        Some("acme"),
        "defaults to the member's org"
    );
    let m = s.say(&dave, t.id, user("plan")).await;
    let err = s
        .threads
        .create(
            &dave,
            CreateThread {
                org_id: Some("globex".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    // Without an organization, there is none to file a thread under.
    let err = s
        .threads
        .create(
            &bob(),
            CreateThread {
                org_id: Some("acme".into()),
                ..CreateThread::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");

    assert_eq!(s.threads.get(&carol, t.id, false).await.unwrap().id, t.id);
    let listed = s
        .threads
        .list(&carol, ListThreads::default())
        .await
        .unwrap();
    assert_eq!(
        listed.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t.id]
    );
    let path = s
        .messages
        .active_path(&carol, t.id, None, None, MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(texts(&path.data), ["plan"]);
    assert!(s.messages.get(&carol, t.id, m.id).await.is_ok());

    assert!(matches!(
        s.messages.append(&carol, t.id, user("x")).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.threads.delete(&carol, t.id).await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.messages
            .reaction(&carol, t.id, m.id, Some("👍".into()))
            .await,
        Err(AppError::ThreadNotFound)
    ));
    assert!(matches!(
        s.threads.get(&outsider, t.id, false).await,
        Err(AppError::ThreadNotFound)
    ));
    let plain = Principal::user("carol", Some("acme"));
    assert!(matches!(
        s.threads.get(&plain, t.id, false).await,
        Err(AppError::ThreadNotFound)
    ));
    assert_eq!(
        s.threads
            .get(&dave, t.id, false)
            .await
            .unwrap()
            .message_count,
        1
    );
}
