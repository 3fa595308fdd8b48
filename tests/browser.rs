//! A real browser on another origin: headless Chromium (Debian's, driven by playwright-core)
//! loads a widget page served from a second origin on 127.0.0.1, opens an anonymous session,
//! creates a thread, streams a reply over fetch + SSE, aborts it and resumes with EventSource,
//! and talks over the WebSocket. A page on an origin the server does not allow is refused.
//! The tools come from scripts/browser-tools.sh; outside CI, a machine that cannot install them
//! skips this test with a loud warning.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::Server;
use serde_json::{Value, json};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Chromium's path once Chromium and playwright-core are installed; `None` only outside CI.
fn chromium() -> Option<String> {
    let script = browser_dir().join("../../scripts/browser-tools.sh");
    let out = Command::new(script).output().unwrap();
    if out.status.success() {
        return Some(String::from_utf8(out.stdout).unwrap().trim().to_owned());
    }
    let why = String::from_utf8_lossy(&out.stderr);
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and the browser test cannot run: {why}");
    }
    eprintln!(
        "\n**********\nWARNING: browser test SKIPPED: Chromium or playwright-core cannot be \
         installed here ({why})\n**********\n"
    );
    None
}

/// Serves the widget page on its own origin (any path; one request per connection).
fn serve_page() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let page = std::fs::read(browser_dir().join("page.html")).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let (status, body): (&str, &[u8]) = if request.starts_with(b"GET /favicon") {
                ("404 Not Found", b"")
            } else {
                ("200 OK", &page)
            };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    port
}

fn open_in_chromium(chromium: &str, url: &str) -> Value {
    let out = Command::new("node")
        .arg("run.mjs")
        .arg(chromium)
        .arg(url)
        .current_dir(browser_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "node failed:\n{stdout}\n{stderr}");
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

#[test]
fn a_widget_on_another_origin_chats_streams_resumes_and_uses_the_websocket() {
    let Some(chromium) = chromium() else {
        return;
    };
    let widget_port = serve_page();
    let stranger_port = serve_page();
    let origin = format!("http://127.0.0.1:{widget_port}");
    let server = Server::start(&[
        (
            "CHAT_THREADS__SERVER__CORS__ALLOWED_ORIGINS",
            &format!("[\"{origin}\"]"),
        ),
        // Slow enough to abort mid-reply.
        ("CHAT_THREADS__MODELS__ECHO__DELAY_MS", "60"),
    ]);

    let result = open_in_chromium(
        &chromium,
        &format!("{origin}/widget.html?mode=widget&api={}", server.base),
    );
    assert_eq!(result["ok"], true, "{result:#}");
    let first = result["firstPart"]["ids"].as_array().unwrap();
    let resumed = result["resumed"]["ids"].as_array().unwrap();
    assert!(!first.is_empty() && !resumed.is_empty(), "{result:#}");
    assert_eq!(
        result["stored"],
        json!([
            ["user", "complete"],
            ["assistant", "complete"],
            ["user", "complete"],
            ["assistant", "complete"]
        ]),
        "{result:#}"
    );

    let refused = open_in_chromium(
        &chromium,
        &format!(
            "http://127.0.0.1:{stranger_port}/widget.html?mode=blocked&api={}",
            server.base
        ),
    );
    assert_eq!(refused["ok"], true, "{refused:#}");
    assert_eq!(refused["fetch"], "blocked", "{refused:#}");
    assert_eq!(refused["websocket"], "blocked", "{refused:#}");
}
