//! The worked examples of docs/consensus.md, recomputed: each value is derived the way the text
//! says (plain blake3 calls, the byte layouts of its tables) and checked against the document
//! and against ferrite-core, so the text cannot drift from the code. A mismatch prints the
//! whole block as the code computes it.

use ferrite_core::dev::{dev_genesis_config, dev_key, DEV_ACCOUNT_BALANCE, DEV_PREFIX};
use ferrite_core::encoding::Encode;
use ferrite_core::hash::Domain;
use ferrite_core::{AddressPrefix, Transaction};

const DOC: &str = include_str!("../../docs/consensus.md");
const MARKER: &str = "<!-- worked examples: checked by core/tests/doc_examples.rs -->";

/// The `name: value` lines of the fenced block after [`MARKER`].
fn documented() -> Vec<(String, String)> {
    let after = DOC
        .split(MARKER)
        .nth(1)
        .expect("the marker is in docs/consensus.md");
    let block = after
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a ```text block after the marker");
    block
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `derive_key(context, b"")`: the key of a domain, as the text says.
fn key(context: &str) -> [u8; 32] {
    blake3::derive_key(context, b"")
}

fn keyed(context: &str, data: &[u8]) -> [u8; 32] {
    *blake3::keyed_hash(&key(context), data).as_bytes()
}

/// The consensus parameters encoded as the Genesis section's table says.
fn params_encoding(c: &ferrite_core::GenesisConfig) -> Vec<u8> {
    let mut out = Vec::new();
    for text in [&c.chain_name, &c.address_prefix] {
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out.push(c.decimals);
    out.extend_from_slice(&c.timestamp.to_le_bytes());
    let bits = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    out.extend_from_slice(&bits(&c.initial_bits).to_le_bytes());
    out.extend_from_slice(&bits(&c.pow_limit_bits).to_le_bytes());
    for v in [
        c.target_spacing_secs,
        c.asert_half_life_secs,
        c.initial_reward,
        c.halving_interval,
        c.max_block_size,
        c.max_future_drift_secs,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Every example, computed.
fn computed() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| out.push((k.to_owned(), v));
    let config = dev_genesis_config(1, 1_764_547_200, 10);
    put("chain_name", config.chain_name.clone());
    put("address_prefix", config.address_prefix.clone());
    put("decimals", config.decimals.to_string());
    put("timestamp", config.timestamp.to_string());
    put("initial_bits", config.initial_bits.clone());
    put("pow_limit_bits", config.pow_limit_bits.clone());
    put(
        "target_spacing_secs",
        config.target_spacing_secs.to_string(),
    );
    put(
        "asert_half_life_secs",
        config.asert_half_life_secs.to_string(),
    );
    put("initial_reward", config.initial_reward.to_string());
    put("halving_interval", config.halving_interval.to_string());
    put("max_block_size", config.max_block_size.to_string());
    put(
        "max_future_drift_secs",
        config.max_future_drift_secs.to_string(),
    );
    put("allocation to dev key 0", DEV_ACCOUNT_BALANCE.to_string());
    let header_ctx = "ferrite 2026-11-26 block header v1";
    put("header key", hex::encode(key(header_ctx)));
    assert_eq!(&key(header_ctx), Domain::Header.key());

    // A key and its address.
    let sk = dev_key(0);
    let pk = sk.public_key();
    let seed = blake3::derive_key("ferrite 2026-11-26 public dev account", &0u32.to_le_bytes());
    assert_eq!(*sk.to_bytes(), seed);
    put("dev key 0 seed", hex::encode(seed));
    put("dev key 0 public key", hex::encode(pk.0));
    let address = keyed("ferrite 2026-11-26 address v1", &pk.0);
    assert_eq!(address, pk.address().0);
    put("dev key 0 address bytes", hex::encode(address));
    let prefix = AddressPrefix::new(DEV_PREFIX).unwrap();
    put("dev key 0 address", pk.address().to_bech32(&prefix));

    // Its state leaf: the record expanded with the XOF; alone, it is the whole accumulator.
    let mut record = address.to_vec();
    record.extend_from_slice(&DEV_ACCOUNT_BALANCE.to_le_bytes());
    record.extend_from_slice(&0u64.to_le_bytes());
    put("dev key 0 state record", hex::encode(&record));
    let mut leaf = [0u8; 2048];
    blake3::Hasher::new_keyed(&key("ferrite 2026-11-26 state leaf v1"))
        .update(&record)
        .finalize_xof()
        .fill(&mut leaf);
    put(
        "state leaf, first 32 of 2048 bytes",
        hex::encode(&leaf[..32]),
    );
    let state_root = keyed("ferrite 2026-11-26 state root v1", &leaf);
    put("state root of that account alone", hex::encode(state_root));

    // The dev genesis funding that one account.
    let genesis = config.build().unwrap();
    assert_eq!(state_root, genesis.block.header.state_root.0);
    let params = params_encoding(&config);
    put("dev genesis parameters encoding", hex::encode(&params));
    let params_hash = keyed("ferrite 2026-11-26 genesis config v1", &params);
    assert_eq!(params_hash, genesis.block.header.prev.0);
    put(
        "dev genesis parameters hash (genesis prev)",
        hex::encode(params_hash),
    );
    let header = genesis.block.header.encode();
    put("dev genesis header", hex::encode(&header));
    let id = keyed(header_ctx, &header);
    assert_eq!(id, genesis.params.genesis_hash.0);
    put("dev genesis id (chain id)", hex::encode(id));

    // A transfer from dev key 0 to dev key 1, signed for that chain.
    let tx = Transaction {
        sender: pk,
        recipient: dev_key(1).address(),
        amount: 100_000_000,
        fee: 1_000,
        nonce: 0,
    };
    let message = tx.signing_message(&genesis.params.genesis_hash);
    put("transfer signed message", hex::encode(&message));
    let signed = tx.sign(&sk, &genesis.params.genesis_hash);
    let bytes = signed.encode();
    put("signed transfer", hex::encode(&bytes));
    let txid = keyed("ferrite 2026-11-26 transaction id v1", &bytes);
    assert_eq!(txid, signed.id().0);
    put("transfer id", hex::encode(txid));
    out
}

#[test]
fn the_worked_examples_are_what_the_code_computes() {
    let want = computed();
    let block: String = want.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    assert_eq!(documented(), want, "docs/consensus.md should say:\n{block}");
}
