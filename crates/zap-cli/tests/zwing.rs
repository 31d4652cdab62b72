//! `zap keygen` and `zap keyinfo` as a user runs them, and the `zwing` demo step.

use std::path::PathBuf;
use std::process::{Command, Output};

fn zap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zap"))
        .args(args)
        .output()
        .expect("zap runs")
}

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("zap-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn keygen_then_keyinfo_agree_on_the_fingerprint() {
    let dir = TempDir::new("keygen");
    let file = dir.path("node.zwid");
    let made = zap(&["keygen", "--out", &file, "--json"]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let fingerprint = json(&made)["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fingerprint.len(), 64);

    for (path, kind) in [
        (file.clone(), "identity (secret)"),
        (format!("{file}.pub"), "public identity"),
    ] {
        let info = zap(&["keyinfo", &path, "--json"]);
        assert!(info.status.success());
        let info = json(&info);
        assert_eq!(info["fingerprint"], fingerprint.as_str());
        assert_eq!(info["kind"], kind);
        assert_eq!(info["sizes"]["public_identity"], 3200);
        assert_eq!(info["sizes"]["ml_dsa_65_public_key"], 1952);
        assert_eq!(info["sizes"]["signature"], 3373);
    }

    // The table form shows the same fingerprint.
    let table = zap(&["keyinfo", &file]);
    assert!(String::from_utf8_lossy(&table.stdout).contains(&fingerprint));

    // The secret file is private to its owner.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn keygen_never_overwrites_without_force() {
    let dir = TempDir::new("force");
    let file = dir.path("id");
    assert!(zap(&["keygen", "--out", &file]).status.success());
    let first = std::fs::read(&file).unwrap();
    let again = zap(&["keygen", "--out", &file]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(std::fs::read(&file).unwrap(), first);
    assert!(zap(&["keygen", "--out", &file, "--force"]).status.success());
    assert_ne!(std::fs::read(&file).unwrap(), first);
}

#[test]
fn keyinfo_explains_bad_files_and_bad_usage() {
    let dir = TempDir::new("bad");
    let junk = dir.path("junk");
    std::fs::write(&junk, b"not a key").unwrap();
    let out = zap(&["keyinfo", &junk]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Z-Wing key file"));
    let missing = zap(&["keyinfo", &dir.path("missing")]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(zap(&["keyinfo"]).status.code(), Some(2));
    assert_eq!(zap(&["keygen"]).status.code(), Some(2));
}

#[test]
fn the_zwing_demo_step_works() {
    let out = zap(&["demo", "--step", "zwing", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc = json(&out);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["steps"][0]["name"], "zwing");
    assert!(
        doc["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("64 KiB echoed")
    );
}
