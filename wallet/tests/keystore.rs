//! The keystore: a sealed key opens with its passphrase only; any change to the file is
//! detected and reported as corruption, not as a wrong passphrase; files are private.

use std::os::unix::fs::PermissionsExt;

use ferrite_core::dev::dev_key;
use ferrite_wallet::keystore::{self, KeyFile};
use ferrite_wallet::WalletError;

/// Cheap Argon2id costs: the tests check the format, not the work factor.
const CHEAP: (u32, u32, u32) = (1024, 1, 1);

fn sealed(name: &str) -> KeyFile {
    keystore::seal(name, "tfe", &dev_key(7), b"correct horse", CHEAP).unwrap()
}

#[test]
fn round_trip_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = dir.path().join("w");
    let path = keystore::save(&wallets, &sealed("alice")).unwrap();
    let (file, p) = keystore::load(&wallets, "alice").unwrap();
    assert_eq!(p, path);
    let key = file.open(b"correct horse", &p).unwrap();
    assert_eq!(key.public_key(), dev_key(7).public_key());
    assert_eq!(
        keystore::names(&wallets).unwrap(),
        vec!["alice".to_string()]
    );
    // Private: the file 0600, the directory 0700.
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mode = std::fs::metadata(&wallets).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    // The secret is not in the file in any readable form.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&hex::encode(*dev_key(7).to_bytes())));
    // No second wallet under the same name.
    assert!(matches!(
        keystore::save(&wallets, &sealed("alice")),
        Err(WalletError::Usage(_))
    ));
}

#[test]
fn wrong_passphrase_is_told_apart_from_damage() {
    let f = sealed("bob");
    let p = std::path::Path::new("bob.json");
    let e = f.open(b"Correct horse", p).unwrap_err();
    assert!(
        matches!(e, WalletError::WrongPassphrase(ref n) if n == "bob"),
        "{e}"
    );
    assert_eq!(e.exit_code(), 3);
    assert!(matches!(
        f.open(b"", p),
        Err(WalletError::WrongPassphrase(_))
    ));
}

#[test]
fn every_tampered_field_is_detected() {
    let f = sealed("carol");
    let p = std::path::Path::new("carol.json");
    let flip_hex = |s: &str| {
        let mut b = hex::decode(s).unwrap();
        b[0] ^= 1;
        hex::encode(b)
    };
    let mut cases: Vec<(&str, KeyFile)> = Vec::new();
    let mut t = f.clone();
    t.ciphertext = flip_hex(&t.ciphertext);
    cases.push(("ciphertext", t));
    let mut t = f.clone();
    t.nonce = flip_hex(&t.nonce);
    cases.push(("nonce", t));
    let mut t = f.clone();
    t.prefix = "dfe".into();
    cases.push(("prefix", t));
    let mut t = f.clone();
    t.name = "mallory".into();
    cases.push(("name", t));
    let mut t = f.clone();
    t.public_key = hex::encode(dev_key(8).public_key().0);
    cases.push(("public key", t));
    let mut t = f.clone();
    t.ciphertext.truncate(10);
    cases.push(("truncated", t));
    let mut t = f.clone();
    t.key_check = flip_hex(&t.key_check);
    cases.push(("key check", t));
    let mut t = f.clone();
    t.kdf.t_cost = 2;
    cases.push(("cost within limits", t));
    let mut t = f.clone();
    t.kdf.salt = flip_hex(&t.kdf.salt);
    cases.push(("salt", t));
    for (what, t) in cases {
        // Damage: the checksum no longer matches, reported before any key derivation.
        let e = t.open(b"correct horse", p).unwrap_err();
        assert!(matches!(e, WalletError::Corrupt { .. }), "{what}: {e}");
        assert!(e.to_string().contains("checksum"), "{what}: {e}");
        assert_eq!(e.exit_code(), 4, "{what}");
        // Tampering by someone who also fixes the checksum: the cipher's tag (or the derived
        // key) still refuses it.
        let mut forged = t.clone();
        forged.checksum = forged.expected_checksum();
        let e = forged.open(b"correct horse", p).unwrap_err();
        match what {
            // A different salt or cost derives another key, and a forged key check no longer
            // matches the real key: indistinguishable from a wrong passphrase, and refused
            // either way.
            "salt" | "cost within limits" | "key check" => {
                assert!(matches!(e, WalletError::WrongPassphrase(_)), "{what}: {e}")
            }
            _ => assert!(matches!(e, WalletError::Corrupt { .. }), "{what}: {e}"),
        }
    }
    // Costs beyond the limits are refused before any work is done.
    let mut t = f.clone();
    t.kdf.m_cost = u32::MAX;
    assert!(matches!(
        t.open(b"correct horse", p),
        Err(WalletError::Corrupt { .. })
    ));
    let mut t = f;
    t.kdf.algorithm = "scrypt".into();
    assert!(matches!(
        t.open(b"correct horse", p),
        Err(WalletError::Corrupt { .. })
    ));
}

#[test]
fn unreadable_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let e = keystore::load(dir.path(), "nobody").unwrap_err();
    assert!(matches!(e, WalletError::UnknownWallet { .. }), "{e}");
    assert_eq!(e.exit_code(), 5);
    std::fs::write(dir.path().join("junk.json"), b"{ not json").unwrap();
    let e = keystore::load(dir.path(), "junk").unwrap_err();
    assert_eq!(e.exit_code(), 4, "{e}");
    std::fs::write(dir.path().join("huge.json"), vec![b' '; 100_000]).unwrap();
    assert_eq!(
        keystore::load(dir.path(), "huge").unwrap_err().exit_code(),
        4
    );
    // A file renamed to another wallet's name says so.
    let dir2 = tempfile::tempdir().unwrap();
    keystore::save(dir2.path(), &sealed("dave")).unwrap();
    std::fs::rename(dir2.path().join("dave.json"), dir2.path().join("erin.json")).unwrap();
    assert_eq!(
        keystore::load(dir2.path(), "erin").unwrap_err().exit_code(),
        4
    );
    // Names that are not file-safe are refused.
    for bad in ["", "../x", "a b", "x/y", &"n".repeat(65)] {
        assert!(
            matches!(keystore::check_name(bad), Err(WalletError::Usage(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn odd_files_are_refused_and_saving_leaves_no_litter() {
    let dir = tempfile::tempdir().unwrap();
    // Not UTF-8, and not a file at all.
    std::fs::write(dir.path().join("junk.json"), b"\xff\xfe not json").unwrap();
    let e = keystore::load(dir.path(), "junk").unwrap_err();
    assert_eq!(e.exit_code(), 4, "{e}");
    std::fs::create_dir(dir.path().join("folder.json")).unwrap();
    let e = keystore::load(dir.path(), "folder").unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    // An existing wallet is never replaced, and the temporary file is always removed.
    keystore::save(dir.path(), &sealed("carol")).unwrap();
    let before = std::fs::read(dir.path().join("carol.json")).unwrap();
    let e = keystore::save(dir.path(), &sealed("carol")).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert_eq!(
        std::fs::read(dir.path().join("carol.json")).unwrap(),
        before
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
