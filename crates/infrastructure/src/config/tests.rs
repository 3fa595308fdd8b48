//! Loading and checking settings.
use super::*;
use std::io::Write;

/// The environment provider with nothing in it, so tests ignore the caller's environment.
fn env(_: &[(&str, &str)]) -> Env {
    Env::prefixed(ENV_PREFIX).split("__").filter(|_| false)
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
fn environment_variables_override_file_and_defaults() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("over.toml", "[server]\nport = 7000\nhost = \"0.0.0.0\"\n")?;
        jail.set_env("CHAT_THREADS__SERVER__PORT", "7001");
        jail.set_env(
            "CHAT_THREADS__DATABASE__URL",
            "postgres://u:pw@localhost/db",
        );
        jail.set_env("CHAT_THREADS__LIMITS__TITLE_CHARS", "50");
        let s = Settings::load(Some(Path::new("over.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(s.server.port, 7001, "env wins over the file");
        assert_eq!(s.server.host, "0.0.0.0", "the file wins over defaults");
        assert_eq!(s.database.url, "postgres://u:pw@localhost/db");
        assert_eq!(s.limits.title_chars, 50);
        jail.set_env("CHAT_THREADS__SERVER__PROT", "1");
        let err = Settings::load(None).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("prot"), "{err}");
        Ok(())
    });
}

#[test]
fn defaults_load_and_use_a_sqlite_file_under_data() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s.database.url, "sqlite://./data/chat-threads.db");
    assert_eq!(s.server.port, 8080);
    assert_eq!(
        s.limits,
        Limits::default(),
        "the file and the code agree on limits"
    );
    assert!(s.database.migrate_on_start);
}

#[test]
fn a_file_overrides_defaults_and_unknown_keys_are_refused() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "[server]\nport = 9999\n").unwrap();
    let s = Settings::load_from(Some(f.path()), env(&[])).unwrap();
    assert_eq!(s.server.port, 9999);
    assert_eq!(s.server.host, "127.0.0.1");

    let mut typo = tempfile::NamedTempFile::new().unwrap();
    writeln!(typo, "[database]\nurll = \"sqlite://x.db\"\n").unwrap();
    let err = Settings::load_from(Some(typo.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("urll"), "{err}");

    let mut section = tempfile::NamedTempFile::new().unwrap();
    writeln!(section, "[databse]\nurl = \"sqlite://x.db\"\n").unwrap();
    let err = Settings::load_from(Some(section.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("databse"), "{err}");

    // A section with keys the application reads straight into its own settings (flattened).
    let mut files = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        files,
        "[files]\nquota_bytes_per_owner = 5\nquota_byte = 6\n"
    )
    .unwrap();
    let err = Settings::load_from(Some(files.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("quota_byte"), "{err}");
    let mut files = tempfile::NamedTempFile::new().unwrap();
    writeln!(files, "[files]\nquota_bytes_per_owner = 5\n").unwrap();
    let s = Settings::load_from(Some(files.path()), env(&[])).unwrap();
    assert_eq!(s.files.uploads.quota_bytes, 5);
}

#[test]
fn a_missing_file_and_a_bad_url_are_clear_errors() {
    let err = Settings::load_from(Some(Path::new("/nonexistent/x.toml")), env(&[])).unwrap_err();
    assert!(err.to_string().contains("does not exist"));
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "[database]\nurl = \"mysql://root:hunter2@db/x\"\n").unwrap();
    let err = Settings::load_from(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unsupported scheme"), "{err}");
    assert!(!err.contains("hunter2"), "the password never shows: {err}");
}

#[test]
fn model_settings_are_checked_at_load() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "[models]\ndefault = \"gpt-4o\"\n").unwrap();
    let err = Settings::load_from(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("gpt-4o") && err.contains("echo"), "{err}");
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        f,
        "[models.providers.local]\nbase_url = \"http://127.0.0.1:1/v1\"\nmodels = [\"m1\"]\n[models]\ndefault = \"m1\"\n"
    )
    .unwrap();
    let s = Settings::load_from(Some(f.path()), env(&[])).unwrap();
    assert_eq!(s.models.providers["local"].models, vec!["m1"]);
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "[auth]\nhs256_secret = \"short\"\n").unwrap();
    assert!(Settings::load_from(Some(f.path()), env(&[])).is_err());
}

#[test]
fn debug_output_hides_the_database_password() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        f,
        "[database]\nurl = \"postgres://app:s3cret@db:5432/chat\"\n"
    )
    .unwrap();
    let s = Settings::load_from(Some(f.path()), env(&[])).unwrap();
    let shown = format!("{s:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        f,
        "[auth]\nhs256_secret = \"0123456789abcdef0123456789abcdef-top\"\n"
    )
    .unwrap();
    let s = Settings::load_from(Some(f.path()), env(&[])).unwrap();
    assert!(
        !format!("{s:?}").contains("top"),
        "the JWT secret never shows"
    );
    assert!(shown.contains("app:***@db"), "{shown}");
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
fn the_old_section_name_still_sets_replies_and_the_new_one_wins() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "old.toml",
            "[generation]\ncontext_tokens = 1234\nflush_interval_ms = 200\n",
        )?;
        jail.set_env("CHAT_THREADS__GENERATION__SSE_KEEPALIVE_SECS", "7");
        let s = Settings::load(Some(Path::new("old.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(s.replies.context_tokens, 1234);
        assert_eq!(s.replies.flush_interval_ms, 200);
        assert_eq!(s.replies.sse_keepalive_secs, 7);
        jail.set_env("CHAT_THREADS__REPLIES__SSE_KEEPALIVE_SECS", "9");
        jail.set_env("CHAT_THREADS__GENERATION__SSE_KEEPALIVE_SECS", "8");
        let s = Settings::load(None).map_err(|e| e.to_string())?;
        assert_eq!(s.replies.sse_keepalive_secs, 9, "the new name wins");
        Ok(())
    });
}

#[test]
fn values_below_what_works_are_refused_naming_the_key() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        f,
        "[replies]\ncontext_messages = 0\nflush_interval_ms = 10\n[websocket]\nqueue = 0\n\
         [rate_limit]\nper_ip_burst = 0\n[auth.sessions]\nmax_ttl_secs = -5\n\
         [limits]\npage_size_max = 0\n[database]\nmax_connections = 0"
    )
    .unwrap();
    let err = Settings::load_from(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    for key in [
        "replies.context_messages must be at least 1 (it is 0)",
        "replies.flush_interval_ms must be at least 50",
        "websocket.queue must be at least 1",
        "rate_limit.per_ip_burst must be at least 1",
        "auth.sessions.max_ttl_secs must be at least 1 (it is -5)",
        "limits.page_size_max must be at least 1 (it is 0)",
        "database.max_connections must be at least 1 (it is 0)",
    ] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
}
