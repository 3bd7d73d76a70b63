//! `ferrite-node config`: the merged configuration as the node will use it, one `key = value`
//! line per option with where the value came from (flag, environment variable, config file or
//! default). The output is itself a valid config file.

use std::path::Path;

use clap::parser::ValueSource;

use crate::bind::Bind;
use crate::config::{FileConfig, LogFormat, NodeArgs, Settings};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env(String),
    /// The config file.
    File,
    /// Both the command line (or environment) and the file (lists add up).
    FlagAndFile,
    /// Nobody set it.
    Default,
}

/// One line of the effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The config-file key.
    pub key: &'static str,
    /// The value as a TOML literal; `None`: unset.
    pub value: Option<String>,
    /// Where it came from.
    pub source: Source,
}

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn path(p: &Option<std::path::PathBuf>) -> Option<String> {
    p.as_deref().map(Path::to_string_lossy).map(|s| quoted(&s))
}

fn bind(b: &Option<Bind>) -> String {
    match b {
        Some(b) if b.next_free => format!("{}  # or the next free port", quoted(&b.to_string())),
        Some(b) => quoted(&b.to_string()),
        None => quoted("off"),
    }
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The rows for `settings`, resolved from `args` (with `matches` telling a flag from the
/// environment) and `file`.
pub fn rows(
    args: &NodeArgs,
    file: &FileConfig,
    settings: &Settings,
    matches: &clap::ArgMatches,
) -> Vec<Row> {
    let source = |key: &'static str, in_args: bool, in_file: bool| -> Source {
        if in_args {
            let from_env = find(matches, key) == Some(ValueSource::EnvVariable);
            if from_env {
                let var = crate::config::command()
                    .get_arguments()
                    .find(|a| a.get_id() == key)
                    .and_then(|a| a.get_env())
                    .map(|v| v.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Source::Env(var);
            }
            return if in_file && matches!(key, "peers" | "bootnodes") {
                Source::FlagAndFile
            } else {
                Source::Flag
            };
        }
        if in_file {
            Source::File
        } else {
            Source::Default
        }
    };
    let s = settings;
    let net = &s.net;
    let row = |key, value: Option<String>, in_args, in_file| Row {
        key,
        value,
        source: source(key, in_args, in_file),
    };
    let peers: Vec<String> = args
        .peers
        .iter()
        .chain(file.peers.iter().flatten())
        .cloned()
        .collect();
    let bootnodes: Vec<String> = args
        .bootnodes
        .iter()
        .chain(file.bootnodes.iter().flatten())
        .cloned()
        .collect();
    vec![
        row(
            "data_dir",
            path(&s.data_dir),
            args.data_dir.is_some(),
            file.data_dir.is_some(),
        ),
        row(
            "genesis",
            path(&s.genesis),
            args.genesis.is_some(),
            file.genesis.is_some(),
        ),
        row(
            "dev",
            Some(s.dev.to_string()),
            args.dev.is_some(),
            file.dev.is_some(),
        ),
        row(
            "dev_block_time",
            Some(s.dev_block_time.to_string()),
            args.dev_block_time.is_some(),
            file.dev_block_time.is_some(),
        ),
        row(
            "mine",
            Some(s.mine.to_string()),
            args.mine.is_some(),
            file.mine.is_some(),
        ),
        row(
            "miner_address",
            s.miner_address.as_deref().map(quoted),
            args.miner_address.is_some(),
            file.miner_address.is_some(),
        ),
        row(
            "mine_threads",
            Some(s.mine_threads.to_string()),
            args.mine_threads.is_some(),
            file.mine_threads.is_some(),
        ),
        row(
            "cache_mb",
            Some((s.cache_bytes / (1024 * 1024)).to_string()),
            args.cache_mb.is_some(),
            file.cache_mb.is_some(),
        ),
        row(
            "min_fee",
            Some(s.mempool.min_fee.to_string()),
            args.min_fee.is_some(),
            file.min_fee.is_some(),
        ),
        row(
            "listen",
            Some(bind(&net.listen)),
            args.listen.is_some(),
            file.listen.is_some(),
        ),
        row(
            "peers",
            Some(list(&peers)),
            !args.peers.is_empty(),
            file.peers.is_some(),
        ),
        row(
            "bootnodes",
            Some(list(&bootnodes)),
            !args.bootnodes.is_empty(),
            file.bootnodes.is_some(),
        ),
        row(
            "discover",
            Some(net.discover.to_string()),
            args.discover.is_some(),
            file.discover.is_some(),
        ),
        row(
            "compact_relay",
            Some(net.compact_relay.to_string()),
            args.compact_relay.is_some(),
            file.compact_relay.is_some(),
        ),
        row(
            "max_outbound",
            Some(net.max_outbound.to_string()),
            args.max_outbound.is_some(),
            file.max_outbound.is_some(),
        ),
        row(
            "max_inbound",
            Some(net.max_inbound.to_string()),
            args.max_inbound.is_some(),
            file.max_inbound.is_some(),
        ),
        row(
            "http",
            Some(bind(&s.http)),
            args.http.is_some(),
            file.http.is_some(),
        ),
        row(
            "max_http_connections",
            Some(s.max_http_connections.to_string()),
            args.max_http_connections.is_some(),
            file.max_http_connections.is_some(),
        ),
        Row {
            key: "log_level",
            value: Some(quoted(&s.log_filter)),
            source: match source(
                "log_level",
                args.log_level.is_some(),
                file.log_level.is_some(),
            ) {
                // The filter's second place: RUST_LOG, above the file.
                Source::File | Source::Default
                    if std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty()) =>
                {
                    Source::Env("RUST_LOG".into())
                }
                other => other,
            },
        },
        row(
            "log_format",
            Some(quoted(match s.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            })),
            args.log_format.is_some(),
            file.log_format.is_some(),
        ),
    ]
}

/// Where clap found `id`, looking into the subcommand too (the options are global).
fn find(matches: &clap::ArgMatches, id: &str) -> Option<ValueSource> {
    let here = matches
        .try_get_raw(id)
        .ok()
        .flatten()
        .and(matches.value_source(id));
    here.or_else(|| {
        matches
            .subcommand()
            .and_then(|(_, sub)| sub.try_get_raw(id).ok().flatten().and(sub.value_source(id)))
    })
}

/// The lines `ferrite-node config` prints.
pub fn render(rows: &[Row], file: Option<&Path>) -> String {
    let mut out = String::from("# ferrite-node effective configuration\n");
    for r in rows {
        let from = match &r.source {
            Source::Flag => "flag".to_string(),
            Source::Env(v) => format!("environment {v}"),
            Source::File => format!(
                "config file {}",
                file.map(|p| p.display().to_string()).unwrap_or_default()
            ),
            Source::FlagAndFile => "flags and config file".to_string(),
            Source::Default => "default".to_string(),
        };
        match &r.value {
            Some(v) => out.push_str(&format!("{} = {v}  # {from}\n", r.key)),
            None => out.push_str(&format!("# {} is unset  # {from}\n", r.key)),
        }
    }
    out
}
