//! `zap keygen` and `zap keyinfo`: Z-Wing identities on disk; and the `zwing` demo step.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zap_zwing::keyfile::{PUBLIC_FILE_LEN, SECRET_FILE_LEN};
use zap_zwing::sizes::{
    ED25519_PUBLIC_KEY_LEN, ED25519_SIGNATURE_LEN, IDENTITY_PUBLIC_LEN, ML_DSA_65_PUBLIC_KEY_LEN,
    ML_DSA_65_SIGNATURE_LEN, ML_KEM_768_ENCAPSULATION_KEY_LEN, SIGNATURE_LEN,
    X25519_PUBLIC_KEY_LEN,
};
use zap_zwing::{Config, Identity, KeyFile, Listener, dial};

use crate::output::{CliError, err, ms, print_table};

/// Options of `zap keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the new identity (secret, mode 600); its public half goes to FILE.pub.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace FILE and FILE.pub if they exist.
    #[arg(long)]
    force: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Options of `zap keyinfo`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeyinfoArgs {
    /// An identity file, a public identity file, or a bare 3200-byte public identity.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// The public half's file name: `FILE.pub`.
fn public_path(secret: &Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

pub(crate) fn keygen(args: KeygenArgs) -> Result<ExitCode, CliError> {
    let public = public_path(&args.out);
    for path in [&args.out, &public] {
        if path.exists() {
            if !args.force {
                return Err(CliError::new(format!(
                    "{} already exists (use --force to replace it)",
                    path.display()
                )));
            }
            std::fs::remove_file(path)
                .map_err(|e| CliError::new(format!("cannot remove {}: {e}", path.display())))?;
        }
    }
    let identity = Identity::generate().map_err(err)?;
    identity
        .save(&args.out)
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", args.out.display())))?;
    identity
        .public()
        .save(&public)
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", public.display())))?;
    let fingerprint = identity.fingerprint().to_hex();
    if args.json {
        let doc = serde_json::json!({
            "identity_file": args.out.display().to_string(),
            "public_file": public.display().to_string(),
            "fingerprint": fingerprint,
        });
        println!("{doc}");
    } else {
        println!(
            "wrote identity     {} (secret: keep it private)",
            args.out.display()
        );
        println!("wrote public half  {}", public.display());
        println!("fingerprint        {fingerprint}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What `zap keyinfo --json` prints.
#[derive(Debug, Serialize)]
struct KeyInfo {
    file: String,
    kind: &'static str,
    file_bytes: usize,
    fingerprint: String,
    sizes: Sizes,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<String>,
}

#[derive(Debug, Serialize)]
struct Sizes {
    public_identity: usize,
    ed25519_public_key: usize,
    ml_dsa_65_public_key: usize,
    ml_kem_768_encapsulation_key: usize,
    x25519_public_key: usize,
    signature: usize,
    ed25519_signature: usize,
    ml_dsa_65_signature: usize,
}

pub(crate) fn keyinfo(args: KeyinfoArgs) -> Result<ExitCode, CliError> {
    let shown = args.file.display().to_string();
    let key = KeyFile::load(&args.file).map_err(|e| CliError::new(format!("{shown}: {e}")))?;
    let public = key.public();
    let (kind, file_bytes) = match &key {
        KeyFile::Secret(_) => ("identity (secret)", SECRET_FILE_LEN),
        KeyFile::Public(_) => {
            let len = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
            let len = usize::try_from(len).unwrap_or(PUBLIC_FILE_LEN);
            ("public identity", len)
        }
    };
    let info = KeyInfo {
        file: shown,
        kind,
        file_bytes,
        fingerprint: public.fingerprint().to_hex(),
        sizes: Sizes {
            public_identity: IDENTITY_PUBLIC_LEN,
            ed25519_public_key: public.ed25519_public_key().len(),
            ml_dsa_65_public_key: public.ml_dsa_public_key().len(),
            ml_kem_768_encapsulation_key: public.ml_kem_encapsulation_key().len(),
            x25519_public_key: public.x25519_public_key().len(),
            signature: SIGNATURE_LEN,
            ed25519_signature: ED25519_SIGNATURE_LEN,
            ml_dsa_65_signature: ML_DSA_65_SIGNATURE_LEN,
        },
        permissions: permissions(&args.file),
    };
    debug_assert_eq!(info.sizes.ed25519_public_key, ED25519_PUBLIC_KEY_LEN);
    debug_assert_eq!(info.sizes.ml_dsa_65_public_key, ML_DSA_65_PUBLIC_KEY_LEN);
    debug_assert_eq!(
        info.sizes.ml_kem_768_encapsulation_key,
        ML_KEM_768_ENCAPSULATION_KEY_LEN
    );
    debug_assert_eq!(info.sizes.x25519_public_key, X25519_PUBLIC_KEY_LEN);

    if args.json {
        println!("{}", serde_json::to_string(&info).map_err(err)?);
        return Ok(ExitCode::SUCCESS);
    }
    let s = &info.sizes;
    let mut rows = vec![
        vec!["file".into(), info.file.clone()],
        vec!["kind".into(), info.kind.into()],
        vec!["fingerprint".into(), info.fingerprint.clone()],
        vec![
            "public identity".into(),
            format!("{} bytes", s.public_identity),
        ],
        vec![
            "  ed25519".into(),
            format!("{} bytes", s.ed25519_public_key),
        ],
        vec![
            "  ml-dsa-65".into(),
            format!("{} bytes", s.ml_dsa_65_public_key),
        ],
        vec![
            "  ml-kem-768".into(),
            format!("{} bytes", s.ml_kem_768_encapsulation_key),
        ],
        vec!["  x25519".into(), format!("{} bytes", s.x25519_public_key)],
        vec![
            "signature".into(),
            format!(
                "{} bytes (ed25519 {} + ml-dsa-65 {})",
                s.signature, s.ed25519_signature, s.ml_dsa_65_signature
            ),
        ],
    ];
    if let Some(mode) = &info.permissions {
        let note = if matches!(key, KeyFile::Secret(_)) && mode_is_shared(mode) {
            format!("{mode} (WARNING: other users can read this secret key)")
        } else {
            mode.clone()
        };
        rows.push(vec!["permissions".into(), note]);
    }
    print_table(&["field", "value"], &rows);
    Ok(ExitCode::SUCCESS)
}

#[cfg(unix)]
fn permissions(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| format!("{:o}", m.permissions().mode() & 0o777))
}

#[cfg(not(unix))]
fn permissions(_path: &Path) -> Option<String> {
    None
}

fn mode_is_shared(mode: &str) -> bool {
    u32::from_str_radix(mode, 8).is_ok_and(|m| m & 0o077 != 0)
}

/// The demo: a Z-Wing listener and a client on loopback, each pinning the other, a
/// handshake and an encrypted echo.
pub(crate) async fn demo_step() -> Result<String, CliError> {
    const WAIT: Duration = Duration::from_secs(5);
    let server_id = Identity::generate().map_err(err)?;
    let client_id = Identity::generate().map_err(err)?;
    let (server_fp, client_fp) = (server_id.fingerprint(), client_id.fingerprint());
    let server_cfg = Config::new(server_id).with_expected_remote(client_id.public().clone());
    let client_cfg =
        Config::new(client_id).with_expected_remote(server_cfg.identity().public().clone());

    let mut listener = Listener::bind("127.0.0.1:0", server_cfg)
        .await
        .map_err(err)?;
    let addr = listener.local_addr();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let mut buf = vec![0u8; 64 * 1024];
        stream.read_exact(&mut buf).await?;
        stream.write_all(&buf).await?;
        stream.flush().await?;
        Ok::<_, zap_zwing::Error>(stream.remote_identity().fingerprint())
    });

    let started = Instant::now();
    let mut client = dial(addr, &client_cfg).await.map_err(err)?;
    let handshake = started.elapsed();
    let payload: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
    let echoed = tokio::time::timeout(WAIT, async {
        client.write_all(&payload).await?;
        client.flush().await?;
        let mut back = vec![0u8; payload.len()];
        client.read_exact(&mut back).await?;
        Ok::<_, std::io::Error>(back)
    })
    .await
    .map_err(|_| CliError::new("the encrypted echo did not come back within 5s"))?
    .map_err(err)?;
    if echoed != payload {
        return Err(CliError::new("the echoed bytes differ from those sent"));
    }
    let seen = tokio::time::timeout(WAIT, server)
        .await
        .map_err(|_| CliError::new("the Z-Wing server did not finish within 5s"))?
        .map_err(err)?
        .map_err(err)?;
    if seen != client_fp || client.remote_identity().fingerprint() != server_fp {
        return Err(CliError::new(
            "the peers did not see each other's identities",
        ));
    }
    Ok(format!(
        "X25519+ML-KEM-768 handshake in {} ms, client {} ⇄ server {} (both pinned), 64 KiB echoed",
        ms(handshake),
        client_fp.short(),
        server_fp.short()
    ))
}
