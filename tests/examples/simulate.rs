//! `scripts/simulate`: one long simulated network, or one CI seed, with a summary.
//!
//! ```text
//! simulate --seed S [--nodes N] [--minutes M]   # a long scenario (default 50 nodes, 60 min)
//! simulate --ci --seed S                         # the CI scenario of that seed
//! simulate --attack ROLE --seed S                # an attack scenario (tests/tests/sim.rs)
//! ```

use ferrite_tests::sim::{Role, Scenario, Sim};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str, default: u64| -> u64 {
        match args.iter().position(|a| a == flag) {
            Some(i) => match args.get(i + 1).and_then(|v| v.parse().ok()) {
                Some(v) => v,
                None => {
                    eprintln!("error: {flag} takes a whole number");
                    std::process::exit(2);
                }
            },
            None => default,
        }
    };
    let seed = value("--seed", 1);
    let attack = args
        .iter()
        .position(|a| a == "--attack")
        .map(|i| args.get(i + 1).map(String::as_str));
    let scenario = if let Some(role) = attack {
        let role = match role {
            Some("Staller") => Role::Staller,
            Some("Flooder") => Role::Flooder,
            Some("Forger") => Role::Forger,
            Some("Withholder") => Role::Withholder,
            Some("Squatter") => Role::Squatter,
            _ => {
                eprintln!("error: --attack takes Staller, Flooder, Forger, Withholder or Squatter");
                std::process::exit(2);
            }
        };
        Scenario::attack(seed, role)
    } else if args.iter().any(|a| a == "--ci") {
        Scenario::ci(seed)
    } else {
        Scenario::long(seed, value("--nodes", 50) as usize, value("--minutes", 60))
    };
    println!(
        "seed {seed}: {} nodes, {} s active, {} partition(s), {} crash(es), misbehaving: {:?}",
        scenario.nodes,
        scenario.active.as_secs(),
        scenario.partitions,
        scenario.crashes,
        scenario.evil
    );
    let report = Sim::new(scenario).run();
    print!("{report}");
    if !report.violations.is_empty() {
        std::process::exit(1);
    }
}
