//! The config file and `wsresume config`: precedence flag > environment >
//! file > default, the token masked, a default server and token from the
//! file used by a real transfer, and a malformed file as a usage error.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::path::Path;

use support::{Server, json_one, random_file, s, sha256_file, wsresume};
use tempfile::TempDir;

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    s(&path).to_string()
}

fn config_json(config: &str, env: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let mut cmd = wsresume();
    cmd.env("WSRESUME_CONFIG", config)
        .args(["config", "--json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).assert().success();
    json_one(&out.get_output().stdout)
}

#[test]
fn flags_beat_environment_beat_file_beat_defaults() {
    let dir = TempDir::new().unwrap();
    let config = write_config(
        dir.path(),
        "retries = 3\ntimeout = 7\nchunk_size = \"64K\"\ntoken = \"file-secret\"\n",
    );
    let v = config_json(&config, &[], &[]);
    assert_eq!(v["config_file_found"], true);
    assert_eq!(v["settings"]["retries"]["value"], 3);
    assert_eq!(v["settings"]["retries"]["source"], "config file");
    assert_eq!(v["settings"]["chunk_size"]["value"], 65536);
    assert_eq!(v["settings"]["retry_max_delay"]["source"], "default");
    let v = config_json(&config, &[("WSRESUME_RETRIES", "5")], &[]);
    assert_eq!(v["settings"]["retries"]["value"], 5);
    assert_eq!(v["settings"]["retries"]["source"], "env WSRESUME_RETRIES");
    let v = config_json(&config, &[("WSRESUME_RETRIES", "5")], &["--retries", "9"]);
    assert_eq!(v["settings"]["retries"]["value"], 9);
    assert_eq!(v["settings"]["retries"]["source"], "flag --retries");
    assert_eq!(v["settings"]["timeout"]["value"], 7.0);
    let v = config_json("/nonexistent/wsresume/config.toml", &[], &[]);
    assert_eq!(v["config_file_found"], false);
    assert_eq!(v["settings"]["retries"]["value"], 10);
}

#[test]
fn retry_connrefused_is_layered_like_the_others() {
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path(), "retry_connrefused = true\n");
    let setting = |env: &[(&str, &str)], args: &[&str]| {
        config_json(&config, env, args)["settings"]["retry_connrefused"].clone()
    };
    let v = config_json("/nonexistent/wsresume/config.toml", &[], &[]);
    assert_eq!(v["settings"]["retry_connrefused"]["value"], false);
    let v = setting(&[], &[]);
    assert_eq!(
        (&v["value"], &v["source"]),
        (&true.into(), &"config file".into())
    );
    let v = setting(&[("WSRESUME_RETRY_CONNREFUSED", "0")], &[]);
    assert_eq!(v["value"], false);
    assert_eq!(v["source"], "env WSRESUME_RETRY_CONNREFUSED");
    let v = setting(
        &[("WSRESUME_RETRY_CONNREFUSED", "0")],
        &["--retry-connrefused"],
    );
    assert_eq!(
        (&v["value"], &v["source"]),
        (&true.into(), &"flag --retry-connrefused".into())
    );
    wsresume()
        .env("WSRESUME_RETRY_CONNREFUSED", "perhaps")
        .arg("config")
        .assert()
        .code(2);
}

/// Flags, environment variables and config keys take the same durations.
#[test]
fn durations_are_written_the_same_way_everywhere() {
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path(), "timeout = \"2m\"\nretry_max_delay = 1.5\n");
    let seconds = |env: &[(&str, &str)], args: &[&str]| {
        let v = config_json(&config, env, args);
        let value = |key: &str| v["settings"][key]["value"].as_f64().unwrap();
        (value("timeout"), value("retry_max_delay"))
    };
    assert_eq!(seconds(&[], &[]), (120.0, 1.5));
    let env = [
        ("WSRESUME_TIMEOUT", "90s"),
        ("WSRESUME_RETRY_MAX_DELAY", "250ms"),
    ];
    assert_eq!(seconds(&env, &[]), (90.0, 0.25));
    let flags = ["--timeout", "1.5", "--retry-max-delay", "1m"];
    assert_eq!(seconds(&env, &flags), (1.5, 60.0));
    // Refused: not a duration, or a timeout of 0; each names its source.
    for (env, args, named) in [
        (None, &["--timeout", "soon"][..], "--timeout"),
        (None, &["--timeout", "0s"][..], "--timeout"),
        (
            Some(("WSRESUME_TIMEOUT", "1x")),
            &[][..],
            "WSRESUME_TIMEOUT",
        ),
    ] {
        let mut cmd = wsresume();
        cmd.env("WSRESUME_CONFIG", &config).arg("config").args(args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[test]
fn the_token_is_never_printed() {
    let dir = TempDir::new().unwrap();
    let config = write_config(dir.path(), "token = \"file-secret\"\n");
    let v = config_json(&config, &[], &[]);
    assert_eq!(v["settings"]["token"]["source"], "config file");
    assert!(!v.to_string().contains("file-secret"));
    let out = wsresume()
        .env("WSRESUME_CONFIG", &config)
        .env("WSRESUME_TOKEN", "env-secret")
        .arg("config")
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("env WSRESUME_TOKEN"), "{text}");
    assert!(!text.contains("secret"), "token shown: {text}");
}

#[test]
fn default_server_and_token_come_from_the_file() {
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let src = random_file(root.path(), "dir/f.bin", 100_000);
    let server = Server::start(root.path(), &["--token", "tok"]);
    let config = write_config(
        local.path(),
        &format!(
            "server = \"{}\"\ntoken = \"tok\"\nprogress = \"none\"\n",
            server.url("")
        ),
    );
    let dest = local.path().join("f.bin");
    let out = wsresume()
        .env("WSRESUME_CONFIG", &config)
        .args(["get", "dir/f.bin", s(&dest)])
        .assert()
        .success();
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(!err.contains("100%"), "progress = none ignored: {err}");
    wsresume()
        .env("WSRESUME_CONFIG", &config)
        .env("WSRESUME_TOKEN", "wrong")
        .args(["get", "dir/f.bin", s(&dest), "-q"])
        .assert()
        .code(6);
}

#[test]
fn relative_url_without_a_server_and_bad_files_are_usage_errors() {
    let dir = TempDir::new().unwrap();
    wsresume().args(["get", "f.bin", "-q"]).assert().code(2);
    for text in [
        "retires = 3\n",
        "retries = \"many\"\n",
        "chunk_size = \"12Q\"\n",
        "[[[",
    ] {
        let config = write_config(dir.path(), text);
        let out = wsresume()
            .env("WSRESUME_CONFIG", &config)
            .args(["get", "ws://127.0.0.1:1/f", "-q"])
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains("config"), "{text}: {err}");
    }
    wsresume()
        .env("WSRESUME_RETRIES", "lots")
        .args(["config"])
        .assert()
        .code(2);
}
