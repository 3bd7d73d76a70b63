//! Ed25519 keys and signatures: generation and signing with ed25519-dalek.
//!
//! Verification lives in [`crate::verify`], which applies the ZIP-215 rules that consensus uses.

use std::fmt;

use ed25519_dalek::Signer;
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::address::Address;
use crate::encoding::{Decode, DecodeError, Encode, Reader};

/// Length of a public key, in bytes.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of a signature, in bytes.
pub const SIGNATURE_LEN: usize = 64;
/// Length of a secret key seed, in bytes.
pub const SECRET_KEY_LEN: usize = 32;

/// An ed25519 public key as the 32 bytes that appear in transactions. Any 32 bytes decode; whether
/// they are a usable key is a validation rule, not an encoding rule.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// The address that this key controls.
    pub fn address(&self) -> Address {
        Address::from_public_key(self)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

impl Encode for PublicKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn encoded_len(&self) -> usize {
        PUBLIC_KEY_LEN
    }
}

impl Decode for PublicKey {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PublicKey(r.array()?))
    }
}

/// An ed25519 signature (R || s), 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

impl Encode for Signature {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn encoded_len(&self) -> usize {
        SIGNATURE_LEN
    }
}

impl Decode for Signature {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Signature(r.array()?))
    }
}

/// A secret signing key. Its bytes are wiped from memory when it is dropped.
#[derive(Clone)]
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    /// A fresh random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; SECRET_KEY_LEN]);
        rng.fill_bytes(seed.as_mut());
        SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The key with this 32-byte seed (the RFC 8032 secret key).
    pub fn from_bytes(seed: &[u8; SECRET_KEY_LEN]) -> Self {
        SecretKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, wiped when the returned value is dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; SECRET_KEY_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// The address this key controls.
    pub fn address(&self) -> Address {
        self.public_key().address()
    }

    /// Signs `message` (deterministic RFC 8032 Ed25519).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<hidden>, public {:?})", self.public_key())
    }
}
