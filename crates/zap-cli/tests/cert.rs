//! `zap cert ca|issue`, then `zap serve` and `zap call` over mutual TLS and QUIC with those
//! files, run as a user runs them (real processes, loopback only, no mDNS).

mod support;

use std::path::{Path, PathBuf};

use support::{Background, json, zap};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("zap-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }

    fn s(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn serve(extra: &[&str], prefix: &str) -> (Background, String) {
    let args = [
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-mdns",
            "--node-id",
            "srv",
        ],
        extra,
    ]
    .concat();
    let served = Background::start(&args);
    let (addr, _) = Background::banner(&served.stdout, prefix);
    (served, addr)
}

fn files(dir: &Dir, name: &str) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        dir.s(&format!("{name}.pem")),
        "--tls-key".into(),
        dir.s(&format!("{name}.key")),
        "--ca".into(),
        dir.s("ca.pem"),
    ]
}

fn key_mode(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0o600
    }
}

#[test]
fn a_dev_ca_issues_certificates_that_serve_and_call_over_tls_and_quic() {
    let dir = Dir::new("cert");
    let d = dir.s("");
    let out = zap(&["cert", "ca", "--out", &d]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(key_mode(&dir.0.join("ca.key")), 0o600);
    let out = zap(&[
        "cert",
        "issue",
        "--ca",
        &d,
        "--name",
        "srv",
        "--san",
        "127.0.0.1",
        "--out",
        &d,
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("srv, 127.0.0.1"));
    let out = zap(&["cert", "issue", "--ca", &d, "--name", "cli", "--out", &d]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(key_mode(&dir.0.join("cli.key")), 0o600);
    // Existing files are kept unless --force.
    let again = zap(&["cert", "issue", "--ca", &d, "--name", "cli", "--out", &d]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    for (quic, prefix) in [(false, "zaps://127.0.0.1:"), (true, "zapq://127.0.0.1:")] {
        let mut server_args = files(&dir, "srv");
        if quic {
            server_args.push("--quic".into());
        }
        let args: Vec<&str> = server_args.iter().map(String::as_str).collect();
        let (_served, addr) = serve(&args, prefix);

        let mut call: Vec<String> = vec!["call".into(), "--peer".into(), addr.clone()];
        call.extend(files(&dir, "cli"));
        call.extend(["Echo", "--u32", "7", "--json"].map(String::from));
        let call: Vec<&str> = call.iter().map(String::as_str).collect();
        let out = zap(&call);
        assert!(out.status.success(), "{out:?}");
        let doc = json(&out);
        assert_eq!(doc["ok"], true);
        assert_eq!(doc["peer"]["identity"], "srv", "{doc}");
        assert_eq!(doc["peer"]["transport"], if quic { "quic" } else { "tls" });

        // Without a certificate, or with plain TCP, the server has nothing to say.
        let plain = addr.replace("zaps://", "").replace("zapq://", "");
        let out = zap(&[
            "call",
            "--peer",
            &plain,
            "Ping",
            "--json",
            "--timeout",
            "2s",
        ]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let out = zap(&["call", "--peer", &addr, "Ping", "--timeout", "2s"]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
    }

    // A certificate from another CA is refused.
    let other = Dir::new("other-ca");
    let o = other.s("");
    assert!(zap(&["cert", "ca", "--out", &o]).status.success());
    assert!(
        zap(&["cert", "issue", "--ca", &o, "--name", "cli", "--out", &o])
            .status
            .success()
    );
    let (_served, addr) = serve(
        &files(&dir, "srv")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "zaps://",
    );
    let mut call: Vec<String> = vec!["call".into(), "--peer".into(), addr.clone()];
    call.extend([
        "--tls-cert".into(),
        other.s("cli.pem"),
        "--tls-key".into(),
        other.s("cli.key"),
        "--ca".into(),
        dir.s("ca.pem"),
    ]);
    call.extend(["Ping", "--json", "--timeout", "3s"].map(String::from));
    let out = zap(&call.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(json(&out)["error_kind"], "connection");

    // Bad usage: --quic without certificates, a key without a certificate.
    assert_eq!(
        zap(&["call", "--peer", "127.0.0.1:1", "--quic", "Ping"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        zap(&["serve", "--listen", "127.0.0.1:0", "--tls-key", "x"])
            .status
            .code(),
        Some(2)
    );
}
