//! The node's identity on the network: an X25519 key pair kept in the data directory, whose
//! public half is the node id peers see (and may pin with `--peer id@host:port`).
//!
//! The key is the static key of the Noise handshake ([`super::secure`]). It is made on first
//! start, written with mode 0600 through a temporary file and a rename (a crash never leaves
//! half a key), and refused if others than the owner have any permission on it, as ssh refuses
//! a private key.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use zeroize::Zeroizing;

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "node_key";
/// Bytes of an X25519 key.
pub const KEY_LEN: usize = 32;

/// A node's public identity: its X25519 public key, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; KEY_LEN]);

impl NodeId {
    /// True when the key is a point of small order (on the curve or its twist): a Diffie-Hellman
    /// with it gives a value known to everyone, so a peer could "prove" it without any secret.
    /// Every clamped scalar is a multiple of the cofactor 8, which sends exactly those points to
    /// zero.
    pub fn is_small_order(&self) -> bool {
        curve25519_dalek::MontgomeryPoint(self.0)
            .mul_clamped([0x55; KEY_LEN])
            .to_bytes()
            == [0; KEY_LEN]
    }

    /// True when the key is not the canonical encoding of its coordinate: the top bit set (X25519
    /// ignores it) or a value of at least 2^255 - 19. Such a key names the same secret as its
    /// canonical form under another id.
    pub fn is_non_canonical(&self) -> bool {
        let k = &self.0;
        let top = k[KEY_LEN - 1];
        top & 0x80 != 0
            || (top == 0x7f && k[1..KEY_LEN - 1].iter().all(|b| *b == 0xff) && k[0] >= 0xed)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// Why a node id did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a node id is 64 hex digits, got {0:?}")]
pub struct BadNodeId(pub String);

impl FromStr for NodeId {
    type Err = BadNodeId;

    fn from_str(s: &str) -> Result<NodeId, BadNodeId> {
        let mut out = [0u8; KEY_LEN];
        hex::decode_to_slice(s, &mut out).map_err(|_| BadNodeId(s.to_string()))?;
        Ok(NodeId(out))
    }
}

/// Why the identity key could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file could not be read, written or renamed.
    #[error("identity key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not a key.
    #[error("identity key {path} is {len} bytes, not {KEY_LEN}")]
    WrongLength {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// Others than the owner have any permission on the file.
    #[error("identity key {path} has mode {mode:o}, open to others; run: chmod 600 {path}")]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// This node's key pair.
pub struct Identity {
    secret: Zeroizing<[u8; KEY_LEN]>,
    id: NodeId,
}

impl Identity {
    /// The identity of `secret`.
    pub fn from_secret(secret: [u8; KEY_LEN]) -> Identity {
        let public = curve25519_dalek::MontgomeryPoint::mul_base_clamped(secret).to_bytes();
        Identity {
            secret: Zeroizing::new(secret),
            id: NodeId(public),
        }
    }

    /// A fresh identity from the operating system's randomness.
    pub fn generate() -> Identity {
        let mut secret = [0u8; KEY_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        Identity::from_secret(secret)
    }

    /// The identity kept in `dir`, made (and written, mode 0600) on first use.
    pub fn load_or_create(dir: &Path) -> Result<Identity, IdentityError> {
        let path = dir.join(KEY_FILE);
        let io = |source| IdentityError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::File::open(&path) {
            Ok(mut f) => {
                use std::io::Read;
                use std::os::unix::fs::PermissionsExt;
                // The mode of the file opened, not of whatever the path names later.
                let mode = f.metadata().map_err(io)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(IdentityError::TooOpen { path, mode });
                }
                let mut bytes = Zeroizing::new(Vec::new());
                f.read_to_end(&mut bytes).map_err(io)?;
                let secret: [u8; KEY_LEN] =
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| IdentityError::WrongLength {
                            path: path.clone(),
                            len: bytes.len(),
                        })?;
                Ok(Identity::from_secret(secret))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let identity = Identity::generate();
                write_private(&path, identity.secret.as_slice()).map_err(io)?;
                Ok(identity)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The public node id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The private key, for the handshake.
    pub(super) fn secret(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }
}

/// Writes `bytes` to `path` readable by the owner only, atomically (a temporary file created
/// fresh, sync, rename, sync of the directory).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    // A leftover from a crash (or anything else at that name, a symlink included) goes first:
    // the new file must be one this call creates, with this mode.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_id_is_the_x25519_public_key_pinned_by_a_vector() {
        // RFC 7748 section 6.1: Alice's private key and public key.
        let secret: [u8; 32] =
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap_or_default()
                .try_into()
                .unwrap_or([0; 32]);
        let id = Identity::from_secret(secret).id();
        assert_eq!(
            id.to_string(),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        assert_eq!(id.to_string().parse::<NodeId>(), Ok(id));
        assert!("8520f0".parse::<NodeId>().is_err());
        assert!(format!("{id}x").parse::<NodeId>().is_err());
    }

    fn id(hex: &str) -> NodeId {
        hex.parse().unwrap_or_else(|e| panic!("{hex}: {e}"))
    }

    #[test]
    fn small_order_and_non_canonical_keys_are_told_apart_from_real_ones() {
        // libsodium's list of keys to refuse: u = 0 (order 2), u = 1 and p - 1 (order 4, on
        // the twist and the curve), and two points of order 8.
        let small = [
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0100000000000000000000000000000000000000000000000000000000000000",
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
            "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        ];
        for k in small {
            assert!(id(k).is_small_order(), "{k}");
            assert!(!id(k).is_non_canonical(), "{k}");
        }
        // p, p + 1, and the top bit: encodings X25519 reduces to another one.
        for k in [
            "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4eea",
        ] {
            assert!(id(k).is_non_canonical(), "{k}");
        }
        // p - 2 is canonical; real keys are neither small-order nor non-canonical.
        assert!(
            !id("ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
                .is_non_canonical()
        );
        for n in 1..20u8 {
            let real = Identity::from_secret([n; 32]).id();
            assert!(!real.is_small_order() && !real.is_non_canonical(), "{real}");
        }
    }

    #[test]
    fn the_key_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = Identity::load_or_create(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(KEY_FILE);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
        let again = Identity::load_or_create(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.id(), again.id());
        // Readable by others: refused, with the fix in the message.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = Identity::load_or_create(dir.path())
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("chmod 600")));
        // Not a key: refused.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&path, b"short").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            Identity::load_or_create(dir.path()),
            Err(IdentityError::WrongLength { len: 5, .. })
        ));
    }

    #[test]
    fn a_planted_temporary_file_is_neither_written_through_nor_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, b"not yours").unwrap_or_else(|e| panic!("{e}"));
        let tmp = dir.path().join(KEY_FILE).with_extension("tmp");
        std::os::unix::fs::symlink(&elsewhere, &tmp).unwrap_or_else(|e| panic!("{e}"));
        Identity::load_or_create(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read(&elsewhere).ok(), Some(b"not yours".to_vec()));
        let key = std::fs::symlink_metadata(dir.path().join(KEY_FILE));
        assert!(key.is_ok_and(|m| m.file_type().is_file() && m.len() == KEY_LEN as u64));
    }
}
