//! Start-up failures in one clear line, never a panic, and JSON-only output in JSON mode.

use crate::support::{Server, run};
use serde_json::Value;

/// Runs `serve`, expecting it to fail: (exit code, stdout, stderr).
fn failing_serve(env: &[(&str, &str)], dir: &std::path::Path) -> (i32, String, String) {
    let out = std::process::Command::new(crate::support::binary())
        .arg("serve")
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn start_up_failures_are_one_clear_line_and_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let provider = dir.path().join("provider.toml");
    std::fs::write(
        &provider,
        "[models.providers.openai]\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         api_key_env = \"CHAT_THREADS_TEST_KEY_THAT_IS_NOT_SET\"\nmodels = [\"gpt-4o-mini\"]\n",
    )
    .unwrap();
    let provider = provider.to_str().unwrap().to_owned();
    let missing_pem = dir.path().join("no-such-key.pem");
    let missing_pem = missing_pem.to_str().unwrap().to_owned();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("CHAT_THREADS__SERVER__PORT", port.as_str())],
            port.as_str(),
        ),
        (
            vec![("CHAT_THREADS_CONFIG", provider.as_str())],
            "CHAT_THREADS_TEST_KEY_THAT_IS_NOT_SET",
        ),
        (
            vec![
                ("CHAT_THREADS__AUTH__PROVIDER__ALGORITHM", "RS256"),
                (
                    "CHAT_THREADS__AUTH__PROVIDER__PUBLIC_KEY_FILE",
                    missing_pem.as_str(),
                ),
            ],
            "no-such-key.pem",
        ),
        (
            vec![("CHAT_THREADS__SERVER__WORKERS", "many")],
            "server.workers",
        ),
        (
            vec![(
                "CHAT_THREADS__SERVER__CORS__ALLOWED_ORIGINS",
                "[\"https://app.example/\"]",
            )],
            "server.cors.allowed_origins",
        ),
    ];
    for (env, named) in cases {
        for json_logs in [false, true] {
            let mut env = env.clone();
            if json_logs {
                env.push(("CHAT_THREADS__LOG__FORMAT", "json"));
            }
            let (code, stdout, stderr) = failing_serve(&env, dir.path());
            let all = format!("{stdout}{stderr}");
            assert_eq!(code, 1, "{env:?}: {all}");
            assert!(!all.contains("panicked"), "{env:?}: {all}");
            assert!(!all.contains("backtrace"), "{env:?}: {all}");
            let last = stderr.lines().last().unwrap_or_default();
            assert!(
                last.contains(named),
                "{env:?}: {named:?} not in the last line {last:?}"
            );
            if json_logs {
                for line in all.lines() {
                    // Settings that fail to load cannot say which format to use yet.
                    if line.starts_with("error: invalid configuration") {
                        continue;
                    }
                    assert!(
                        serde_json::from_str::<Value>(line).is_ok(),
                        "{env:?}: not JSON: {line}"
                    );
                }
            } else {
                assert!(last.starts_with("error: "), "{last}");
            }
        }
    }
    drop(taken);
}

#[test]
fn in_json_mode_the_output_is_nothing_but_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[("CHAT_THREADS__LOG__FORMAT", "json")]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (status, _) = runtime.block_on(server.get("/healthz"));
    assert_eq!(status, 200);
    for line in server.output() {
        assert!(
            serde_json::from_str::<Value>(&line).is_ok(),
            "not JSON: {line}"
        );
    }
    drop(dir);
    // The `token` command prints only the token.
    let (code, out) = run(&["token", "--sub", "x"], &[], server.dir());
    assert_eq!(code, 0, "{out}");
}
