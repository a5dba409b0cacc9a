//! `sandbox-data`: writes a sandbox dataset to files, the same bytes the portal's
//! download gives for the same seed, persona and dates.
//!
//! ```text
//! sandbox-data generate --seed 42 --persona salaried --format json --from 2026-01-01 --to 2026-03-31
//! ```

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use sandbox_data::export::{self, Selection};
use sandbox_data::{Dataset, Persona};
use time::{Date, Duration, OffsetDateTime};

#[derive(Parser)]
#[command(
    name = "sandbox-data",
    about = "Synthetic Open Banking datasets for the Gatehouse sandbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a dataset: dataset.json, or accounts.csv, parties.csv and transactions.csv.
    Generate {
        /// The dataset's seed (a sandbox's seed is shown on its dataset page).
        #[arg(long)]
        seed: u64,
        /// Only this persona: salaried, student, gig-worker, pensioner, small-business,
        /// traveller, dormant or kyc-mismatch. All eight when left out.
        #[arg(long)]
        persona: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// First day of transactions (YYYY-MM-DD); 90 days before --to by default.
        #[arg(long)]
        from: Option<String>,
        /// Last day of transactions (YYYY-MM-DD); today (UTC) by default. Give it to
        /// get the same bytes on another day.
        #[arg(long)]
        to: Option<String>,
        /// The folder to write into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Csv,
}

fn parse_date(text: &str) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).map_err(|_| format!("{text} is not a date (YYYY-MM-DD)"))
}

fn run(cli: Cli) -> Result<Vec<PathBuf>, String> {
    let Command::Generate {
        seed,
        persona,
        format,
        from,
        to,
        out,
    } = cli.command;
    let persona = match persona {
        Some(key) => Some(Persona::parse(&key).ok_or_else(|| format!("unknown persona {key}"))?),
        None => None,
    };
    let to = match to {
        Some(text) => parse_date(&text)?,
        None => OffsetDateTime::now_utc().date(),
    };
    let from = match from {
        Some(text) => parse_date(&text)?,
        None => to - Duration::days(90),
    };
    if from > to {
        return Err("--from is after --to".into());
    }
    let dataset = Dataset::generate(seed);
    let selection = Selection { persona, from, to };
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let create = |name: &str| -> Result<(PathBuf, BufWriter<File>), String> {
        let path = out.join(name);
        let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((path, BufWriter::new(file)))
    };
    let io = |path: &PathBuf, e: std::io::Error| format!("{}: {e}", path.display());
    let mut written = Vec::new();
    match format {
        Format::Json => {
            let (path, file) = create("dataset.json")?;
            export::write_json(&dataset, &selection, file).map_err(|e| io(&path, e))?;
            written.push(path);
        }
        Format::Csv => {
            let (path, file) = create("accounts.csv")?;
            export::write_accounts_csv(&dataset, &selection, file).map_err(|e| io(&path, e))?;
            written.push(path);
            let (path, file) = create("parties.csv")?;
            export::write_parties_csv(&dataset, &selection, file).map_err(|e| io(&path, e))?;
            written.push(path);
            let (path, file) = create("transactions.csv")?;
            export::write_transactions_csv(&dataset, &selection, file).map_err(|e| io(&path, e))?;
            written.push(path);
        }
    }
    Ok(written)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(paths) => {
            for path in paths {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("sandbox-data: {message}");
            ExitCode::from(2)
        }
    }
}
