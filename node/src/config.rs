//! Operator configuration: command-line flags, `FERRITE_*` environment variables and an optional
//! TOML file, merged with the usual precedence flag > environment > file > default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::bind::Bind;
use crate::http::DEFAULT_MAX_CONNECTIONS;
use crate::mempool::MempoolConfig;
use crate::p2p::{handshake_slots, NetConfig, PeerSpec, DEFAULT_MAX_INBOUND, DEFAULT_MAX_OUTBOUND};
use crate::store::DEFAULT_CACHE_BYTES;

/// Block spacing of `--dev` chains: short, so that a newcomer sees blocks at once.
pub const DEV_SPACING_SECS: u64 = 5;
/// Prefunded accounts of `--dev` chains.
pub const DEV_ACCOUNTS: u32 = 10;
/// P2P port of a node that is not told otherwise.
pub const DEFAULT_P2P_PORT: u16 = 9733;
/// HTTP explorer port of a node that is not told otherwise (on 127.0.0.1 only).
pub const DEFAULT_HTTP_PORT: u16 = 9734;
/// Longest dev block time accepted: a dev chain is for watching blocks come.
pub const MAX_DEV_BLOCK_TIME: u64 = 3_600;
/// Most mining threads accepted: more than any machine this runs on has cores.
pub const MAX_MINE_THREADS: usize = 256;

/// A Ferrite proof-of-work node.
#[derive(Parser, Debug)]
#[command(name = "ferrite-node", version = crate::LONG_VERSION, about)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub opts: NodeArgs,
    /// What to do (default: run the node).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the node (the default).
    Run,
    /// Generate a dev chain of real signed transfers and write it to a chain file.
    Generate(GenerateArgs),
    /// Import a chain file into the data dir through the normal block path.
    Import(ImportArgs),
    /// Check the store (tip, digest over every account, height index) and print the tip.
    Check(CheckArgs),
    /// Write the best chain of a stopped node's data dir to a chain file that `import` reads.
    Export(ExportArgs),
    /// Start a local testnet of several nodes on 127.0.0.1 and show their output.
    Testnet(TestnetArgs),
    /// Print the effective configuration (flag > environment > file > default), each value
    /// with where it came from.
    Config,
    /// Print a shell completion script for ferrite-node (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page (roff) of ferrite-node.
    Manpage,
}

/// `testnet` options.
#[derive(Args, Debug)]
pub struct TestnetArgs {
    /// Nodes to start.
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// How many of them mine (the first ones), one thread each.
    #[arg(long, default_value_t = 2)]
    pub miners: usize,
    /// P2P port of node 0; node i listens on base + i.
    #[arg(long, default_value_t = 19733)]
    pub base_port: u16,
    /// Directory for the genesis and the nodes' data dirs (kept); default a temporary one,
    /// removed at the end.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `generate` options.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Blocks to generate.
    #[arg(long)]
    pub blocks: u64,
    /// Transfers per block.
    #[arg(long, default_value_t = 100)]
    pub txs_per_block: u32,
    /// Prefunded dev accounts that send the transfers.
    #[arg(long, default_value_t = 1_000)]
    pub accounts: u32,
    /// Chain file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// `import` options.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Chain file to read (written by `generate`).
    #[arg(long)]
    pub file: PathBuf,
    /// Also measure the parallel batch-verify rate afterwards and print the ratio.
    #[arg(long)]
    pub measure_limit: bool,
}

/// `completions` options.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// The command line as clap sees it, with the node options hidden from `testnet --help`
/// (they are global so that they may follow any subcommand, but `testnet` sets its own nodes'
/// options).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    cmd.mut_subcommand("testnet", |t| {
        t.mut_args(|a| if a.is_global_set() { a.hide(true) } else { a })
    })
}

/// The node options a subcommand does not read, as `--flag` names, among those given on the
/// command line (before or after the subcommand's name). `testnet` starts node processes of
/// its own and reads only the log options (from flags or `--config`): a `--mine` or `--data-dir` given to it would be
/// silently ignored, so it is refused instead.
pub fn ignored_flags(matches: &clap::ArgMatches) -> Vec<String> {
    const TESTNET_READS: &[&str] = &["config", "log_level", "log_format"];
    let Some(("testnet", sub)) = matches.subcommand() else {
        return Vec::new();
    };
    let cmd = command();
    let Some(testnet) = cmd.find_subcommand("testnet") else {
        return Vec::new();
    };
    let given = |id: &str| {
        [matches, sub]
            .iter()
            .any(|m| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
    };
    testnet
        .get_arguments()
        .filter(|a| a.is_global_set() && !TESTNET_READS.contains(&a.get_id().as_str()))
        .filter(|a| given(a.get_id().as_str()))
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect()
}

/// Parses the process's command line with [`command`]; the matches tell where each value came
/// from (a flag or the environment).
pub fn parse() -> Result<(Cli, clap::ArgMatches), clap::Error> {
    use clap::FromArgMatches;
    let matches = command().try_get_matches()?;
    Ok((Cli::from_arg_matches(&matches)?, matches))
}

/// `export` options.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Chain file to write (replaced only once complete).
    #[arg(long)]
    pub out: PathBuf,
}

/// `check` options.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Also print the best-chain block at this height (repeatable).
    #[arg(long)]
    pub at_height: Vec<u64>,
}

/// Options of the node, each also settable by environment variable and config file.
#[derive(Args, Debug, Default)]
pub struct NodeArgs {
    /// TOML config file.
    #[arg(long, env = "FERRITE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory of the chain store.
    #[arg(long, env = "FERRITE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Genesis JSON file (default: the embedded public testnet genesis).
    #[arg(long, env = "FERRITE_GENESIS", global = true)]
    pub genesis: Option<PathBuf>,
    /// Local development chain: dev genesis with prefunded accounts, mining on, throwaway data
    /// dir unless --data-dir is given.
    #[arg(long, env = "FERRITE_DEV", num_args = 0..=1, default_missing_value = "true", global = true)]
    pub dev: Option<bool>,
    /// Mine blocks.
    #[arg(long, env = "FERRITE_MINE", num_args = 0..=1, default_missing_value = "true", global = true)]
    pub mine: Option<bool>,
    /// Address that receives mining rewards.
    #[arg(long, env = "FERRITE_MINER_ADDRESS", global = true)]
    pub miner_address: Option<String>,
    /// Mining threads.
    #[arg(long, env = "FERRITE_MINE_THREADS", global = true)]
    pub mine_threads: Option<usize>,
    /// RocksDB block cache, MiB.
    #[arg(long, env = "FERRITE_CACHE_MB", global = true)]
    pub cache_mb: Option<usize>,
    /// Smallest fee the mempool accepts, base units.
    #[arg(long, env = "FERRITE_MIN_FEE", global = true)]
    pub min_fee: Option<u64>,
    /// P2P listen address, host:port, or "off" (default 0.0.0.0:9733; with --dev the first
    /// free port from 127.0.0.1:9733).
    #[arg(long, env = "FERRITE_LISTEN", global = true)]
    pub listen: Option<String>,
    /// A peer to keep connected to, host:port, or id@host:port to accept only the node with
    /// that node id (repeatable; adds to the config file's peers and bootnodes).
    #[arg(
        long = "peer",
        env = "FERRITE_PEERS",
        value_delimiter = ',',
        global = true
    )]
    pub peers: Vec<String>,
    /// A node to dial first to find the network, host:port or id@host:port (repeatable; adds
    /// to the config file's bootnodes and, on the public testnet, the built-in seeds).
    #[arg(
        long = "bootnode",
        env = "FERRITE_BOOTNODES",
        value_delimiter = ',',
        global = true
    )]
    pub bootnodes: Vec<String>,
    /// Learn addresses from peers and dial them (default true); false: only the configured
    /// peers.
    #[arg(long, env = "FERRITE_DISCOVER", num_args = 0..=1, default_missing_value = "true", global = true)]
    pub discover: Option<bool>,
    /// Relay new blocks as compact blocks to peers that ask, and ask up to three peers for
    /// them (default true); false: whole blocks only.
    #[arg(long, env = "FERRITE_COMPACT_RELAY", num_args = 0..=1, default_missing_value = "true", global = true)]
    pub compact_relay: Option<bool>,
    /// Target number of outbound connections.
    #[arg(long, env = "FERRITE_MAX_OUTBOUND", global = true)]
    pub max_outbound: Option<usize>,
    /// Most inbound connections.
    #[arg(long, env = "FERRITE_MAX_INBOUND", global = true)]
    pub max_inbound: Option<usize>,
    /// HTTP explorer address, host:port, or "off" (default 127.0.0.1:9734; with --dev the
    /// first free port from 127.0.0.1:9734).
    #[arg(long, env = "FERRITE_HTTP", global = true)]
    pub http: Option<String>,
    /// Most HTTP connections open at once (default 1024, fewer if the descriptor limit is
    /// low); one more is answered 503 and closed.
    #[arg(long, env = "FERRITE_MAX_HTTP_CONNECTIONS", global = true)]
    pub max_http_connections: Option<usize>,
    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives such as
    /// "info,ferrite_node::p2p=debug" (default: RUST_LOG if set, else info).
    #[arg(long, env = "FERRITE_LOG_LEVEL", global = true)]
    pub log_level: Option<String>,
    /// Log format on stderr: "text" (default) or "json" (one object per line).
    #[arg(long, env = "FERRITE_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Seconds between blocks of a fresh --dev chain (default 5); its genesis target is set
    /// from a moment of hashing so that the spacing holds from block 1.
    #[arg(long, env = "FERRITE_DEV_BLOCK_TIME", global = true)]
    pub dev_block_time: Option<u64>,
}

/// The config file's shape: the same options as the flags, snake_case.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub genesis: Option<PathBuf>,
    pub dev: Option<bool>,
    pub mine: Option<bool>,
    pub miner_address: Option<String>,
    pub mine_threads: Option<usize>,
    pub cache_mb: Option<usize>,
    pub min_fee: Option<u64>,
    pub listen: Option<String>,
    pub peers: Option<Vec<String>>,
    pub bootnodes: Option<Vec<String>>,
    pub discover: Option<bool>,
    pub compact_relay: Option<bool>,
    pub max_outbound: Option<usize>,
    pub max_inbound: Option<usize>,
    pub http: Option<String>,
    pub max_http_connections: Option<usize>,
    pub dev_block_time: Option<u64>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The config file is not valid TOML of the expected shape.
    #[error("config file {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The merged configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Data dir, if set anywhere.
    pub data_dir: Option<PathBuf>,
    /// Genesis file, if set anywhere.
    pub genesis: Option<PathBuf>,
    /// Dev mode.
    pub dev: bool,
    /// Mining on.
    pub mine: bool,
    /// Reward address (unparsed).
    pub miner_address: Option<String>,
    /// Mining threads.
    pub mine_threads: usize,
    /// Block cache bytes.
    pub cache_bytes: usize,
    /// Mempool settings.
    pub mempool: MempoolConfig,
    /// Network settings.
    pub net: NetConfig,
    /// HTTP explorer address (`None`: off).
    pub http: Option<Bind>,
    /// Most HTTP connections open at once, as configured (the descriptor budget may allow
    /// fewer).
    pub max_http_connections: usize,
    /// Seconds between blocks of a fresh dev chain.
    pub dev_block_time: u64,
    /// Log filter directives.
    pub log_filter: String,
    /// Log format.
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured at a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// The log filter by precedence: `--log-level` (or `FERRITE_LOG_LEVEL`), then `RUST_LOG`,
/// then the file's `log_level`, then "info"; checked as tracing directives.
fn log_filter(flag: Option<String>, file: Option<String>) -> Result<String, ConfigError> {
    let rust_log = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty());
    let filter = flag
        .or(rust_log)
        .or(file)
        .unwrap_or_else(|| "info".to_string());
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| {
        ConfigError::Invalid(format!("log_level {filter:?} is not a tracing filter: {e}"))
    })?;
    Ok(filter)
}

/// The config file named by `args` (empty without one).
pub fn file_of(args: &NodeArgs) -> Result<FileConfig, ConfigError> {
    match &args.config {
        Some(p) => read_file(p),
        None => Ok(FileConfig::default()),
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        reason: e.message().to_string(),
    })
}

impl Settings {
    /// Merges flags/env (`args`) over the config file over defaults.
    pub fn resolve(args: &NodeArgs) -> Result<Settings, ConfigError> {
        let file = file_of(args)?;
        let dev = args.dev.or(file.dev).unwrap_or(false);
        let mine_threads = args.mine_threads.or(file.mine_threads).unwrap_or(1);
        if !(1..=MAX_MINE_THREADS).contains(&mine_threads) {
            return Err(ConfigError::Invalid(format!(
                "mine_threads must be 1 to {MAX_MINE_THREADS}, got {mine_threads}"
            )));
        }
        let cache_mb = args.cache_mb.or(file.cache_mb);
        let cache_bytes = match cache_mb {
            Some(0) => return Err(ConfigError::Invalid("cache_mb must be at least 1".into())),
            Some(mb) => mb.saturating_mul(1024 * 1024),
            None => DEFAULT_CACHE_BYTES,
        };
        let mut mempool = MempoolConfig::default();
        if let Some(f) = args.min_fee.or(file.min_fee) {
            mempool.min_fee = f;
        }
        let listen = match args.listen.clone().or(file.listen) {
            Some(s) if s == "off" => None,
            Some(s) => Some(Bind::exact(s.parse().map_err(|_| {
                ConfigError::Invalid(format!("listen must be host:port or \"off\", got {s:?}"))
            })?)),
            None if dev => Some(Bind::near(SocketAddr::from((
                [127, 0, 0, 1],
                DEFAULT_P2P_PORT,
            )))),
            None => Some(Bind::exact(SocketAddr::from((
                [0, 0, 0, 0],
                DEFAULT_P2P_PORT,
            )))),
        };
        let http = match args.http.clone().or(file.http) {
            Some(s) if s == "off" => None,
            Some(s) => Some(Bind::exact(s.parse().map_err(|_| {
                ConfigError::Invalid(format!("http must be host:port or \"off\", got {s:?}"))
            })?)),
            None if dev => Some(Bind::near(SocketAddr::from((
                [127, 0, 0, 1],
                DEFAULT_HTTP_PORT,
            )))),
            None => Some(Bind::exact(SocketAddr::from((
                [127, 0, 0, 1],
                DEFAULT_HTTP_PORT,
            )))),
        };
        let max_http_connections = args
            .max_http_connections
            .or(file.max_http_connections)
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_http_connections == 0 {
            return Err(ConfigError::Invalid(
                "max_http_connections must be at least 1".into(),
            ));
        }
        let log_format = match args.log_format.clone().or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid(format!(
                    "log_format must be \"text\" or \"json\", got {other:?}"
                )))
            }
        };
        let log_filter = log_filter(args.log_level.clone(), file.log_level)?;
        let dev_block_time = args
            .dev_block_time
            .or(file.dev_block_time)
            .unwrap_or(DEV_SPACING_SECS);
        if !(1..=MAX_DEV_BLOCK_TIME).contains(&dev_block_time) {
            return Err(ConfigError::Invalid(format!(
                "dev_block_time must be 1 to {MAX_DEV_BLOCK_TIME} seconds, got {dev_block_time}"
            )));
        }
        let mut peers = args.peers.clone();
        peers.extend(file.peers.unwrap_or_default());
        peers.extend(args.bootnodes.iter().cloned());
        peers.extend(file.bootnodes.unwrap_or_default());
        let peers = peers
            .iter()
            .map(|p| p.parse::<PeerSpec>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let max_inbound = args
            .max_inbound
            .or(file.max_inbound)
            .unwrap_or(DEFAULT_MAX_INBOUND);
        let net = NetConfig {
            listen,
            peers,
            discover: args.discover.or(file.discover).unwrap_or(true),
            compact_relay: args.compact_relay.or(file.compact_relay).unwrap_or(true),
            max_outbound: args
                .max_outbound
                .or(file.max_outbound)
                .unwrap_or(DEFAULT_MAX_OUTBOUND),
            max_inbound,
            handshake_slots: handshake_slots(max_inbound),
        };
        Ok(Settings {
            net,
            http,
            max_http_connections,
            data_dir: args.data_dir.clone().or(file.data_dir),
            genesis: args.genesis.clone().or(file.genesis),
            dev,
            mine: args.mine.or(file.mine).unwrap_or(dev),
            miner_address: args.miner_address.clone().or(file.miner_address),
            mine_threads,
            cache_bytes,
            mempool,
            dev_block_time,
            log_filter,
            log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testnet_refuses_the_node_flags_it_would_ignore() {
        let ignored = |args: &[&str]| {
            let m = command().try_get_matches_from(args).unwrap();
            ignored_flags(&m)
        };
        assert_eq!(
            ignored(&["n", "testnet", "--mine", "--data-dir", "x", "--nodes", "3"]),
            vec!["--data-dir", "--mine"]
        );
        assert_eq!(
            ignored(&["n", "--max-inbound", "3", "testnet"]),
            vec!["--max-inbound"]
        );
        assert!(ignored(&["n", "testnet", "--log-level", "debug", "--miners", "1"]).is_empty());
        // Other commands read them.
        assert!(ignored(&["n", "--mine", "--data-dir", "x"]).is_empty());
    }

    #[test]
    fn flag_beats_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(&path, "mine_threads = 3\nmin_fee = 7\n").unwrap();
        let mut args = NodeArgs {
            config: Some(path),
            ..Default::default()
        };
        let s = Settings::resolve(&args).unwrap();
        assert_eq!((s.mine_threads, s.mempool.min_fee), (3, 7));
        args.mine_threads = Some(2);
        let s = Settings::resolve(&args).unwrap();
        assert_eq!((s.mine_threads, s.mempool.min_fee), (2, 7));
        assert!(!s.dev && !s.mine);
    }

    #[test]
    fn bad_files_and_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.toml");
        std::fs::write(&path, "mine_thread = 3\n").unwrap();
        let args = NodeArgs {
            config: Some(path),
            ..Default::default()
        };
        assert!(matches!(
            Settings::resolve(&args),
            Err(ConfigError::Parse { .. })
        ));
        for args in [
            NodeArgs {
                mine_threads: Some(0),
                ..Default::default()
            },
            NodeArgs {
                max_http_connections: Some(0),
                ..Default::default()
            },
        ] {
            assert!(matches!(
                Settings::resolve(&args),
                Err(ConfigError::Invalid(_))
            ));
        }
        let args = NodeArgs {
            config: Some("/nonexistent/x.toml".into()),
            ..Default::default()
        };
        assert!(matches!(
            Settings::resolve(&args),
            Err(ConfigError::Read { .. })
        ));
    }
}
