//! Black-box tests: the built binary, started as a user would, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::support::{Server, pg_admin, pg_database, run};

#[tokio::test]
async fn serve_with_no_configuration_creates_a_sqlite_file_under_data() {
    let server = Server::start(&[]);
    let (status, body) = server.get("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database"], "ok");
    assert!(
        server.dir().join("data/chat-threads.db").is_file(),
        "default database file created"
    );
    let status = server.terminate();
    assert!(status.success(), "SIGTERM is a clean shutdown: {status:?}");
}

#[tokio::test]
async fn serve_on_postgres_and_report_unready_when_the_database_goes_away() {
    let Some((name, url)) = pg_database().await else {
        return;
    };
    let server = Server::start(&[("CHAT_THREADS__DATABASE__URL", &url)]);
    let (status, _) = server.get("/readyz").await;
    assert_eq!(status, 200);
    pg_admin(&format!("DROP DATABASE {name} WITH (FORCE)")).await;
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "storage_unavailable");
    assert!(
        !body.to_string().contains("postgres://"),
        "no internals leak: {body}"
    );
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200, "liveness does not depend on the database");
}

#[tokio::test]
async fn migrate_applies_then_reports_up_to_date_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(&["migrate"], &[], dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("applied 20261123000001"), "{out}");
    let (code, out) = run(&["migrate"], &[], dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("up to date"), "{out}");

    let Some((_, url)) = pg_database().await else {
        return;
    };
    let env = [("CHAT_THREADS__DATABASE__URL", url.as_str())];
    let (code, out) = run(&["migrate"], &env, dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("applied"), "{out}");
    let (code, out) = run(&["migrate", "--revert-all"], &env, dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("reverted"), "{out}");
}

#[test]
fn bad_url_unreachable_database_and_config_typos_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("CHAT_THREADS__DATABASE__URL", "mysql://root:hunter2@db/x")],
            "unsupported scheme",
        ),
        (
            &[(
                "CHAT_THREADS__DATABASE__URL",
                "postgres://app:hunter2@127.0.0.1:1/x",
            )],
            "cannot connect to the database",
        ),
        (
            &[("CHAT_THREADS__DATABSE__URL", "sqlite://x.db")],
            "databse",
        ),
        (&[("CHAT_THREADS__SERVER__PORT", "eighty")], "server.port"),
    ];
    for (env, expected) in cases {
        let (code, out) = run(&["migrate"], env, dir.path());
        assert_eq!(code, 1, "{env:?}: {out}");
        assert!(
            out.contains(expected),
            "{env:?}: expected {expected:?} in {out}"
        );
        assert!(!out.contains("hunter2"), "the password never shows: {out}");
        assert!(!out.contains("panicked"), "{out}");
    }
    std::fs::write(dir.path().join("typo.toml"), "[server]\nprot = 1\n").unwrap();
    let (code, out) = run(&["--config", "typo.toml", "migrate"], &[], dir.path());
    assert_eq!(code, 1);
    assert!(out.contains("prot") && out.contains("typo.toml"), "{out}");
}
