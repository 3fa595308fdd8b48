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
}
