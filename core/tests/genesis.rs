//! Genesis configuration: the shipped testnet file loads, derivation is deterministic, every
//! consensus parameter changes the chain id, and each broken field has its own error.

use ferrite_core::dev;
use ferrite_core::genesis::{self, GenesisConfig, GenesisError};
use ferrite_core::target::CompactError;

fn base() -> GenesisConfig {
    dev::dev_genesis_config(3, 1_800_000_000, 10)
}

#[test]
fn testnet_genesis_loads_and_is_deterministic() {
    let a = genesis::testnet().unwrap();
    let b = genesis::testnet().unwrap();
    assert_eq!(a.params.genesis_hash, b.params.genesis_hash);
    assert_eq!(a.block.hash(), a.params.genesis_hash);
    assert_eq!(a.params.prefix.as_str(), "tfe");
    assert_eq!(a.block.header.state_root, a.state.root());
}

#[test]
fn json_round_trip() {
    let cfg = base();
    assert_eq!(GenesisConfig::from_json(&cfg.to_json()).unwrap(), cfg);
}

#[test]
fn every_consensus_parameter_changes_the_chain_id() {
    let id = base().build().unwrap().params.genesis_hash;
    type Edit = Box<dyn Fn(&mut GenesisConfig)>;
    let edits: Vec<Edit> = vec![
        Box::new(|c| c.chain_name.push('x')),
        Box::new(|c| c.address_prefix = "xfe".into()),
        Box::new(|c| c.decimals = 6),
        Box::new(|c| c.timestamp += 1),
        Box::new(|c| c.initial_bits = "0x2000ffff".into()),
        Box::new(|c| c.pow_limit_bits = "0x2100ffff".into()),
        Box::new(|c| c.target_spacing_secs += 1),
        Box::new(|c| c.asert_half_life_secs += 1),
        Box::new(|c| c.initial_reward += 1),
        Box::new(|c| c.halving_interval += 1),
        Box::new(|c| c.max_block_size += 1),
        Box::new(|c| c.max_future_drift_secs += 1),
        Box::new(|c| c.allocations[0].amount += 1),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut c = base();
        edit(&mut c);
        if c.address_prefix == "xfe" {
            c.allocations.clear();
        }
        let other = c.build().unwrap().params.genesis_hash;
        assert_ne!(other, id, "edit {i} did not change the chain id");
    }
}

fn err(edit: impl FnOnce(&mut GenesisConfig)) -> GenesisError {
    let mut c = base();
    edit(&mut c);
    c.build().unwrap_err()
}

#[test]
fn each_broken_field_has_its_error() {
    assert_eq!(err(|c| c.chain_name.clear()), GenesisError::BadChainName);
    assert!(matches!(
        err(|c| c.address_prefix = "Bad".into()),
        GenesisError::BadPrefix(_)
    ));
    assert_eq!(err(|c| c.decimals = 20), GenesisError::TooManyDecimals(20));
    assert!(matches!(
        err(|c| c.initial_bits = "207fffff".into()),
        GenesisError::BitsSyntax { .. }
    ));
    assert_eq!(
        err(|c| c.initial_bits = "0x04923456".into()),
        GenesisError::BadBits {
            field: "initial_bits",
            error: CompactError::Negative(0x0492_3456)
        }
    );
    assert_eq!(
        err(|c| c.pow_limit_bits = "0x04000001".into()),
        GenesisError::NonCanonicalBits {
            field: "pow_limit_bits",
            value: 0x0400_0001,
            canonical: 0x0201_0000
        }
    );
    assert_eq!(
        err(|c| c.pow_limit_bits = "0x1d00ffff".into()),
        GenesisError::InitialAbovePowLimit
    );
    assert_eq!(err(|c| c.target_spacing_secs = 0), GenesisError::BadSpacing);
    assert_eq!(
        err(|c| c.asert_half_life_secs = 0),
        GenesisError::BadHalfLife
    );
    assert_eq!(
        err(|c| c.halving_interval = 0),
        GenesisError::ZeroHalvingInterval
    );
    assert!(matches!(
        err(|c| c.max_block_size = 100),
        GenesisError::BadBlockSize { .. }
    ));
    assert_eq!(err(|c| c.timestamp = 5), GenesisError::TimestampTooEarly);
    assert!(matches!(
        err(|c| c.allocations[1].address.push('q')),
        GenesisError::BadAllocationAddress { index: 1, .. }
    ));
    assert_eq!(
        err(|c| c.allocations[2].amount = 0),
        GenesisError::ZeroAllocation { index: 2 }
    );
    assert_eq!(
        err(|c| c.allocations[2].address = c.allocations[0].address.clone()),
        GenesisError::DuplicateAllocation { index: 2 }
    );
    assert_eq!(
        err(|c| c.allocations[0].amount = u64::MAX - 1),
        GenesisError::SupplyOverflow
    );
}

#[test]
fn malformed_json_and_unknown_fields_are_refused() {
    assert!(matches!(
        GenesisConfig::from_json("{"),
        Err(GenesisError::Json(_))
    ));
    let mut v: serde_json::Value = serde_json::from_str(&base().to_json()).unwrap();
    v["target_spacing"] = 5.into();
    let e = GenesisConfig::from_json(&v.to_string()).unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
}

#[test]
fn reward_schedule_halves() {
    let p = base().build().unwrap().params;
    assert_eq!(p.reward_at(0), 0);
    assert_eq!(p.reward_at(1), p.initial_reward);
    assert_eq!(p.reward_at(p.halving_interval), p.initial_reward);
    assert_eq!(p.reward_at(p.halving_interval + 1), p.initial_reward / 2);
    assert_eq!(p.reward_at(u64::MAX), 0);
}
