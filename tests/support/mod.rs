//! Runs the built `chat-threads` binary on a free port with a fresh database, and talks to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod fake_openai;
pub mod mcp;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Path of the binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chat-threads"))
}

/// The admin URL of the test PostgreSQL server, if configured (required when `CI=true`).
pub fn pg_admin_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI")
        }
        _ => None,
    }
}

/// Runs one SQL statement on the admin database.
pub async fn pg_admin(sql: &str) {
    let admin = pg_admin_url().unwrap();
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = task.await;
}

/// A new empty PostgreSQL database: `(name, url)`.
pub async fn pg_database() -> Option<(String, String)> {
    let admin = pg_admin_url()?;
    let name = format!("ct_test_{}", uuid::Uuid::now_v7().simple());
    pg_admin(&format!("CREATE DATABASE {name}")).await;
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    Some((name, url.to_string()))
}

/// The address in a "listening on http://..." line: printed as is in text mode, the message of
/// a log record in JSON mode.
fn listening_on(line: &str) -> Option<String> {
    if let Some(addr) = line.strip_prefix("listening on ") {
        return Some(addr.trim().to_owned());
    }
    let record: serde_json::Value = serde_json::from_str(line).ok()?;
    let message = record["fields"]["message"].as_str()?;
    message
        .strip_prefix("listening on ")
        .map(|a| a.trim().to_owned())
}

/// Runs `chat-threads serve` in `dir` with `env` on a free port; returns the child, its base
/// URL and its output lines.
fn spawn(dir: &Path, env: &[(String, String)]) -> (Child, String, mpsc::Receiver<String>) {
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir)
        .env("CHAT_THREADS__SERVER__PORT", "0")
        .env("CHAT_THREADS__SERVER__WORKERS", "1")
        .env("CHAT_THREADS__SERVER__SHUTDOWN_TIMEOUT_SECS", "5")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    let base = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                if let Some(addr) = listening_on(&line) {
                    break addr;
                }
                seen.push(line);
            }
            Err(_) => panic!("server did not start; output:\n{}", seen.join("\n")),
        }
    };
    (child, base, rx)
}

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    env: Vec<(String, String)>,
    pub base: String,
    pub workdir: tempfile::TempDir,
    output: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `chat-threads serve` in a fresh working directory with `env` overrides, on a free
    /// port, and waits until it says where it listens.
    pub fn start(env: &[(&str, &str)]) -> Server {
        // The tests' own HTTP clients (reqwest over rustls) need the TLS provider too.
        chat_threads_infrastructure::tls::install();
        let workdir = tempfile::tempdir().unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, base, output) = spawn(workdir.path(), &env);
        Server {
            child,
            env,
            base,
            workdir,
            output,
        }
    }

    /// Kills the server with SIGKILL (no shutdown at all, like a crash) and starts it again in
    /// the same directory with the same settings (so on the same database).
    pub fn crash_and_restart(&mut self) {
        self.crash_then_restart(|_| {});
    }

    /// Kills the server with SIGKILL (like a crash), runs `between` on its working directory,
    /// and starts it again there with the same settings.
    pub fn crash_then_restart(&mut self, between: impl FnOnce(&Path)) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        between(self.workdir.path());
        let (child, base, output) = spawn(self.workdir.path(), &self.env);
        self.child = child;
        self.base = base;
        self.output = output;
    }

    /// Kills the server with SIGKILL, like a crash.
    pub fn crash(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// GET a path; returns status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Any request: `(status, headers, JSON body or Null)`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let client = reqwest::Client::new();
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let mut req = client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A request as `token` with a JSON body (`Null`: none): `(status, JSON body or Null)`.
    pub async fn as_user(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let body = (!body.is_null()).then_some(body);
        let (status, _, json) = self.call(method, path, Some(token), body.as_ref()).await;
        (status, json)
    }

    /// A token from `chat-threads token`, signed with this server's secret (same database).
    pub fn token(&self, args: &[&str]) -> String {
        let mut full = vec!["token"];
        full.extend_from_slice(args);
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (code, out) = run(&full, &env, self.dir());
        assert_eq!(code, 0, "{out}");
        out.lines()
            .map(str::trim)
            .find(|l| l.starts_with("eyJ"))
            .unwrap()
            .to_owned()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server ignored SIGTERM for 10 s");
    }

    /// Every output line so far.
    pub fn output(&self) -> Vec<String> {
        self.output.try_iter().collect()
    }

    /// The server's process id.
    #[allow(dead_code)] // not every test binary uses it
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The working directory.
    pub fn dir(&self) -> &Path {
        self.workdir.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion: `(exit code, stdout + stderr)`.
pub fn run(args: &[&str], env: &[(&str, &str)], dir: &Path) -> (i32, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("CHAT_THREADS__LOG__LEVEL", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `(event, data)` of each event of a whole SSE body.
pub fn sse_events(text: &str) -> Vec<(String, serde_json::Value)> {
    text.split("\n\n")
        .filter_map(|frame| {
            let event = frame.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = frame.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((event.to_owned(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

/// The database settings for a backend: SQLite (the default file) or a fresh PostgreSQL database.
pub async fn backend_env(postgres: bool) -> Option<Vec<(String, String)>> {
    if !postgres {
        return Some(Vec::new());
    }
    let (_, url) = pg_database().await?;
    Some(vec![("CHAT_THREADS__DATABASE__URL".to_string(), url)])
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The python of the pinned test tools (scripts/python-tools.sh), installed on first use;
/// `None` (with a loud warning) only outside CI.
pub fn python() -> Option<PathBuf> {
    let out = Command::new(repo().join("scripts/python-tools.sh"))
        .output()
        .unwrap();
    if out.status.success() {
        let path = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        return Some(PathBuf::from(path));
    }
    let why = String::from_utf8_lossy(&out.stderr);
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and the test tools cannot be installed: {why}");
    }
    eprintln!("WARNING: test SKIPPED: scripts/python-tools.sh failed: {why}");
    None
}

/// A local S3-compatible server (moto's), on a free port, killed on drop.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl S3Server {
    /// Starts moto's server from the test tools; `None` only outside CI when the tools cannot
    /// be installed.
    pub async fn start() -> Option<S3Server> {
        chat_threads_infrastructure::tls::install();
        let python = python()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = S3Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if reqwest::get(&server.url).await.is_ok() {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto's S3 server did not start on port {port}");
    }

    /// Creates a bucket.
    pub async fn bucket(&self, name: &str) {
        let resp = reqwest::Client::new()
            .put(format!("{}/{name}", self.url))
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "creating bucket {name}: {}",
            resp.status()
        );
    }

    /// The keys in a bucket.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let xml = reqwest::get(format!("{}/{bucket}?list-type=2", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        xml.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends `each` messages to each job's thread at once, one writer per job `(server base,
/// thread id, label)`, as `token`; the contents are `"{label} #{i}"`. Every append must be 201.
pub async fn append_concurrently(token: &str, jobs: Vec<(String, String, String)>, each: usize) {
    let mut writers = Vec::new();
    for (base, tid, label) in jobs {
        let token = token.to_owned();
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..each {
                let r = client
                    .post(format!("{base}/v1/threads/{tid}/messages"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"content": format!("{label} #{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
}

/// The change feed `token` reads from the start (up to 1,000 entries), one JSON value each.
pub async fn feed_entries(server: &Server, token: &str) -> Vec<serde_json::Value> {
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/events?limit=1000", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
