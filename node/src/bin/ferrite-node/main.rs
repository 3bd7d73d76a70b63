//! The `ferrite-node` binary: parses the configuration, sets up logging, and hands the
//! command to its place: running a node (`run`), the maintenance commands (`maintenance`),
//! or the ones that only print (config, completions, man page) and `generate`, here.

mod genesis;
mod maintenance;
mod run;

use std::time::Instant;

use anyhow::Context;
use ferrite_node::config::{Cli, Command, LogFormat, Settings};
use ferrite_node::{exit, generate};

fn main() {
    let (cli, matches) = match ferrite_node::config::parse() {
        Ok(parsed) => parsed,
        Err(e) if e.use_stderr() => {
            // One line: the first line of clap's message, which names the problem.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("{first} (see ferrite-node --help)");
            std::process::exit(exit::USAGE);
        }
        Err(e) => e.exit(),
    };
    let ignored = ferrite_node::config::ignored_flags(&matches);
    if !ignored.is_empty() {
        eprintln!(
            "error: testnet does not read {} (it starts nodes of its own; see ferrite-node testnet --help)",
            ignored.join(", ")
        );
        std::process::exit(exit::USAGE);
    }
    let settings = match Settings::resolve(&cli.opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(exit::CONFIG);
        }
    };
    init_logging(&settings);
    if let Err(e) = run(cli, &settings, &matches) {
        eprintln!("error: {e:#}");
        std::process::exit(exit::code(e.chain()));
    }
    if ferrite_node::out::gone() {
        std::process::exit(exit::STDOUT_CLOSED);
    }
}

fn init_logging(settings: &Settings) {
    // Checked when the settings were resolved.
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ferrite_node::terminal::LogWriter::new);
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => {
            if terminal {
                ferrite_node::terminal::use_bar();
            }
            builder.with_ansi(terminal).init()
        }
    }
}

fn run(cli: Cli, settings: &Settings, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let settings = settings.clone();
    match cli.command.unwrap_or(Command::Run) {
        Command::Config => {
            let file = ferrite_node::config::file_of(&cli.opts)?;
            let rows = ferrite_node::effective::rows(&cli.opts, &file, &settings, matches);
            let text = ferrite_node::effective::render(&rows, cli.opts.config.as_deref());
            ferrite_node::say!("{}", text.trim_end());
            Ok(())
        }
        Command::Completions(c) => {
            let mut cmd = ferrite_node::config::command();
            let mut out = Vec::new();
            clap_complete::generate(c.shell, &mut cmd, "ferrite-node", &mut out);
            ferrite_node::say!("{}", String::from_utf8_lossy(&out).trim_end());
            Ok(())
        }
        Command::Manpage => {
            let mut out = Vec::new();
            clap_mangen::Man::new(ferrite_node::config::command())
                .render(&mut out)
                .context("rendering the man page")?;
            ferrite_node::say!("{}", String::from_utf8_lossy(&out).trim_end());
            Ok(())
        }
        Command::Run => run::run_node(&settings),
        Command::Generate(g) => {
            let dir = settings.data_dir.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("ferrite-generate-{}", std::process::id()))
            });
            let started = Instant::now();
            let txs = generate::generate(&dir, &g.out, g.blocks, g.txs_per_block, g.accounts)
                .with_context(|| format!("generate --out {}", g.out.display()))?;
            ferrite_node::say!(
                "generated {} blocks, {txs} transfers in {:.1} s -> {}",
                g.blocks,
                started.elapsed().as_secs_f64(),
                g.out.display()
            );
            if settings.data_dir.is_none() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            Ok(())
        }
        Command::Import(args) => maintenance::import(&settings, &args.file, args.measure_limit),
        Command::Check(args) => maintenance::check(&settings, &args.at_height),
        Command::Export(args) => maintenance::export(&settings, &args.out),
        Command::Testnet(args) => ferrite_node::testnet::run(&args),
    }
}
