//! `zap cert ca` and `zap cert issue`: a development CA and the certificates it signs, for
//! trying mutual TLS and QUIC locally (made with rcgen). Also the in-memory certificates
//! of the demo's `tls` and `quic` steps.
//!
//! Not for production: the CA key sits in a file next to its certificate.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration as TimeSpan, OffsetDateTime};

use crate::output::{CliError, err};

/// Options of `zap cert`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create a development CA: DIR/ca.pem (certificate) and DIR/ca.key (its private key,
    /// mode 0600).
    Ca(CaArgs),
    /// Issue a certificate signed by the CA in --ca: DIR/NAME.pem and DIR/NAME.key, valid
    /// for servers and clients alike.
    Issue(IssueArgs),
}

#[derive(Debug, clap::Args)]
struct CaArgs {
    /// The directory to write ca.pem and ca.key into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The CA's common name.
    #[arg(long, value_name = "NAME", default_value = "ZAP development CA")]
    name: String,
    /// Days the CA is valid.
    #[arg(long, value_name = "N", default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..=36500))]
    days: u32,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
struct IssueArgs {
    /// The directory holding ca.pem and ca.key (from `zap cert ca`).
    #[arg(long, value_name = "DIR")]
    ca: PathBuf,
    /// The certificate's name: its common name, and also a subject alternative name (the
    /// identity verifiers see). Use the node id for servers found over mDNS.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// More subject alternative names: DNS names, IP addresses (e.g. 127.0.0.1 to reach a
    /// server by address) or URIs (spiffe://…). Repeatable.
    #[arg(long = "san", value_name = "DNS|IP|URI")]
    sans: Vec<String>,
    /// The directory to write NAME.pem and NAME.key into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Days the certificate is valid.
    #[arg(long, value_name = "N", default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36500))]
    days: u32,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

/// A subject alternative name from its text: an IP address, a URI (`scheme://…`), else a
/// DNS name.
fn san(name: &str) -> Result<SanType, CliError> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let ia5 = name
        .try_into()
        .map_err(|e| CliError::new(format!("{name:?} cannot be a certificate name: {e}")))?;
    Ok(if name.contains("://") {
        SanType::URI(ia5)
    } else {
        SanType::DnsName(ia5)
    })
}

/// Validity from an hour ago (so that clocks a little behind still accept it) for `days`.
fn validity(params: &mut CertificateParams, days: u32) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - TimeSpan::hours(1);
    params.not_after = now + TimeSpan::days(i64::from(days));
}

/// A CA held in memory: its certificate (PEM) and what signs with its key.
pub(crate) struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub(crate) cert_pem: String,
    key_pem: String,
}

/// A certificate and its private key, PEM.
pub(crate) struct Issued {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    pub(crate) sans: Vec<String>,
}

impl DevCa {
    /// A new CA named `name`, valid for `days`.
    pub(crate) fn new(name: &str, days: u32) -> Result<Self, CliError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, days);
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.self_signed(&key).map_err(err)?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA in `dir` (ca.pem, ca.key).
    fn load(dir: &Path) -> Result<Self, CliError> {
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path).map_err(|e| {
                CliError::new(format!(
                    "cannot read {}: {e} (create a CA with `zap cert ca --out {}`)",
                    path.display(),
                    dir.display()
                ))
            })
        };
        let (cert_pem, key_pem) = (read("ca.pem")?, read("ca.key")?);
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| CliError::new(format!("{}: {e}", dir.join("ca.key").display())))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)
            .map_err(|e| CliError::new(format!("{}: {e}", dir.join("ca.pem").display())))?;
        Ok(Self {
            issuer,
            cert_pem,
            key_pem,
        })
    }

    /// A certificate for `name` (common name and first SAN) with further `sans`, for
    /// servers and clients, valid for `days`.
    pub(crate) fn issue(&self, name: &str, sans: &[String], days: u32) -> Result<Issued, CliError> {
        if name.is_empty() {
            return Err(CliError::new("the certificate name is empty"));
        }
        let mut names: Vec<String> = vec![name.to_string()];
        for s in sans {
            if !names.contains(s) {
                names.push(s.clone());
            }
        }
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, days);
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            sans: names,
        })
    }
}

/// Writes `contents` to `path`, refusing to replace a file unless `force`; `secret` files
/// get mode 0600.
fn write(path: &Path, contents: &str, secret: bool, force: bool) -> Result<(), CliError> {
    let mut options = OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::new(format!(
                "{} exists (use --force to replace it)",
                path.display()
            ))
        } else {
            CliError::new(format!("cannot write {}: {e}", path.display()))
        }
    })?;
    file.write_all(contents.as_bytes())
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
}

fn create_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))
}

/// A file name for `name` that stays inside the output directory.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

/// `zap cert`.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    match args.command {
        Command::Ca(a) => {
            create_dir(&a.out)?;
            let ca = DevCa::new(&a.name, a.days)?;
            let (cert, key) = (a.out.join("ca.pem"), a.out.join("ca.key"));
            if !a.force {
                for p in [&cert, &key] {
                    if p.exists() {
                        return Err(CliError::new(format!(
                            "{} exists (use --force to replace it)",
                            p.display()
                        )));
                    }
                }
            }
            write(&cert, &ca.cert_pem, false, a.force)?;
            write(&key, &ca.key_pem, true, a.force)?;
            println!("CA {:?}, valid {} days", a.name, a.days);
            println!("  certificate  {}", cert.display());
            println!("  private key  {} (keep it secret)", key.display());
            println!(
                "next: zap cert issue --ca {} --name NAME [--san 127.0.0.1] --out DIR",
                a.out.display()
            );
        }
        Command::Issue(a) => {
            let ca = DevCa::load(&a.ca)?;
            let issued = ca.issue(&a.name, &a.sans, a.days)?;
            let stem = file_stem(&a.name);
            if stem.is_empty() {
                return Err(CliError::new(format!("{:?} gives no file name", a.name)));
            }
            create_dir(&a.out)?;
            let (cert, key) = (
                a.out.join(format!("{stem}.pem")),
                a.out.join(format!("{stem}.key")),
            );
            if !a.force {
                for p in [&cert, &key] {
                    if p.exists() {
                        return Err(CliError::new(format!(
                            "{} exists (use --force to replace it)",
                            p.display()
                        )));
                    }
                }
            }
            write(&cert, &issued.cert_pem, false, a.force)?;
            write(&key, &issued.key_pem, true, a.force)?;
            println!(
                "{:?} signed by {}, valid {} days, names: {}",
                a.name,
                a.ca.join("ca.pem").display(),
                a.days,
                issued.sans.join(", ")
            );
            println!("  certificate  {}", cert.display());
            println!("  private key  {}", key.display());
            println!(
                "use: --tls-cert {} --tls-key {} --ca {}",
                cert.display(),
                key.display(),
                a.ca.join("ca.pem").display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_the_right_kind_of_san() {
        assert!(matches!(san("127.0.0.1").unwrap(), SanType::IpAddress(_)));
        assert!(matches!(san("spiffe://c/n").unwrap(), SanType::URI(_)));
        assert!(matches!(san("node-a").unwrap(), SanType::DnsName(_)));
        assert!(san("nön-ascii").is_err());
        assert_eq!(file_stem("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_stem("spiffe://c/n"), "spiffe___c_n");
    }

    #[test]
    fn issued_certificates_load_into_tls_configs() {
        let ca = DevCa::new("t", 1).unwrap();
        let leaf = ca.issue("node-a", &["127.0.0.1".into()], 1).unwrap();
        assert_eq!(leaf.sans, ["node-a", "127.0.0.1"]);
        zap_rpc::TlsServerConfig::from_pem(
            leaf.cert_pem.as_bytes(),
            leaf.key_pem.as_bytes(),
            ca.cert_pem.as_bytes(),
        )
        .unwrap();
        zap_rpc::TlsClientConfig::from_pem(
            leaf.cert_pem.as_bytes(),
            leaf.key_pem.as_bytes(),
            ca.cert_pem.as_bytes(),
        )
        .unwrap();
    }
}
