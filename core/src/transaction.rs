//! Transfers: the unsigned [`Transaction`], its signed form, its id and its signing message.
//!
//! The signing message binds the chain id (genesis hash) and every field, so a signed transfer is
//! valid on one chain only and nobody can alter any field. The id hashes the full signed encoding;
//! ZIP-215 requires a reduced `s`, so no third party can produce another valid encoding.

use crate::address::Address;
use crate::encoding::{put_u64, Decode, DecodeError, Encode, Reader};
use crate::hash::{self, Domain, Hash};
use crate::keys::{PublicKey, SecretKey, Signature, PUBLIC_KEY_LEN, SIGNATURE_LEN};

/// Encoded length of an unsigned transaction: sender key, recipient, amount, fee, nonce.
pub const TX_BODY_LEN: usize = PUBLIC_KEY_LEN + 32 + 8 + 8 + 8;
/// Encoded length of a signed transaction.
pub const SIGNED_TX_LEN: usize = TX_BODY_LEN + SIGNATURE_LEN;

/// A transfer of `amount` base units from the owner of `sender` to `recipient`, paying `fee` to
/// the miner. `nonce` must equal the number of transfers the sender has made before.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Transaction {
    /// The sender's public key; the sender's address is derived from it.
    pub sender: PublicKey,
    /// Who receives `amount`.
    pub recipient: Address,
    /// Base units moved to the recipient. Must be non-zero.
    pub amount: u64,
    /// Base units paid to the block's miner.
    pub fee: u64,
    /// The sender's sequence number.
    pub nonce: u64,
}

impl Transaction {
    /// The sender's address.
    pub fn sender_address(&self) -> Address {
        self.sender.address()
    }

    /// The exact bytes that are signed: domain tag, chain id, then the canonical encoding.
    pub fn signing_message(&self, chain_id: &Hash) -> Vec<u8> {
        let tag = Domain::TxSignature.tag();
        let mut msg = Vec::with_capacity(tag.len() + 32 + TX_BODY_LEN);
        msg.extend_from_slice(tag);
        msg.extend_from_slice(&chain_id.0);
        self.encode_to(&mut msg);
        msg
    }

    /// Signs this transaction for the chain `chain_id` with `key`.
    pub fn sign(self, key: &SecretKey, chain_id: &Hash) -> SignedTransaction {
        let signature = key.sign(&self.signing_message(chain_id));
        SignedTransaction {
            tx: self,
            signature,
        }
    }
}

impl Encode for Transaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.sender.encode_to(out);
        self.recipient.encode_to(out);
        put_u64(out, self.amount);
        put_u64(out, self.fee);
        put_u64(out, self.nonce);
    }
    fn encoded_len(&self) -> usize {
        TX_BODY_LEN
    }
}

impl Decode for Transaction {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Transaction {
            sender: PublicKey::decode_from(r)?,
            recipient: Address::decode_from(r)?,
            amount: r.u64()?,
            fee: r.u64()?,
            nonce: r.u64()?,
        })
    }
}

/// A transaction with its signature: what blocks carry and peers relay.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SignedTransaction {
    /// The signed fields.
    pub tx: Transaction,
    /// Ed25519 signature by `tx.sender` over [`Transaction::signing_message`].
    pub signature: Signature,
}

/// A signed transaction with its id, hashed once. The id cannot be supplied, only computed, so
/// whoever holds one (a mempool entry, say) can hand the pair on and nobody has to hash it again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IdentifiedTx {
    tx: SignedTransaction,
    id: Hash,
}

impl IdentifiedTx {
    /// Computes the id of `tx`.
    pub fn new(tx: SignedTransaction) -> IdentifiedTx {
        IdentifiedTx { id: tx.id(), tx }
    }

    /// The transaction.
    pub fn tx(&self) -> &SignedTransaction {
        &self.tx
    }

    /// Its id.
    pub fn id(&self) -> Hash {
        self.id
    }
}

impl SignedTransaction {
    /// The transaction id: blake3 (transaction domain) of the full signed encoding.
    pub fn id(&self) -> Hash {
        let mut buf = [0u8; SIGNED_TX_LEN];
        self.write_into(&mut buf);
        hash::hash(Domain::Transaction, &buf)
    }

    fn write_into(&self, buf: &mut [u8; SIGNED_TX_LEN]) {
        let t = &self.tx;
        buf[..32].copy_from_slice(&t.sender.0);
        buf[32..64].copy_from_slice(&t.recipient.0);
        buf[64..72].copy_from_slice(&t.amount.to_le_bytes());
        buf[72..80].copy_from_slice(&t.fee.to_le_bytes());
        buf[80..88].copy_from_slice(&t.nonce.to_le_bytes());
        buf[88..].copy_from_slice(&self.signature.0);
    }
}

impl Encode for SignedTransaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; SIGNED_TX_LEN];
        self.write_into(&mut buf);
        out.extend_from_slice(&buf);
    }
    fn encoded_len(&self) -> usize {
        SIGNED_TX_LEN
    }
}

impl Decode for SignedTransaction {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedTransaction {
            tx: Transaction::decode_from(r)?,
            signature: Signature::decode_from(r)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SignedTransaction {
        let key = SecretKey::from_bytes(&[4; 32]);
        Transaction {
            sender: key.public_key(),
            recipient: Address([9; 32]),
            amount: 1_000,
            fee: 10,
            nonce: 3,
        }
        .sign(&key, &Hash([1; 32]))
    }

    #[test]
    fn encoding_has_fixed_length_and_round_trips() {
        let stx = sample();
        let bytes = stx.encode();
        assert_eq!(bytes.len(), SIGNED_TX_LEN);
        assert_eq!(SignedTransaction::decode(&bytes), Ok(stx));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            SignedTransaction::decode(&longer),
            Err(DecodeError::TrailingBytes(1))
        );
        assert!(SignedTransaction::decode(&bytes[..SIGNED_TX_LEN - 1]).is_err());
    }

    #[test]
    fn id_covers_every_byte() {
        let stx = sample();
        let bytes = stx.encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 1;
            let other = SignedTransaction::decode(&b).unwrap();
            assert_ne!(other.id(), stx.id(), "byte {i} not covered by the id");
        }
    }

    #[test]
    fn an_identified_transfer_carries_its_own_id() {
        let stx = sample();
        let known = IdentifiedTx::new(stx);
        assert_eq!(known.id(), stx.id());
        assert_eq!(known.tx(), &stx);
    }

    #[test]
    fn signing_message_binds_the_chain() {
        let stx = sample();
        assert_ne!(
            stx.tx.signing_message(&Hash([1; 32])),
            stx.tx.signing_message(&Hash([2; 32]))
        );
    }
}
