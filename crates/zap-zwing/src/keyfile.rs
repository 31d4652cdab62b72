//! Key files: saving and loading identities.
//!
//! luxfi/zwing defines no file format, so this one is ours. Both kinds are small binary
//! files:
//!
//! | file | bytes | layout |
//! |---|---|---|
//! | identity (secret) | 3365 | `"ZWSK"` ‖ version `0x01` ‖ seed (160) ‖ public form (3200) |
//! | public identity | 3205 | `"ZWPK"` ‖ version `0x01` ‖ public form (3200) |
//!
//! The seed is [`Identity::from_seed`]'s: Ed25519 seed (32) ‖ ML-DSA-65 ξ (32) ‖
//! ML-KEM-768 d‖z (64) ‖ X25519 scalar (32). The public form in a secret file is a check:
//! loading derives the keys from the seed and refuses the file unless they match it.
//! A bare 3200-byte public form (as luxfi/zwing's `MarshalBinary` writes it) is also read
//! as a public identity.
//!
//! Secret files are created with mode `0600` on Unix and never overwritten.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

use crate::Error;
use crate::identity::{IDENTITY_SEED_LEN, Identity, IdentityPublic};
use crate::sizes::IDENTITY_PUBLIC_LEN;

/// The first four bytes of an identity (secret) file.
pub const SECRET_FILE_MAGIC: &[u8; 4] = b"ZWSK";
/// The first four bytes of a public identity file.
pub const PUBLIC_FILE_MAGIC: &[u8; 4] = b"ZWPK";
/// The format version both files carry in their fifth byte.
pub const KEY_FILE_VERSION: u8 = 1;
/// The size of an identity (secret) file.
pub const SECRET_FILE_LEN: usize = 5 + IDENTITY_SEED_LEN + IDENTITY_PUBLIC_LEN;
/// The size of a public identity file.
pub const PUBLIC_FILE_LEN: usize = 5 + IDENTITY_PUBLIC_LEN;

/// What a key file holds.
#[derive(Debug)]
pub enum KeyFile {
    /// A full identity, secrets included.
    Secret(Box<Identity>),
    /// A public identity only.
    Public(IdentityPublic),
}

impl KeyFile {
    /// Decodes either kind of key file, or a bare 3200-byte public form.
    ///
    /// # Errors
    /// [`Error::InvalidKeyFile`] for anything else, [`Error::InvalidIdentity`] for a public
    /// form that does not decode.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.starts_with(SECRET_FILE_MAGIC) {
            Identity::from_file_bytes(bytes).map(|id| KeyFile::Secret(Box::new(id)))
        } else if bytes.starts_with(PUBLIC_FILE_MAGIC) || bytes.len() == IDENTITY_PUBLIC_LEN {
            IdentityPublic::from_file_bytes(bytes).map(KeyFile::Public)
        } else {
            Err(Error::InvalidKeyFile(
                "not a Z-Wing key file (no ZWSK/ZWPK header, not a 3200-byte public identity)",
            ))
        }
    }

    /// Reads and decodes a key file.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read, otherwise as [`KeyFile::from_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let bytes = read_bounded(path.as_ref())?;
        Self::from_bytes(&bytes)
    }

    /// The public identity, whichever kind of file this is.
    pub fn public(&self) -> &IdentityPublic {
        match self {
            KeyFile::Secret(id) => id.public(),
            KeyFile::Public(public) => public,
        }
    }
}

impl Identity {
    /// The identity file encoding (3365 bytes; see [the module docs](crate::keyfile)).
    pub fn to_file_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(SECRET_FILE_LEN));
        out.extend_from_slice(SECRET_FILE_MAGIC);
        out.push(KEY_FILE_VERSION);
        out.extend_from_slice(self.to_seed().as_ref());
        out.extend_from_slice(self.public().as_bytes());
        out
    }

    /// Decodes an identity file and checks that its seed gives its public form.
    ///
    /// # Errors
    /// [`Error::InvalidKeyFile`] for a wrong header, version or size, or a seed that does
    /// not match the stored public form.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let body = header(bytes, SECRET_FILE_MAGIC)?;
        if body.len() != IDENTITY_SEED_LEN + IDENTITY_PUBLIC_LEN {
            return Err(Error::InvalidKeyFile(
                "an identity file is exactly 3365 bytes",
            ));
        }
        let (seed, public) = body.split_at(IDENTITY_SEED_LEN);
        let seed: Zeroizing<[u8; IDENTITY_SEED_LEN]> = Zeroizing::new(
            seed.try_into()
                .map_err(|_| Error::InvalidKeyFile("seed size"))?,
        );
        let identity = Identity::from_seed(&seed)?;
        if identity.public().as_bytes()[..] != *public {
            return Err(Error::InvalidKeyFile(
                "the seed does not give the stored public identity (corrupted file)",
            ));
        }
        Ok(identity)
    }

    /// Writes the identity to a new file, readable by its owner only. Refuses to replace
    /// an existing file.
    ///
    /// # Errors
    /// [`Error::Io`], with kind `AlreadyExists` if `path` exists.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        write_new(path.as_ref(), &self.to_file_bytes(), true)
    }

    /// Reads an identity file.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read, otherwise as [`Identity::from_file_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        warn_if_shared(path);
        let bytes = Zeroizing::new(read_bounded(path)?);
        Self::from_file_bytes(&bytes)
    }
}

impl IdentityPublic {
    /// The public identity file encoding (3205 bytes).
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PUBLIC_FILE_LEN);
        out.extend_from_slice(PUBLIC_FILE_MAGIC);
        out.push(KEY_FILE_VERSION);
        out.extend_from_slice(self.as_bytes());
        out
    }

    /// Decodes a public identity file, or a bare 3200-byte public form.
    ///
    /// # Errors
    /// [`Error::InvalidKeyFile`] for a wrong header, version or size;
    /// [`Error::InvalidIdentity`] if the public form does not decode.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() == IDENTITY_PUBLIC_LEN && !bytes.starts_with(PUBLIC_FILE_MAGIC) {
            return IdentityPublic::from_bytes(bytes);
        }
        let body = header(bytes, PUBLIC_FILE_MAGIC)?;
        if body.len() != IDENTITY_PUBLIC_LEN {
            return Err(Error::InvalidKeyFile(
                "a public identity file is exactly 3205 bytes",
            ));
        }
        IdentityPublic::from_bytes(body)
    }

    /// Writes the public identity to a new file. Refuses to replace an existing file.
    ///
    /// # Errors
    /// [`Error::Io`], with kind `AlreadyExists` if `path` exists.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        write_new(path.as_ref(), &self.to_file_bytes(), false)
    }

    /// Reads a public identity file (or a bare 3200-byte public form).
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read, otherwise as [`IdentityPublic::from_file_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let bytes = read_bounded(path.as_ref())?;
        Self::from_file_bytes(&bytes)
    }
}

fn header<'a>(bytes: &'a [u8], magic: &[u8; 4]) -> Result<&'a [u8], Error> {
    let Some((found, rest)) = bytes.split_first_chunk::<4>() else {
        return Err(Error::InvalidKeyFile("file too short for a header"));
    };
    if found != magic {
        return Err(Error::InvalidKeyFile(if magic == SECRET_FILE_MAGIC {
            "not an identity file (expected the ZWSK header)"
        } else {
            "not a public identity file (expected the ZWPK header)"
        }));
    }
    match rest.split_first() {
        Some((&KEY_FILE_VERSION, body)) => Ok(body),
        Some(_) => Err(Error::InvalidKeyFile("unsupported key file version")),
        None => Err(Error::InvalidKeyFile("file too short for a version byte")),
    }
}

/// Reads a file of at most a few kilobytes; anything larger is not a key file, and is
/// refused without being read into memory.
fn read_bounded(path: &Path) -> Result<Vec<u8>, Error> {
    const LIMIT: u64 = 8 * 1024;
    let mut bytes = Vec::new();
    File::open(path)?.take(LIMIT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > LIMIT {
        return Err(Error::InvalidKeyFile(
            "file is far larger than any Z-Wing key file",
        ));
    }
    Ok(bytes)
}

fn write_new(path: &Path, bytes: &[u8], secret: bool) -> Result<(), Error> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        // A half-written key file is worse than none.
        drop(file);
        let _ = fs::remove_file(path);
        return Err(e.into());
    }
    Ok(())
}

fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", meta.permissions().mode() & 0o777),
                "zwing: identity file is readable by other users"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_files_round_trip() {
        let id = Identity::generate().unwrap();
        let bytes = id.to_file_bytes();
        assert_eq!(bytes.len(), SECRET_FILE_LEN);
        let back = Identity::from_file_bytes(&bytes).unwrap();
        assert_eq!(back.public(), id.public());
        let public = id.public().to_file_bytes();
        assert_eq!(public.len(), PUBLIC_FILE_LEN);
        assert_eq!(
            &IdentityPublic::from_file_bytes(&public).unwrap(),
            id.public()
        );
        assert_eq!(
            &IdentityPublic::from_file_bytes(id.public().as_bytes()).unwrap(),
            id.public()
        );
    }

    #[test]
    fn damaged_files_are_refused() {
        let id = Identity::generate().unwrap();
        let bytes = id.to_file_bytes();
        let mut bad_seed = bytes.to_vec();
        bad_seed[10] ^= 1;
        assert!(matches!(
            Identity::from_file_bytes(&bad_seed),
            Err(Error::InvalidKeyFile(_))
        ));
        let mut bad_version = bytes.to_vec();
        bad_version[4] = 2;
        assert!(Identity::from_file_bytes(&bad_version).is_err());
        assert!(Identity::from_file_bytes(&bytes[..100]).is_err());
        assert!(KeyFile::from_bytes(b"hello").is_err());
        assert!(matches!(
            KeyFile::from_bytes(&bytes).unwrap(),
            KeyFile::Secret(_)
        ));
    }
}
