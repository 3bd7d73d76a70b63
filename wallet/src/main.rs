//! The `ferrite-wallet` binary: parses the command line, runs the command, and turns a failure
//! into its one-line message and documented exit code.

use clap::error::ErrorKind;
use clap::Parser;
use ferrite_wallet::cli::Cli;
use ferrite_wallet::WalletError;

/// Prints a failure as text or, with `--json`, as one JSON object on stderr's last line
/// (`txid` added when a transfer was sent).
fn report(json: bool, code: &str, message: &str, exit_code: i32, txid: Option<&str>) {
    if json {
        let mut v = serde_json::json!({"error": code, "message": message, "exit_code": exit_code});
        if let Some(t) = txid {
            v["txid"] = t.into();
        }
        eprintln!("{v}");
    } else {
        eprintln!("error: {message}");
    }
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are answers, not failures.
            let asked = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            if !asked && std::env::args_os().any(|a| a == "--json") {
                let usage = WalletError::Usage(String::new());
                let first = e.to_string();
                let first = first.lines().next().unwrap_or("bad command line");
                let first = first.trim_start_matches("error: ");
                report(true, usage.code(), first, usage.exit_code(), None);
                std::process::exit(usage.exit_code());
            }
            e.exit()
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = ferrite_wallet::commands::run(&cli) {
        let txid = match &e {
            WalletError::NotConfirmed { txid, .. } | WalletError::Dropped { txid, .. } => {
                Some(txid.as_str())
            }
            _ => None,
        };
        report(cli.json, e.code(), &e.to_string(), e.exit_code(), txid);
        std::process::exit(e.exit_code());
    }
}
