//! The contract as real tools see it: `/openapi.json` passes openapi-spec-validator,
//! openapi-python-client generates a client from it without a warning, and that client makes a
//! round trip against the running server (create, append, list, chat, an error code), after
//! which `/metrics` parses with the Prometheus client's parser; openapi-typescript's types
//! compile under `tsc --strict` in a program that sets and reads metadata, which then runs
//! against the server. The tools come from scripts/python-tools.sh (a pinned virtual
//! environment, cached under target/tools) and scripts/node-tools.sh (pinned npm packages).
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

#[tokio::test]
async fn typescript_types_generated_from_the_contract_compile_and_work() {
    let Some(node) = crate::openai::node() else {
        return;
    };
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let text = reqwest::get(format!("{}/openapi.json", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(dir.path().join("openapi.json"), text).unwrap();
    let bin = repo().join("tests/node/node_modules/.bin");
    run(Command::new(&node)
        .arg(bin.join("openapi-typescript"))
        .args(["openapi.json", "-o", "schema.d.ts"])
        .current_dir(dir.path()));
    let schema = std::fs::read_to_string(dir.path().join("schema.d.ts")).unwrap();
    assert!(
        schema.contains("MetadataValue: unknown;"),
        "a metadata value is any value to a typed client"
    );
    std::fs::copy(
        repo().join("tests/contract/metadata.ts"),
        dir.path().join("metadata.ts"),
    )
    .unwrap();
    run(Command::new(&node)
        .arg(bin.join("tsc"))
        .args([
            "--strict",
            "--noUnusedLocals",
            "--target",
            "es2022",
            "--module",
            "es2022",
            "--moduleResolution",
            "bundler",
            "--lib",
            "es2022,dom",
            "--outDir",
            "out",
            "metadata.ts",
        ])
        .current_dir(dir.path()));
    std::fs::write(dir.path().join("out/package.json"), r#"{"type": "module"}"#).unwrap();
    let token = server.token(&["--sub", "typescript-client"]);
    let out = run(Command::new(&node)
        .arg(dir.path().join("out/metadata.js"))
        .arg(&server.base)
        .arg(&token));
    assert!(out.contains("typescript metadata ok"), "{out}");
}
