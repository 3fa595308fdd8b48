//! Balances through the binary, on SQLite and PostgreSQL: service principals credit, replies on
//! a priced model hold and then pay their cost (with a ledger entry matching the tokens stored on
//! the reply), a balance that cannot cover a reply refuses it with 402 before anything is stored,
//! and concurrent replies — on two instances of one PostgreSQL database — never spend the same
//! money twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::support::{Server, backend_env};
use serde_json::{Value, json};

/// Billing on, echo priced at 1,000 units per million tokens both ways. A reply holds
/// ceil((6,000 prompt + 1,000 completion) × 1,000 / 10^6) = 7.
async fn billing_env(postgres: bool, delay_ms: &str) -> Option<Vec<(String, String)>> {
    let mut env = backend_env(postgres).await?;
    for (k, v) in [
        ("CHAT_THREADS__BILLING__ENABLED", "true"),
        ("CHAT_THREADS__BILLING__HOLD_OUTPUT_TOKENS", "1000"),
        ("CHAT_THREADS__GENERATION__CONTEXT_TOKENS", "6000"),
        (
            "CHAT_THREADS__MODELS__PRICES__ECHO__INPUT_PER_MILLION",
            "1000",
        ),
        (
            "CHAT_THREADS__MODELS__PRICES__ECHO__OUTPUT_PER_MILLION",
            "1000",
        ),
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", delay_ms),
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
        // Every debit here is a reply's; titles are paid too (tests/organize.rs).
        ("CHAT_THREADS__TITLES__ENABLED", "false"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    Some(env)
}

fn start(env: &[(String, String)]) -> Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Server::start(&env)
}

async fn thread(server: &Server, token: &str) -> String {
    let (status, _, t) = server
        .call("POST", "/v1/threads", Some(token), Some(&json!({})))
        .await;
    assert_eq!(status, 201, "{t}");
    t["id"].as_str().unwrap().to_owned()
}

fn cost(reply: &Value) -> i64 {
    let tokens =
        reply["prompt_tokens"].as_i64().unwrap() + reply["completion_tokens"].as_i64().unwrap();
    (tokens * 1000 + 999_999) / 1_000_000
}

async fn replies_pay_from_balances(postgres: bool) {
    let Some(env) = billing_env(postgres, "0").await else {
        return;
    };
    let server = start(&env);
    let alice = server.token(&["--sub", "alice", "--org", "acme"]);
    let bob = server.token(&["--sub", "bob", "--org", "acme"]);
    let service = server.token(&["--sub", "billing", "--org", "acme", "--service"]);
    let stranger = server.token(&["--sub", "billing", "--org", "other", "--service"]);

    // The catalog lists the prices.
    let (_, _, models) = server.call("GET", "/v1/models", Some(&alice), None).await;
    assert_eq!(
        models["data"][0]["pricing"],
        json!({"currency": "USD", "input_per_million": 1000, "output_per_million": 1000})
    );

    // Nothing credited: the reply is refused before anything is stored.
    let (status, _, b) = server
        .call("GET", "/v1/balances/me", Some(&alice), None)
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(
        (
            b["account"].as_str(),
            b["balance"].as_i64(),
            b["currency"].as_str()
        ),
        (Some("user:alice"), Some(0), Some("USD"))
    );
    let tid = thread(&server, &alice).await;
    let chat = format!("/v1/threads/{tid}/chat");
    let (status, _, err) = server
        .call(
            "POST",
            &chat,
            Some(&alice),
            Some(&json!({"content": "hello there"})),
        )
        .await;
    assert_eq!(status, 402, "{err}");
    assert_eq!(err["error"]["code"], "insufficient_balance");
    assert_eq!(
        err["error"]["details"],
        json!({"account": "user:alice", "balance": 0, "held": 0, "available": 0, "required": 7})
    );
    let (_, _, t) = server
        .call("GET", &format!("/v1/threads/{tid}"), Some(&alice), None)
        .await;
    assert_eq!(t["message_count"], 0, "nothing stored");

    // Only service principals credit; an account id names one balance per organization.
    let credit = json!({"amount": 10, "note": "invoice 42"});
    let path = "/v1/balances/user:alice/credits";
    let (status, _, err) = server.call("POST", path, Some(&alice), Some(&credit)).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _, c) = server
        .call("POST", path, Some(&service), Some(&credit))
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["balance"]["balance"], 10);
    assert_eq!(c["entry"]["kind"], "credit");
    assert_eq!(c["entry"]["seq"], 1);
    assert_eq!(c["entry"]["actor"], "service:billing");
    assert_eq!(c["entry"]["note"], "invoice 42");
    // Another organization's service reaches only its own organization's `user:alice`: its
    // credit never lands in acme's balance, and it never reads acme's ledger.
    let (status, _, c) = server
        .call(
            "POST",
            path,
            Some(&stranger),
            Some(&json!({"amount": 1000})),
        )
        .await;
    assert_eq!(
        (status, c["balance"]["balance"].as_i64()),
        (201, Some(1000))
    );
    let (_, _, theirs) = server
        .call(
            "GET",
            "/v1/balances/user:alice/ledger",
            Some(&stranger),
            None,
        )
        .await;
    assert_eq!(theirs["data"].as_array().map(Vec::len), Some(1), "{theirs}");
    assert_eq!(theirs["data"][0]["amount"], 1000);
    let (_, _, mine) = server
        .call("GET", "/v1/balances/me", Some(&alice), None)
        .await;
    assert_eq!(mine["balance"], 10, "acme's balance of alice is untouched");
    let (status, _, err) = server
        .call("GET", "/v1/balances/org:acme", Some(&stranger), None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("balance_not_found"))
    );
    let (status, _, err) = server
        .call("GET", "/v1/balances/user:alice", Some(&bob), None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("balance_not_found"))
    );
    for (body, code) in [
        (json!({"amount": 0}), "validation_failed"),
        (json!({"amount": -5}), "validation_failed"),
        (json!({"amount": "5"}), "validation_failed"),
        (json!({"amount": 5, "extra": 1}), "validation_failed"),
        (
            json!({"amount": 5, "note": "n".repeat(501)}),
            "limit_exceeded",
        ),
    ] {
        let (status, _, err) = server.call("POST", path, Some(&service), Some(&body)).await;
        assert!(matches!(status, 400 | 422), "{body}: {status} {err}");
        assert_eq!(err["error"]["code"], code, "{body}");
    }
    let (status, _, err) = server
        .call(
            "POST",
            "/v1/balances/alice/credits",
            Some(&service),
            Some(&credit),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("validation_failed"))
    );

    // Now the reply runs and pays exactly what its stored tokens cost.
    let (status, _, r) = server
        .call(
            "POST",
            &chat,
            Some(&alice),
            Some(&json!({"content": "hello there"})),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let reply = &r["assistant_message"];
    let paid = cost(reply);
    assert!(paid >= 1);
    let (_, _, b) = server
        .call("GET", "/v1/balances/me", Some(&alice), None)
        .await;
    assert_eq!(
        (b["balance"].as_i64(), b["held"].as_i64()),
        (Some(10 - paid), Some(0))
    );
    let (status, _, page) = server
        .call(
            "GET",
            "/v1/balances/user:alice/ledger?limit=1",
            Some(&service),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let debit = &page["data"][0];
    assert_eq!(debit["kind"], "reply");
    assert_eq!(debit["amount"], -paid);
    assert_eq!(debit["balance_after"], 10 - paid);
    assert_eq!(debit["message_id"], reply["id"]);
    assert_eq!(debit["prompt_tokens"], reply["prompt_tokens"]);
    assert_eq!(debit["model"], "echo");
    assert_eq!(page["has_more"], true);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, _, rest) = server
        .call(
            "GET",
            &format!("/v1/balances/me/ledger?cursor={cursor}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["kind"], "credit");
    assert_eq!(rest["has_more"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_pay_from_balances_on_sqlite() {
    replies_pay_from_balances(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_pay_from_balances_on_postgres() {
    replies_pay_from_balances(true).await;
}

/// Eight replies at once from one balance of 20 (each holds 7), spread over the instances: two
/// start, six are refused, and the balance ends at 20 minus exactly what the two cost.
async fn concurrent_replies_never_overspend(postgres: bool) {
    let Some(env) = billing_env(postgres, "150").await else {
        return;
    };
    let instances = if postgres {
        vec![start(&env), start(&env)]
    } else {
        vec![start(&env)]
    };
    let a = &instances[0];
    let alice = a.token(&["--sub", "alice"]);
    let service = a.token(&["--sub", "billing", "--service"]);
    let (status, _, _) = a
        .call(
            "POST",
            "/v1/balances/user:alice/credits",
            Some(&service),
            Some(&json!({"amount": 20})),
        )
        .await;
    assert_eq!(status, 201);
    let mut threads = Vec::new();
    for _ in 0..8 {
        threads.push(thread(a, &alice).await);
    }
    let calls = threads.iter().enumerate().map(|(i, tid)| {
        let server = &instances[i % instances.len()];
        let alice = alice.clone();
        async move {
            server
                .call(
                    "POST",
                    &format!("/v1/threads/{tid}/chat"),
                    Some(&alice),
                    Some(&json!({"content": "one two three four five six"})),
                )
                .await
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let mut paid = 0;
    let mut refused = 0;
    for (status, _, body) in &results {
        match status {
            201 => paid += cost(&body["assistant_message"]),
            402 => {
                assert_eq!(body["error"]["code"], "insufficient_balance");
                refused += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(refused, 6, "two holds of 7 fit in 20, a third does not");
    let (_, _, b) = instances[instances.len() - 1]
        .call("GET", "/v1/balances/me", Some(&alice), None)
        .await;
    assert_eq!(
        (b["balance"].as_i64(), b["held"].as_i64()),
        (Some(20 - paid), Some(0))
    );
    let (_, _, ledger) = a
        .call("GET", "/v1/balances/me/ledger", Some(&alice), None)
        .await;
    let entries = ledger["data"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "one credit, two replies");
    let total: i64 = entries.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
    assert_eq!(total, 20 - paid, "the ledger adds up to the balance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replies_never_overspend_on_sqlite() {
    concurrent_replies_never_overspend(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replies_never_overspend_across_instances_on_postgres() {
    concurrent_replies_never_overspend(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_are_off_by_default() {
    let server = Server::start(&[]);
    let alice = server.token(&["--sub", "alice"]);
    let (status, _, err) = server
        .call("GET", "/v1/balances/me", Some(&alice), None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let tid = thread(&server, &alice).await;
    let (status, _, _) = server
        .call(
            "POST",
            &format!("/v1/threads/{tid}/chat"),
            Some(&alice),
            Some(&json!({"content": "free"})),
        )
        .await;
    assert_eq!(status, 201, "no balance needed");
}

/// Starts a streamed request and waits for its first bytes, so whatever it holds is held.
async fn started(
    server: &Server,
    path: &str,
    token: &str,
    body: Value,
) -> impl futures_util::Stream + use<> {
    use futures_util::StreamExt;
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    // The rest is not read: the caller keeps the stream only to keep the request open.
    body
}

async fn held(server: &Server, token: &str) -> (i64, i64) {
    let (status, _, b) = server
        .call("GET", "/v1/balances/me", Some(token), None)
        .await;
    assert_eq!(status, 200, "{b}");
    (b["balance"].as_i64().unwrap(), b["held"].as_i64().unwrap())
}

/// Fifty unstored completions at once (spread over two instances on PostgreSQL) from one
/// balance of 40: each holds 2 (its prompt and 1,000 reply tokens) and pays 1. The balance
/// never goes below zero, exactly the completions served are debited, and the ledger read in
/// `seq` order is a continuous `balance_after` chain. Then a completion and a stored reply
/// whose instance is killed mid-way stop holding: the survivor (or the restarted instance)
/// releases them.
async fn unstored_completions_hold_and_the_ledger_chains(postgres: bool) {
    let Some(env) = billing_env(postgres, "60").await else {
        return;
    };
    let mut instances = if postgres {
        vec![start(&env), start(&env)]
    } else {
        vec![start(&env)]
    };
    let a = &instances[0];
    let alice = a.token(&["--sub", "alice", "--org", "acme"]);
    let service = a.token(&["--sub", "billing", "--org", "acme", "--service"]);
    let (status, _, _) = a
        .call(
            "POST",
            "/v1/balances/user:alice/credits",
            Some(&service),
            Some(&json!({"amount": 40})),
        )
        .await;
    assert_eq!(status, 201);
    let body = json!({"model": "echo", "store": false,
        "messages": [{"role": "user", "content": "one two three"}]});
    let calls = (0..50).map(|i| {
        let server = &instances[i % instances.len()];
        let (alice, body) = (alice.clone(), body.clone());
        async move {
            server
                .call(
                    "POST",
                    "/openai/v1/chat/completions",
                    Some(&alice),
                    Some(&body),
                )
                .await
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let mut served = 0;
    for (status, _, body) in &results {
        match status {
            200 => served += 1,
            402 => assert_eq!(body["error"]["code"], "insufficient_balance", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert!(
        served >= 20,
        "at least what 40 holds of 2 allow at once: {served}"
    );
    let (balance, now_held) = held(&instances[instances.len() - 1], &alice).await;
    assert_eq!(now_held, 0);
    assert!(balance >= 0, "{balance}");

    // The ledger, oldest first by `seq`: 1, 2, 3 …, each `balance_after` the previous one's
    // plus its amount, never below zero; one debit per completion served.
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/balances/me/ledger?limit=100&cursor={c}"),
            None => "/v1/balances/me/ledger?limit=100".to_owned(),
        };
        let (status, _, page) = a.call("GET", &path, Some(&alice), None).await;
        assert_eq!(status, 200, "{page}");
        entries.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    entries.reverse();
    let debits = entries.iter().filter(|e| e["kind"] == "completion").count();
    assert_eq!(debits, served, "one debit per completion served");
    let mut before = 0;
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["seq"].as_i64(), Some(i as i64 + 1), "{e}");
        let after = e["balance_after"].as_i64().unwrap();
        assert_eq!(after, before + e["amount"].as_i64().unwrap(), "{e}");
        assert!(after >= 0, "{e}");
        before = after;
    }
    assert_eq!(before, balance, "the chain ends at the balance");

    // A completion and a reply in flight on the last instance hold; killed with it, they stop
    // holding once the survivor's sweep (or the restarted instance) sees the instance gone.
    let (status, _, _) = a
        .call(
            "POST",
            "/v1/balances/user:alice/credits",
            Some(&service),
            Some(&json!({"amount": 100})),
        )
        .await;
    assert_eq!(status, 201);
    let last = instances.len() - 1;
    let long = "word ".repeat(400);
    let streamed = json!({"model": "echo", "store": false, "stream": true,
        "messages": [{"role": "user", "content": long}]});
    let tid = thread(&instances[last], &alice).await;
    let _completion = started(
        &instances[last],
        "/openai/v1/chat/completions",
        &alice,
        streamed,
    )
    .await;
    let _reply = started(
        &instances[last],
        &format!("/v1/threads/{tid}/chat"),
        &alice,
        json!({"content": long, "stream": true}),
    )
    .await;
    let (_, holding) = held(&instances[0], &alice).await;
    assert!(holding > 0, "both hold while they run");
    if postgres {
        instances[last].crash();
    } else {
        instances[last].crash_and_restart();
    }
    let survivor = &instances[0];
    let mut now_held = holding;
    for _ in 0..300 {
        now_held = held(survivor, &alice).await.1;
        if now_held == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(now_held, 0, "the dead instance's holds were released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstored_completions_hold_and_the_ledger_chains_on_sqlite() {
    unstored_completions_hold_and_the_ledger_chains(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstored_completions_hold_and_the_ledger_chains_across_instances_on_postgres() {
    unstored_completions_hold_and_the_ledger_chains(true).await;
}
