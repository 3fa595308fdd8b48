//! The tour's administration leg: retention policies, legal holds, erasure and the audit log,
//! as acme's admin (the tourist).

use serde_json::json;

use super::Tour;

/// Every administration operation, once.
pub(super) async fn administration(t: &Tour<'_>) {
    // Retention and erasure (the tourist is acme's admin): a policy tried, set, listed and
    // deleted; a hold placed and lifted; a principal erased (self-erasure is off).
    let keep = json!({"erase_deleted_after_days": 30});
    let hold = json!({"principal": "user:bob", "reason": "tour"});
    for (m, p, body, status) in [
        (
            "POST",
            "/v1/retention-policies/dry-run",
            Some(keep.clone()),
            200,
        ),
        ("PUT", "/v1/retention-policies", Some(keep), 200),
        ("GET", "/v1/retention-policies", None, 200),
        ("DELETE", "/v1/retention-policies", None, 204),
        ("POST", "/v1/legal-holds", Some(hold), 201),
        ("DELETE", "/v1/me", None, 403),
    ] {
        t.ok(m, p, body, status).await;
    }
    let h = t.ok("GET", "/v1/legal-holds", None, 200).await;
    let lift = format!("/v1/legal-holds/{}", h["data"][0]["id"].as_str().unwrap());
    t.ok("DELETE", &lift, None, 204).await;
    let job = t
        .ok("DELETE", "/v1/principals/user:nobody", None, 202)
        .await;
    let job = format!("/v1/erasures/{}", job["id"].as_str().unwrap());
    t.ok("GET", &job, None, 200).await;
    // The audit log (the tourist is acme's admin): newest first, and exported as NDJSON.
    let log = t.ok("GET", "/v1/audit?limit=100", None, 200).await;
    assert!(
        log["data"][0]["action"]
            .as_str()
            .unwrap()
            .starts_with("erasure."),
        "{log}"
    );
    let (status, ndjson, _) = t
        .raw("GET", "/v1/audit/export", "text/plain", String::new())
        .await;
    assert_eq!(
        (status, ndjson.lines().count() >= 3),
        (200, true),
        "{ndjson}"
    );
    // The change feed of acme (the tourist manages it): NDJSON, the cursor to read on from.
    let (status, feed, headers) = t
        .raw("GET", "/v1/events?limit=5", "text/plain", String::new())
        .await;
    assert_eq!((status, feed.lines().count()), (200, 5), "{feed}");
    assert!(
        headers["feed-cursor"]
            .to_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    // A webhook made (off: the tour sends nothing out), read, changed, its deliveries listed,
    // deleted.
    let made = t
        .ok(
            "POST",
            "/v1/webhooks",
            Some(
                json!({"url": "https://93.184.215.14/hook", "enabled": false,
                        "events": ["message.created"]}),
            ),
            201,
        )
        .await;
    assert!(made["secret"].as_str().unwrap().starts_with("whsec_"));
    let hook = format!("/v1/webhooks/{}", made["id"].as_str().unwrap());
    assert_eq!(
        t.ok("GET", "/v1/webhooks", None, 200).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(t.ok("GET", &hook, None, 200).await.get("secret").is_none());
    t.ok("PATCH", &hook, Some(json!({"description": "tour"})), 200)
        .await;
    let deliveries = t.ok("GET", &format!("{hook}/deliveries"), None, 200).await;
    assert!(deliveries["data"].as_array().unwrap().is_empty());
    let nothing = format!("{hook}/deliveries/{}/redeliver", uuid::Uuid::now_v7());
    t.ok("POST", &nothing, None, 404).await;
    t.ok("DELETE", &hook, None, 204).await;
}
