//! Mutual TLS and QUIC on loopback: a development CA (made here with rcgen), a server
//! certificate and two client certificates; the same handler over TLS and over QUIC,
//! each side seeing the other's verified identity; and an allow-list by certificate name
//! refusing the client it does not list. Runs in about a second and exits 0.
//!
//! `cargo run -p zap-rpc --features quic --example mutual_tls`
#![allow(clippy::print_stdout)]

use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zap_rpc::{
    AllowList, Client, ClientOptions, Context, ErrorKind, MessageBuf, Server, Status,
    TlsClientConfig, TlsServerConfig,
};

type Certified = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A CA and a function issuing leaves signed by it.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new() -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "example cluster CA");
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    fn issue(&self, name: &str, sans: Vec<SanType>) -> Result<Certified, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.subject_alt_names = sans;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone()], key))
    }
}

fn dns(name: &str) -> Result<SanType, rcgen::Error> {
    Ok(SanType::DnsName(name.try_into()?))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ca = Ca::new()?;
    let (chain, key) = ca.issue(
        "echo-server",
        vec![
            dns("echo-server")?,
            SanType::IpAddress([127, 0, 0, 1].into()),
        ],
    )?;
    let server_tls = TlsServerConfig::new(chain, key, vec![ca.der.clone()])?;
    let client_tls = |name: &str| -> Result<TlsClientConfig, Box<dyn std::error::Error>> {
        let (chain, key) = ca.issue(name, vec![dns(name)?])?;
        Ok(TlsClientConfig::new(chain, key, vec![ca.der.clone()])?)
    };

    // Who may call what, by the names in client certificates.
    let allow = AllowList::new()
        .allow("WhoAmI", ["alice.example", "bob.example"])
        .allow("Secret", ["alice.example"]);
    let build = || {
        Server::builder("_example._tcp")
            .node_id("echo-server")
            .no_mdns()
            .verifier(allow.clone())
            .register("WhoAmI", |ctx: Context, _req: MessageBuf| async move {
                let who = ctx.peer().identity().to_string();
                println!(
                    "  server: call from {who} over {}",
                    ctx.peer().addr.transport()
                );
                Ok::<_, Status>(MessageBuf::with_u32(who.len() as u32, 0))
            })?
            .register("Secret", |_ctx: Context, _req: MessageBuf| async move {
                Ok::<_, Status>(MessageBuf::with_u32(42, 0))
            })
    };
    let tls_server = build()?.tls(server_tls.clone()).start().await?;
    let quic_server = build()?.quic(server_tls).start().await?;
    println!(
        "TLS on {}, QUIC on {}",
        tls_server.local_addr(),
        quic_server.local_addr()
    );

    let alice = client_tls("alice.example")?;
    let bob = client_tls("bob.example")?;
    for (what, options) in [
        (
            "TLS",
            ClientOptions::new()
                .peers([tls_server.local_addr().clone()])
                .tls(alice.clone()),
        ),
        (
            "QUIC",
            ClientOptions::new()
                .peers([quic_server.local_addr().clone()])
                .quic(alice.clone()),
        ),
    ] {
        let client = Client::connect(
            "_example._tcp",
            options.call_timeout(Duration::from_secs(5)),
        )
        .await?;
        client.call("WhoAmI", MessageBuf::empty()).await?;
        let conn = &client.connections()[0];
        let tls = conn.peer().tls().ok_or("no TLS session")?;
        println!(
            "  alice over {what}: server is {:?} (verified), key exchange {}",
            conn.peer().identity(),
            tls.key_exchange
                .as_deref()
                .unwrap_or("not reported by quinn"),
        );
        client.call("Secret", MessageBuf::empty()).await?;
        client.close();
    }

    let client = Client::connect(
        "_example._tcp",
        ClientOptions::new()
            .peers([tls_server.local_addr().clone()])
            .tls(bob),
    )
    .await?;
    let err = client
        .call("Secret", MessageBuf::empty())
        .await
        .expect_err("bob is not allowed to call Secret");
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    println!("  bob calling Secret: {err}");
    client.close();

    tls_server.shutdown(Duration::from_secs(1)).await;
    quic_server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
