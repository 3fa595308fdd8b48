//! Balances: credits, the ledger, holds placed with a reply and debits with its usage.

use super::*;

/// Balances: credits and the ledger; a reply's hold is placed with its start and refused when
/// the balance minus live holds cannot cover it (nothing stored); the debit goes with the usage
/// and drops the hold; a reply that ends without a debit stops holding; an account id names one
/// balance per organization; an unstored completion's hold lasts until it is released or its
/// instance is gone; ledger entries are numbered 1, 2, 3 … per balance.
pub async fn balances_hold_and_debit<S: Store>(store: S) {
    use chat_threads_application::Anchor;
    use chat_threads_domain::MessageStatus;
    let s = Fixture::new(store.clone());
    let now = chat_threads_domain::to_micros(chrono::Utc::now());
    let credit = |amount: i64, org: Option<&str>| NewCredit {
        id: uuid::Uuid::now_v7(),
        account: "user:alice".into(),
        org_id: org.map(str::to_owned),
        amount,
        max_balance: 1_000,
        note: Some("top-up".into()),
        actor: "service:billing".into(),
        at: now,
    };
    assert_eq!(
        store.balance("user:alice", Some("acme")).await.unwrap(),
        None
    );
    let (b, entry) = store.credit(credit(10, Some("acme"))).await.unwrap();
    assert_eq!(
        (b.amount, b.held, b.org_id.as_deref()),
        (10, 0, Some("acme"))
    );
    assert_eq!(
        (entry.kind.as_str(), entry.amount, entry.balance_after),
        ("credit", 10, 10)
    );
    assert_eq!(entry.actor.as_deref(), Some("service:billing"));
    // The same account id in another organization is another balance.
    let (other, entry) = store.credit(credit(5, Some("other"))).await.unwrap();
    assert_eq!(
        (other.amount, other.org_id.as_deref(), entry.seq),
        (5, Some("other"), 1)
    );
    assert_eq!(
        store
            .balance("user:alice", Some("acme"))
            .await
            .unwrap()
            .unwrap()
            .amount,
        10
    );
    assert_eq!(store.balance("user:alice", None).await.unwrap(), None);
    assert!(matches!(
        store.credit(credit(991, Some("acme"))).await,
        Err(AppError::Domain(
            chat_threads_domain::DomainError::LimitExceeded { .. }
        ))
    ));

    let msg = |role: Role, status: MessageStatus| new_message(role, status, now);
    let start = |amount: i64| chat_threads_application::replies::ReplyStart {
        busy_since: now - chrono::TimeDelta::hours(1),
        user: Some((
            Anchor::Append(None),
            msg(Role::User, MessageStatus::Complete),
        )),
        reply: (None, msg(Role::Assistant, MessageStatus::Streaming)),
        hold: Some(Hold {
            account: "user:alice".into(),
            org: Some("acme".into()),
            amount,
        }),
    };
    let scope = alice().scope();
    let t1 = s.thread(&alice()).await;
    let t2 = s.thread(&alice()).await;
    let (_, r1) = store
        .begin_reply("i", &scope, t1.id, start(8))
        .await
        .unwrap();
    assert_eq!(
        store
            .balance("user:alice", Some("acme"))
            .await
            .unwrap()
            .unwrap()
            .held,
        8
    );
    // The second reply would need 3 with 2 available: refused, and nothing of it is stored.
    let err = store
        .begin_reply("i", &scope, t2.id, start(3))
        .await
        .unwrap_err();
    match &err {
        AppError::InsufficientBalance {
            balance,
            held,
            available,
            required,
            ..
        } => assert_eq!((*balance, *held, *available, *required), (10, 8, 2, 3)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.threads
            .get(&alice(), t2.id, false)
            .await
            .unwrap()
            .message_count,
        0
    );
    let (_, r2) = store
        .begin_reply("i", &scope, t2.id, start(2))
        .await
        .unwrap();
    assert_eq!(
        store
            .balance("user:alice", Some("acme"))
            .await
            .unwrap()
            .unwrap()
            .held,
        10
    );

    // The first reply costs 3: debited with its usage, its hold gone.
    let usage = Usage {
        prompt_tokens: 40,
        completion_tokens: 2,
    };
    let charge = Charge {
        id: uuid::Uuid::now_v7(),
        account: "user:alice".into(),
        org: Some("acme".into()),
        amount: 3,
        kind: ChargeKind::Reply,
        thread_id: Some(t1.id),
        message_id: Some(r1.id),
        hold: Some(r1.id.as_uuid()),
        at: now + chrono::TimeDelta::seconds(1),
    };
    store
        .add_usage(&alice().owner(), "2026-11-24", "m", usage, Some(&charge))
        .await
        .unwrap();
    let b = store
        .balance("user:alice", Some("acme"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((b.amount, b.held), (7, 2), "debited, and only r2 holds");
    assert_eq!(
        store
            .usage_on(&alice().owner(), "2026-11-24")
            .await
            .unwrap(),
        usage
    );
    // The second reply fails without a debit: once it no longer streams, it holds nothing.
    store
        .release_reply(
            t2.id,
            r2.id,
            MessageStatus::Failed,
            now,
            &chat_threads_application::feed::silent,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .balance("user:alice", Some("acme"))
            .await
            .unwrap()
            .unwrap()
            .held,
        0
    );

    // An unstored completion's hold counts while its instance runs it, and goes with a debit
    // that names it, when released, or when its instance is gone.
    let completion = |amount: i64| Hold {
        account: "user:alice".into(),
        org: Some("acme".into()),
        amount,
    };
    let (c1, c2) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    store.hold(&completion(4), c1, "i").await.unwrap();
    store.hold(&completion(3), c2, "dead").await.unwrap();
    assert!(matches!(
        store.hold(&completion(1), uuid::Uuid::now_v7(), "i").await,
        Err(AppError::InsufficientBalance { held: 7, .. })
    ));
    assert_eq!(store.release_dead_holds("i").await.unwrap(), 1);
    let b = store
        .balance("user:alice", Some("acme"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.held, 4, "the dead instance's hold went");
    let settle = Charge {
        id: uuid::Uuid::now_v7(),
        account: "user:alice".into(),
        org: Some("acme".into()),
        amount: 1,
        kind: ChargeKind::Completion,
        thread_id: None,
        message_id: None,
        hold: Some(c1),
        at: now + chrono::TimeDelta::seconds(2),
    };
    store
        .add_usage(&alice().owner(), "2026-11-24", "m", usage, Some(&settle))
        .await
        .unwrap();
    let b = store
        .balance("user:alice", Some("acme"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((b.amount, b.held), (6, 0), "debited, the hold settled");
    let c3 = uuid::Uuid::now_v7();
    store.hold(&completion(6), c3, "i").await.unwrap();
    store.release_hold(c3).await.unwrap();
    let b = store
        .balance("user:alice", Some("acme"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.held, 0);

    let ledger = store
        .ledger("user:alice", Some("acme"), None, 10)
        .await
        .unwrap();
    assert_eq!(
        ledger.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 2, 1],
        "numbered per balance, newest first"
    );
    assert_eq!(ledger[0].kind, "completion");
    let ledger = &ledger[1..];
    let debit = &ledger[0];
    assert_eq!(
        (debit.kind.as_str(), debit.amount, debit.balance_after),
        ("reply", -3, 7)
    );
    assert_eq!(debit.model.as_deref(), Some("m"));
    assert_eq!(
        (debit.prompt_tokens, debit.completion_tokens),
        (Some(40), Some(2))
    );
    assert_eq!(
        (debit.thread_id, debit.message_id),
        (Some(t1.id), Some(r1.id))
    );
    let page = store
        .ledger(
            "user:alice",
            Some("acme"),
            Some(chat_threads_application::billing::LedgerCursor { seq: debit.seq }),
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].kind, "credit");
    assert!(
        store
            .ledger("user:bob", Some("acme"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
