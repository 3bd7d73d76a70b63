//! Secrets as people carry them: 64 hex digits (what `ferrite-node --dev` prints), or a
//! 24-word recovery phrase, which is the BIP-39 encoding of the same 32 bytes.

use ferrite_core::SecretKey;
use zeroize::Zeroizing;

use crate::error::WalletError;

/// Room for any 24-word English phrase: words have at most 8 letters, plus 23 spaces.
const MAX_PHRASE_LEN: usize = 24 * 8 + 23;

/// The recovery phrase of `secret`: 24 English BIP-39 words encoding its 32 bytes.
pub fn phrase_of(secret: &SecretKey) -> Result<Zeroizing<String>, WalletError> {
    use std::fmt::Write;
    let bytes = secret.to_bytes();
    let m = bip39::Mnemonic::from_entropy(bytes.as_ref())
        .map_err(|e| WalletError::Internal(format!("cannot make a recovery phrase: {e}")))?;
    // Written into a buffer that never grows, so no unwiped copy is left behind.
    let mut phrase = Zeroizing::new(String::with_capacity(MAX_PHRASE_LEN));
    write!(phrase, "{m}").map_err(|e| WalletError::Internal(e.to_string()))?;
    Ok(phrase)
}

/// Reads a secret typed as 64 hex digits or as a recovery phrase.
pub fn parse_secret(input: &str) -> Result<SecretKey, WalletError> {
    let s = input.trim();
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(s, seed.as_mut())
            .map_err(|e| WalletError::Usage(format!("secret key: {e}")))?;
        return Ok(SecretKey::from_bytes(&seed));
    }
    // Every copy of the phrase is wiped when dropped, as is the parsed mnemonic.
    let words = Zeroizing::new(s.split_whitespace().collect::<Vec<_>>().join(" "));
    let lower = Zeroizing::new(words.to_lowercase());
    let m = bip39::Mnemonic::parse_normalized(&lower).map_err(|e| {
        WalletError::Usage(format!(
            "not a secret key (64 hex digits) or a recovery phrase (24 words): {e}"
        ))
    })?;
    let entropy = Zeroizing::new(m.to_entropy());
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
        entropy
            .as_slice()
            .try_into()
            .map_err(|_| WalletError::Usage("a recovery phrase has 24 words".into()))?,
    );
    Ok(SecretKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrase_and_hex_name_the_same_key() {
        let k = ferrite_core::dev::dev_key(3);
        let phrase = phrase_of(&k).unwrap();
        assert_eq!(phrase.split(' ').count(), 24);
        assert_eq!(parse_secret(&phrase).unwrap().public_key(), k.public_key());
        // Spacing and case do not matter.
        let messy = format!("  {}  ", phrase.to_uppercase().replace(' ', "   "));
        assert_eq!(parse_secret(&messy).unwrap().public_key(), k.public_key());
        let hexed = hex::encode(k.to_bytes().as_slice());
        assert_eq!(parse_secret(&hexed).unwrap().public_key(), k.public_key());
    }

    #[test]
    fn refuses_near_misses() {
        let k = ferrite_core::dev::dev_key(3);
        let phrase = phrase_of(&k).unwrap();
        // The last word's lowest bit is a checksum bit: flipping it always breaks the
        // checksum. A missing word breaks the length.
        let list = bip39::Language::English.word_list();
        let mut words: Vec<&str> = phrase.split(' ').collect();
        let last = words.len() - 1;
        let index = list.iter().position(|w| *w == words[last]).unwrap();
        words[last] = list[index ^ 1];
        assert!(parse_secret(&words.join(" ")).is_err());
        assert!(parse_secret(&phrase.split(' ').skip(1).collect::<Vec<_>>().join(" ")).is_err());
        assert!(parse_secret(&"ab".repeat(31)).is_err());
        assert!(parse_secret("").is_err());
        // 12 valid words encode 16 bytes, not a key.
        let short = bip39::Mnemonic::from_entropy(&[7u8; 16])
            .unwrap()
            .to_string();
        assert!(parse_secret(&short).is_err());
    }
}
