//! Every rule name a node can answer is documented, with the limits the text gives: a new rule
//! or a changed limit fails here until docs/http.md or docs/consensus.md says so.

use ferrite_core::ledger::TxError;
use ferrite_core::validation::{BlockError, HeaderError};
use ferrite_core::Hash;
use ferrite_node::mempool::{
    MempoolError, DEFAULT_EXPIRY_SECS, DEFAULT_MAX_BYTES, DEFAULT_MAX_COUNT, DEFAULT_MIN_FEE,
    DEFAULT_PER_SENDER, MAX_NONCE_GAP, MAX_REMEMBERED, REPLACEMENT_BUMP_PERCENT,
};

const HTTP: &str = include_str!("../../docs/http.md");
const CONSENSUS: &str = include_str!("../../docs/consensus.md");

/// One of each transfer rule. The match has no wildcard, so a new variant does not compile
/// until it is listed here.
fn tx_rules() -> Vec<TxError> {
    let all = vec![
        TxError::ZeroAmount,
        TxError::SelfTransfer,
        TxError::WeakSenderKey,
        TxError::BadSignature,
        TxError::BadNonce {
            expected: 0,
            got: 0,
        },
        TxError::AmountOverflow,
        TxError::InsufficientBalance {
            balance: 0,
            needed: 0,
        },
        TxError::RecipientOverflow,
        TxError::NonceOverflow,
    ];
    for e in &all {
        match e {
            TxError::ZeroAmount
            | TxError::SelfTransfer
            | TxError::WeakSenderKey
            | TxError::BadSignature
            | TxError::BadNonce { .. }
            | TxError::AmountOverflow
            | TxError::InsufficientBalance { .. }
            | TxError::RecipientOverflow
            | TxError::NonceOverflow => {}
        }
    }
    all
}

fn mempool_rules() -> Vec<MempoolError> {
    let all = vec![
        MempoolError::BadSignature,
        MempoolError::Duplicate,
        MempoolError::NonceTooLow {
            expected: 0,
            got: 0,
        },
        MempoolError::NonceTooFar {
            expected: 0,
            got: 0,
        },
        MempoolError::FeeTooLow { min: 0, got: 0 },
        MempoolError::InsufficientBalance {
            balance: 0,
            needed: 0,
        },
        MempoolError::ReplacementUnderpriced { min: 0, got: 0 },
        MempoolError::SenderFull(0),
        MempoolError::Full,
        MempoolError::FullBehindOwnNonce { nonce: 0 },
    ];
    for e in &all {
        match e {
            MempoolError::Rule(_)
            | MempoolError::BadSignature
            | MempoolError::Duplicate
            | MempoolError::NonceTooLow { .. }
            | MempoolError::NonceTooFar { .. }
            | MempoolError::FeeTooLow { .. }
            | MempoolError::InsufficientBalance { .. }
            | MempoolError::ReplacementUnderpriced { .. }
            | MempoolError::SenderFull(_)
            | MempoolError::Full
            | MempoolError::FullBehindOwnNonce { .. } => {}
        }
    }
    all
}

fn block_rules() -> Vec<BlockError> {
    let h = Hash([0; 32]);
    let headers = [
        HeaderError::UnsupportedVersion(0),
        HeaderError::WrongParent {
            expected: h,
            got: h,
        },
        HeaderError::WrongHeight {
            expected: 0,
            got: 0,
        },
        HeaderError::WrongBits {
            expected: 0,
            got: 0,
        },
        HeaderError::InsufficientWork,
        HeaderError::TimestampTooOld {
            timestamp: 0,
            median: 0,
        },
        HeaderError::TimestampTooNew {
            timestamp: 0,
            limit: 0,
        },
    ];
    let mut all: Vec<BlockError> = headers.into_iter().map(BlockError::Header).collect();
    all.extend([
        BlockError::TooLarge { size: 0, limit: 0 },
        BlockError::BadMerkleRoot,
        BlockError::FeeOverflow,
        BlockError::MinerOverflow,
        BlockError::BadStateRoot {
            expected: h,
            got: h,
        },
    ]);
    for e in &all {
        match e {
            BlockError::Header(_)
            | BlockError::TooLarge { .. }
            | BlockError::BadMerkleRoot
            | BlockError::Tx { .. }
            | BlockError::FeeOverflow
            | BlockError::MinerOverflow
            | BlockError::BadStateRoot { .. } => {}
        }
    }
    all
}

fn documented(doc: &str, name: &str) -> bool {
    doc.contains(&format!("`{name}`"))
}

#[test]
fn every_consensus_rule_name_is_in_the_consensus_text() {
    let names: Vec<&str> = tx_rules()
        .iter()
        .map(TxError::rule)
        .chain(block_rules().iter().map(BlockError::rule))
        .collect();
    let missing: Vec<&&str> = names.iter().filter(|n| !documented(CONSENSUS, n)).collect();
    assert!(missing.is_empty(), "docs/consensus.md lacks {missing:?}");
}

#[test]
fn every_mempool_rule_name_is_in_the_api_text() {
    // The ledger rules the pool checks itself (`check_stateless`).
    let stateless = [
        TxError::ZeroAmount,
        TxError::SelfTransfer,
        TxError::WeakSenderKey,
    ]
    .map(MempoolError::Rule);
    let names: Vec<&str> = mempool_rules()
        .into_iter()
        .chain(stateless)
        .map(|e| e.rule())
        .collect();
    let missing: Vec<&&str> = names.iter().filter(|n| !documented(HTTP, n)).collect();
    assert!(missing.is_empty(), "docs/http.md lacks {missing:?}");
}

/// The figures docs/http.md gives for the mempool are the constants.
#[test]
fn the_documented_mempool_limits_are_the_constants() {
    let grouped = |n: usize| {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let figures = [
        format!("more than {MAX_NONCE_GAP} (`MAX_NONCE_GAP`)"),
        format!("plus {REPLACEMENT_BUMP_PERCENT}% (`REPLACEMENT_BUMP_PERCENT`"),
        format!("already has {DEFAULT_PER_SENDER} pending transfers (`DEFAULT_PER_SENDER`)"),
        format!("minimum: {} base units", grouped(DEFAULT_MIN_FEE as usize)),
        format!(
            "at most {} transfers (`DEFAULT_MAX_COUNT`) and {} MiB (`DEFAULT_MAX_BYTES`",
            grouped(DEFAULT_MAX_COUNT),
            DEFAULT_MAX_BYTES / (1024 * 1024)
        ),
        format!(
            "{} transfers are about {:.2} MiB",
            grouped(DEFAULT_MAX_COUNT),
            (DEFAULT_MAX_COUNT * ferrite_core::transaction::SIGNED_TX_LEN) as f64
                / (1024.0 * 1024.0)
        ),
        format!("more than {} hours", DEFAULT_EXPIRY_SECS / 3600),
        format!("keeps its latest {} departures", grouped(MAX_REMEMBERED)),
    ];
    let flat = HTTP.split_whitespace().collect::<Vec<_>>().join(" ");
    let missing: Vec<&String> = figures
        .iter()
        .filter(|f| !flat.contains(f.as_str()))
        .collect();
    assert!(missing.is_empty(), "docs/http.md lacks {missing:#?}");
}

/// Every reason a dropped transfer can give, as the API spells it, is in the table.
#[test]
fn every_drop_reason_is_in_the_api_text() {
    use ferrite_api::{DropReason, PoolLimit};
    let reasons = [
        DropReason::Replaced,
        DropReason::Evicted,
        DropReason::Expired,
        DropReason::Reorg,
        DropReason::NonceUsed,
        DropReason::Unpayable,
        DropReason::NoLongerApplies,
    ];
    for r in reasons {
        match r {
            DropReason::Replaced
            | DropReason::Evicted
            | DropReason::Expired
            | DropReason::Reorg
            | DropReason::NonceUsed
            | DropReason::Unpayable
            | DropReason::NoLongerApplies => {}
        }
    }
    let names = reasons.iter().map(serde_json::to_value).chain(
        [
            PoolLimit::MaxCount,
            PoolLimit::MaxBytes,
            PoolLimit::PerSender,
        ]
        .iter()
        .map(serde_json::to_value),
    );
    for name in names {
        let name = name.expect("serialises");
        let name = name.as_str().expect("a string");
        assert!(
            HTTP.contains(&format!("| `{name}` |")) || HTTP.contains(&format!("`{name}` (")),
            "docs/http.md lacks {name}"
        );
    }
}

/// The store-read budgets docs/http.md gives are the node's own.
#[test]
fn read_budgets_are_the_documented_figures() {
    use ferrite_node::http::budget::{store_reads, FIXED_READS, READS_PER_BLOCK, READS_PER_TX};
    let flat = HTTP.split_whitespace().collect::<Vec<_>>().join(" ");
    for said in [
        format!("A budget is {FIXED_READS} (`FIXED_READS`"),
        format!("{READS_PER_BLOCK} reads per listed block"),
        format!("{READS_PER_TX} per listed transfer"),
        format!("{} for the home page", store_reads("/")),
        format!("{} for a block list", store_reads("/blocks")),
        format!("{} for the charts", store_reads("/charts")),
        format!("{} for an address page", store_reads("/address/{address}")),
        format!("{} for `/api/blocks`", store_reads("/api/blocks")),
        format!("{} for every other answer", store_reads("/block/{hash}")),
    ] {
        assert!(flat.contains(&said), "docs/http.md should say: {said}");
    }
    assert_eq!(
        store_reads("/address/{address}"),
        store_reads("/api/address/{address}/txs"),
        "the docs give one figure for both"
    );
    assert_eq!(store_reads("/api/tx/{txid}"), FIXED_READS);
}
