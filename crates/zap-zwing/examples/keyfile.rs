//! Generates an identity, saves it and its public half, and loads both back.
//!
//! Run with `cargo run -p zap-zwing --example keyfile`.
#![allow(clippy::print_stdout)]

use zap_zwing::{Identity, IdentityPublic, KeyFile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("zwing-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let secret_path = dir.join("node.zwid");
    let public_path = dir.join("node.zwid.pub");

    let identity = Identity::generate()?;
    identity.save(&secret_path)?;
    identity.public().save(&public_path)?;
    println!("saved identity {}", identity.fingerprint());

    let loaded = Identity::load(&secret_path)?;
    let public = IdentityPublic::load(&public_path)?;
    assert_eq!(loaded.public(), identity.public());
    assert_eq!(&public, identity.public());
    match KeyFile::load(&public_path)? {
        KeyFile::Public(p) => println!(
            "{} holds the public identity {}",
            public_path.display(),
            p.fingerprint().short()
        ),
        KeyFile::Secret(_) => unreachable!("a public file"),
    }
    // Saving never overwrites an existing key.
    assert!(identity.save(&secret_path).is_err());

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
