//! The keystore: one JSON file per key in the wallet directory, the 32-byte secret encrypted
//! with XChaCha20-Poly1305 under a key derived from the passphrase with Argon2id. Parameters,
//! salt and nonce are stored in the file; the public header is bound to the ciphertext as
//! associated data; a plain checksum over the whole file tells accidental damage from a wrong
//! passphrase; files are written atomically with mode 0600. Layout: docs/wallet.md.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use ferrite_core::{PublicKey, SecretKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::WalletError;

/// The `format` field of every keystore file.
pub const FORMAT: &str = "ferrite-keystore";
/// The layout version written.
pub const VERSION: u32 = 1;
/// Argon2id memory for new files, KiB: 64 MiB, RFC 9106's second recommended setting, about
/// 0.14 s here (scripts/bench-wallet, release build).
pub const DEFAULT_M_COST: u32 = 64 * 1024;
/// Argon2id passes for new files: three passes with 64 MiB is RFC 9106's second setting.
pub const DEFAULT_T_COST: u32 = 3;
/// Argon2id lanes for new files: one, so the cost is the same on a one-core machine.
pub const DEFAULT_P_COST: u32 = 1;
/// Largest memory cost accepted from a file (256 MiB, four times the default): a crafted file
/// cannot make the wallet allocate more, and that much fits any machine that runs a node.
pub const MAX_M_COST: u32 = 256 * 1024;
/// Largest pass count accepted from a file: bounds the time a crafted file can cost (about
/// five seconds at the default memory here).
pub const MAX_T_COST: u32 = 64;
/// Largest lane count accepted from a file: more lanes than cores buys nothing.
pub const MAX_P_COST: u32 = 16;
/// Largest keystore file read: real ones are under 1 KiB.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;
/// Longest wallet name: it is a file name, and must stay readable in `list`.
pub const MAX_NAME_LEN: usize = 64;

/// Argon2 salt bytes: 16 is RFC 9106's recommendation.
const SALT_LEN: usize = 16;
/// XChaCha20-Poly1305 nonce bytes (fixed by the cipher); random nonces of this size never
/// collide in practice.
const NONCE_LEN: usize = 24;
/// Bytes of the key check and the file checksum kept: 128 bits is far beyond chance matches.
const CHECK_LEN: usize = 16;
/// blake3 key-derivation context of the passphrase check (domain separation from any other
/// use of the derived key).
const KEY_CHECK_CONTEXT: &str = "ferrite keystore 2026 passphrase check";
/// blake3 key-derivation context of the file checksum.
const CHECKSUM_CONTEXT: &str = "ferrite keystore 2026 file checksum";

/// Argon2id parameters as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KdfParams {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Memory, KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
    /// Salt, hex.
    pub salt: String,
}

/// A keystore file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// Layout version.
    pub version: u32,
    /// The wallet's name (also the file name).
    pub name: String,
    /// Public key, hex (the address derives from it).
    pub public_key: String,
    /// Address prefix of the chain the wallet was made for (how `list` and `address` show it).
    pub prefix: String,
    /// Key derivation.
    pub kdf: KdfParams,
    /// Always `xchacha20poly1305`.
    pub cipher: String,
    /// Cipher nonce, hex.
    pub nonce: String,
    /// The encrypted 32-byte secret with its tag, hex.
    pub ciphertext: String,
    /// Keyed hash of the derived key, hex: tells a wrong passphrase from a damaged ciphertext.
    pub key_check: String,
    /// Plain hash of every other field, hex: damage anywhere in the file is reported as
    /// damage before any key derivation, never as a wrong passphrase.
    pub checksum: String,
}

/// Checks a wallet name: letters, digits, `-` and `_`, 1 to 64 characters (it names a file).
pub fn check_name(name: &str) -> Result<(), WalletError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(WalletError::Usage(format!(
            "wallet name {name:?} must be 1 to {MAX_NAME_LEN} letters, digits, '-' or '_'"
        )))
    }
}

fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

fn derive(passphrase: &[u8], kdf: &KdfParams, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, String> {
    let params = Params::new(kdf.m_cost, kdf.t_cost, kdf.p_cost, Some(32))
        .map_err(|e| format!("key derivation parameters: {e}"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, key.as_mut())
        .map_err(|e| format!("key derivation: {e}"))?;
    Ok(key)
}

fn key_check(key: &[u8; 32]) -> String {
    let k = blake3::derive_key(KEY_CHECK_CONTEXT, key);
    hex::encode(&k[..CHECK_LEN])
}

/// The checksum of every field but itself.
fn checksum(f: &KeyFile) -> String {
    let mut text = associated_data(f);
    for part in [&f.nonce, &f.ciphertext, &f.key_check] {
        text.push(b'|');
        text.extend_from_slice(part.as_bytes());
    }
    let k = blake3::derive_key(CHECKSUM_CONTEXT, &text);
    hex::encode(&k[..CHECK_LEN])
}

/// The associated data: every public field, so none can be swapped without detection.
fn associated_data(f: &KeyFile) -> Vec<u8> {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        f.format,
        f.version,
        f.name,
        f.public_key,
        f.prefix,
        f.kdf.algorithm,
        f.kdf.m_cost,
        f.kdf.t_cost,
        f.kdf.p_cost,
        f.kdf.salt,
        f.cipher
    )
    .into_bytes()
}

/// Encrypts `secret` under `passphrase` as wallet `name`.
pub fn seal(
    name: &str,
    prefix: &str,
    secret: &SecretKey,
    passphrase: &[u8],
    cost: (u32, u32, u32),
) -> Result<KeyFile, WalletError> {
    let mut rng = rand::rngs::OsRng;
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let mut file = KeyFile {
        format: FORMAT.into(),
        version: VERSION,
        name: name.into(),
        public_key: hex::encode(secret.public_key().0),
        prefix: prefix.into(),
        kdf: KdfParams {
            algorithm: "argon2id".into(),
            m_cost: cost.0,
            t_cost: cost.1,
            p_cost: cost.2,
            salt: hex::encode(salt),
        },
        cipher: "xchacha20poly1305".into(),
        nonce: hex::encode(nonce),
        ciphertext: String::new(),
        key_check: String::new(),
        checksum: String::new(),
    };
    let key = derive(passphrase, &file.kdf, &salt).map_err(WalletError::Internal)?;
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let plain = secret.to_bytes();
    let aad = associated_data(&file);
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plain.as_ref(),
                aad: &aad,
            },
        )
        .map_err(|_| WalletError::Internal("encryption failed".into()))?;
    file.ciphertext = hex::encode(sealed);
    file.key_check = key_check(&key);
    file.checksum = checksum(&file);
    Ok(file)
}

impl KeyFile {
    /// What the `checksum` field must hold for the other fields as they are (a tool that
    /// edits a file on purpose sets it to this).
    pub fn expected_checksum(&self) -> String {
        checksum(self)
    }

    /// The public key.
    pub fn public_key(&self) -> Result<PublicKey, String> {
        let bytes: [u8; 32] = hex::decode(&self.public_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("public_key is not 32 bytes of hex")?;
        Ok(PublicKey(bytes))
    }

    /// Decrypts the secret. `path` names the file in errors.
    pub fn open(&self, passphrase: &[u8], path: &Path) -> Result<SecretKey, WalletError> {
        let corrupt = |reason: String| WalletError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        self.check_header().map_err(corrupt)?;
        let salt = hex::decode(&self.kdf.salt).map_err(|_| corrupt("salt is not hex".into()))?;
        let nonce: [u8; NONCE_LEN] = hex::decode(&self.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| corrupt("nonce is not 24 bytes of hex".into()))?;
        let sealed =
            hex::decode(&self.ciphertext).map_err(|_| corrupt("ciphertext is not hex".into()))?;
        let key = derive(passphrase, &self.kdf, &salt).map_err(corrupt)?;
        if key_check(&key) != self.key_check {
            return Err(WalletError::WrongPassphrase(self.name.clone()));
        }
        let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &sealed,
                        aad: &associated_data(self),
                    },
                )
                .map_err(|_| corrupt("the ciphertext or a header field was altered".into()))?,
        );
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            plain
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("the secret is not 32 bytes".into()))?,
        );
        let secret = SecretKey::from_bytes(&seed);
        if Ok(secret.public_key()) != self.public_key() {
            return Err(corrupt("the secret does not match the public key".into()));
        }
        Ok(secret)
    }

    fn check_header(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format is {:?}, not {FORMAT:?}", self.format));
        }
        if self.version != VERSION {
            return Err(format!("version {} is not {VERSION}", self.version));
        }
        if self.kdf.algorithm != "argon2id" || self.cipher != "xchacha20poly1305" {
            return Err("unknown key derivation or cipher".into());
        }
        let k = &self.kdf;
        if k.m_cost > MAX_M_COST || k.t_cost > MAX_T_COST || k.p_cost > MAX_P_COST {
            return Err("key derivation costs are beyond what this wallet accepts".into());
        }
        self.public_key()?;
        if checksum(self) != self.checksum {
            return Err("the file's checksum does not match its contents".into());
        }
        Ok(())
    }
}

/// The wallet directory: created with mode 0700 when missing (no window in which another
/// user could open it); a warning when an existing one is writable by others, who could
/// replace or delete keystore files.
pub fn ensure_dir(dir: &Path) -> Result<(), WalletError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| at(dir, e))?;
    let mode = fs::metadata(dir)
        .map_err(|e| at(dir, e))?
        .permissions()
        .mode();
    if mode & 0o022 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            "the wallet directory is writable by other users; run chmod 700 on it"
        );
    }
    Ok(())
}

/// `e` with the path it happened on.
fn at(path: &Path, e: std::io::Error) -> WalletError {
    WalletError::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    ))
}

/// Writes `bytes` to a new file at `tmp` (mode 0600) and syncs it.
fn write_new(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes a new keystore file atomically with mode 0600; refuses to replace one.
pub fn save(dir: &Path, file: &KeyFile) -> Result<PathBuf, WalletError> {
    check_name(&file.name)?;
    ensure_dir(dir)?;
    let path = path_of(dir, &file.name);
    if path.exists() {
        return Err(WalletError::Usage(format!(
            "a wallet named {:?} already exists ({})",
            file.name,
            path.display()
        )));
    }
    // A fresh random name: create_new never follows or reuses a file someone else placed.
    let tmp = dir.join(format!(
        ".{}.{:016x}.tmp",
        file.name,
        rand::rngs::OsRng.next_u64()
    ));
    let mut json = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
    json.push(b'\n');
    // A hard link fails if the name was taken meanwhile, where a rename would replace it.
    let linked = write_new(&tmp, &json).and_then(|()| fs::hard_link(&tmp, &path));
    // The temporary file goes whether the write, the sync or the link failed.
    let _ = fs::remove_file(&tmp);
    linked.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            WalletError::Usage(format!("a wallet named {:?} already exists", file.name))
        } else {
            at(&path, e)
        }
    })?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// Reads wallet `name` from `dir`.
pub fn load(dir: &Path, name: &str) -> Result<(KeyFile, PathBuf), WalletError> {
    check_name(name)?;
    let path = path_of(dir, name);
    let corrupt = |reason: String| WalletError::Corrupt {
        path: path.clone(),
        reason,
    };
    // Opened once; size and mode are read from the open file, so they are the checks of the
    // file actually read.
    let handle = match fs::File::open(&path) {
        Ok(h) => h,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(WalletError::UnknownWallet {
                name: name.into(),
                dir: dir.to_path_buf(),
            })
        }
        Err(e) => return Err(at(&path, e)),
    };
    let meta = handle.metadata().map_err(|e| at(&path, e))?;
    if !meta.is_file() {
        return Err(corrupt("not a regular file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(corrupt(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            "keystore file is readable by other users; run chmod 600 on it"
        );
    }
    let mut bytes = Vec::new();
    handle
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| at(&path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(corrupt(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    let file: KeyFile =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("not a keystore: {e}")))?;
    file.check_header().map_err(corrupt)?;
    if file.name != name {
        return Err(corrupt(format!("it names itself {:?}", file.name)));
    }
    Ok((file, path))
}

/// The names of every wallet in `dir`, sorted.
pub fn names(dir: &Path) -> Result<Vec<String>, WalletError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(at(dir, e)),
    };
    for entry in entries {
        let name = entry.map_err(|e| at(dir, e))?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".json") {
            if check_name(stem).is_ok() {
                out.push(stem.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}
