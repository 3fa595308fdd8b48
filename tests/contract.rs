//! The contract as real tools see it: `/openapi.json` passes openapi-spec-validator,
//! openapi-python-client generates a client from it without a warning, and that client makes a
//! round trip against the running server (create, append, list, chat, an error code), after
//! which `/metrics` parses with the Prometheus client's parser. The tools come from
//! scripts/python-tools.sh (a pinned virtual environment, cached under target/tools).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::process::Command;

use crate::support::{Server, python, repo};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[tokio::test]
async fn generators_accept_the_contract_and_the_generated_client_works() {
    let Some(python) = python() else {
        return;
    };
    let bin = python.parent().unwrap();
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("openapi.json");
    let text = reqwest::get(format!("{}/openapi.json", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(&spec, text).unwrap();

    let validated = run(Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&spec));
    assert!(validated.contains("OK"), "{validated}");

    let package = dir.path().join("chat_threads_client");
    let generated = run(Command::new(bin.join("openapi-python-client"))
        .arg("generate")
        .arg("--path")
        .arg(&spec)
        .args(["--meta", "none"])
        .arg("--config")
        .arg(repo().join("tests/contract/generator.yml"))
        .arg("--output-path")
        .arg(&package)
        .current_dir(dir.path()));
    assert!(
        !generated.to_lowercase().contains("warning"),
        "the generator warned:\n{generated}"
    );
    assert!(package.join("api/threads/create_thread.py").is_file());

    let token = server.token(&["--sub", "python-sdk"]);
    let out = run(Command::new(&python)
        .arg(repo().join("tests/contract/roundtrip.py"))
        .arg(&server.base)
        .arg(&token)
        .env("PYTHONPATH", dir.path()));
    assert!(out.contains("round trip ok"), "{out}");
}
