//! Behind Debian's PgBouncer (scripts/pgbouncer.sh installs it; each test starts its own on a
//! free port): in session mode two instances start, share events over LISTEN/NOTIFY and answer
//! chats; in transaction and statement mode the service refuses to start, with one line naming
//! the pooler's mode and the fix, instead of failing requests later.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::cluster::{next_event, subscribed};
use crate::support::{Server, binary, pg_admin_url, pg_database, repo};

/// The pgbouncer binary (installed by the project's script); `None` only outside CI.
fn pgbouncer() -> Option<PathBuf> {
    let out = Command::new(repo().join("scripts/pgbouncer.sh"))
        .output()
        .unwrap();
    if out.status.success() {
        return Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()));
    }
    let why = String::from_utf8_lossy(&out.stderr);
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and PgBouncer cannot be had: {why}");
    }
    eprintln!("WARNING: test SKIPPED: scripts/pgbouncer.sh failed: {why}");
    None
}

/// A PgBouncer in front of the test PostgreSQL server, killed on drop.
struct Bouncer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Bouncer {
    fn start(mode: &str) -> Option<Bouncer> {
        let admin = url::Url::parse(&pg_admin_url()?).unwrap();
        let bin = pgbouncer()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let user = admin.username();
        let config = dir.path().join("pgbouncer.ini");
        std::fs::write(dir.path().join("users.txt"), format!("\"{user}\" \"\"\n")).unwrap();
        std::fs::write(
            &config,
            format!(
                "[databases]\n* = host={} port={}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\n\
                 listen_port = {port}\nunix_socket_dir =\nauth_type = trust\n\
                 auth_file = {}\npool_mode = {mode}\nmax_client_conn = 400\n\
                 default_pool_size = 40\nignore_startup_parameters = extra_float_digits,options\n",
                admin.host_str().unwrap(),
                admin.port().unwrap_or(5432),
                dir.path().join("users.txt").display(),
            ),
        )
        .unwrap();
        let mut cmd = Command::new(bin);
        // PgBouncer will not run as root: as root it drops to the postgres user, which must be
        // able to read its files.
        if is_root() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            cmd.args(["-u", "postgres"]);
        }
        // Killed and reaped on drop, whatever happens next.
        let bouncer = Bouncer {
            child: cmd
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
            port,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(bouncer);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("pgbouncer ({mode}) did not listen on {port}");
    }

    /// `url` (a database of the test server) through this pooler.
    fn url(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with `url` and returns `(exit code, output)`; one that still runs after a
/// minute (it did not refuse) is killed and reported as such.
fn run_briefly(args: &[&str], url: &str, dir: &std::path::Path) -> (i32, String) {
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("CHAT_THREADS__DATABASE__URL", url)
        .env("CHAT_THREADS__SERVER__PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (out.status.code().unwrap_or(-1), text);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("chat-threads {args:?} did not refuse the pooler within a minute");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_pooling_serves_two_instances() {
    let Some((_, direct)) = pg_database().await else {
        return;
    };
    let Some(bouncer) = Bouncer::start("session") else {
        return;
    };
    let url = bouncer.url(&direct);
    let env = [
        ("CHAT_THREADS__DATABASE__URL", url.as_str()),
        ("CHAT_THREADS__RATE_LIMIT__ENABLED", "false"),
    ];
    let a = Server::start(&env);
    let b = Server::start(&env);
    let token = a.token(&["--sub", "pooled"]);
    let (status, _, t) = a
        .call(
            "POST",
            "/v1/threads",
            Some(&token),
            Some(&json!({"title": "pooled"})),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let tid = t["id"].as_str().unwrap().to_owned();

    // Events cross instances through the pooler (LISTEN on B, NOTIFY from A).
    let mut ws = subscribed(&b, &token, &tid).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (server, text) in [(&a, "from A"), (&b, "from B")] {
        let (status, _, body) = server
            .call(
                "POST",
                &format!("/v1/threads/{tid}/chat"),
                Some(&token),
                Some(&json!({"content": text})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["assistant_message"]["status"], "complete", "{body}");
    }
    let created = next_event(&mut ws, "message.created").await;
    assert_eq!(created["data"]["message"]["content"], "from A");

    // Both instances read the same thread: 4 messages, every statement answered.
    for server in [&a, &b] {
        let (status, _, page) = server
            .call(
                "GET",
                &format!("/v1/threads/{tid}/messages"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["data"].as_array().unwrap().len(), 4, "{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_and_statement_pooling_are_refused_at_start() {
    let Some((_, direct)) = pg_database().await else {
        return;
    };
    for mode in ["transaction", "statement"] {
        let Some(bouncer) = Bouncer::start(mode) else {
            return;
        };
        let url = bouncer.url(&direct);
        let dir = tempfile::tempdir().unwrap();
        // Both the server and `migrate` check before touching anything.
        for args in [&["serve"][..], &["migrate"][..]] {
            let (code, out) = run_briefly(args, &url, dir.path());
            assert_ne!(code, 0, "{mode} {args:?}: {out}");
            let lines: Vec<&str> = out.lines().filter(|l| l.contains("pool_mode")).collect();
            assert_eq!(lines.len(), 1, "{mode} {args:?}: one line names it:\n{out}");
            assert!(
                lines[0].contains("transaction") && lines[0].contains("pool_mode = session"),
                "{mode}: {out}"
            );
        }
    }
}
