//! Paging the thread list while threads are being created: nothing skipped, nothing repeated.

use std::collections::BTreeSet;

use crate::support::{Server, backend_env};
use serde_json::json;

async fn paging_while_creating(postgres: bool) {
    let Some(env) = backend_env(postgres).await else {
        return;
    };
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"));
    let server = Server::start(&env);
    let token = server.token(&["--sub", "pager"]);
    let mut created = BTreeSet::new();
    for i in 0..250 {
        let (status, _, t) = server
            .call(
                "POST",
                "/v1/threads",
                Some(&token),
                Some(&json!({"title": format!("t{i}")})),
            )
            .await;
        assert_eq!(status, 201);
        created.insert(t["id"].as_str().unwrap().to_owned());
    }
    let writer = {
        let base = server.base.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..60 {
                let resp = client
                    .post(format!("{base}/v1/threads"))
                    .bearer_auth(&token)
                    .json(&json!({"title": format!("late {i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 201);
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/threads?limit=37&cursor={c}"),
            None => "/v1/threads?limit=37".to_owned(),
        };
        let (status, _, page) = server.call("GET", &path, Some(&token), None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
        cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
    }
    writer.await.unwrap();
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no thread appears twice");
    assert!(
        created.is_subset(&unique),
        "no thread that existed before the walk is missing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_250_threads_while_others_are_created_on_sqlite() {
    paging_while_creating(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_250_threads_while_others_are_created_on_postgres() {
    paging_while_creating(true).await;
}
