//! `config validate | import | export`: workload documents (this
//! project's JSON, or the original Loader's YAML) and the tables.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ec2_tier_scheduler::aws::Tables;
use ec2_tier_scheduler::config::document::{self, DocumentTables, Shape};
use ec2_tier_scheduler::ports::{Cloud, ConfigStore, StateLookup, WorkloadState};

use clap::Subcommand;

use crate::shared::{self, refused, RegionArg};

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check a workload document (JSON or YAML) with the orchestrator's rules
    Validate {
        /// The document
        file: PathBuf,
    },
    /// Validate a document and write it to the tables (all or nothing)
    Import {
        /// The document
        file: PathBuf,
        #[command(flatten)]
        region: RegionArg,
    },
    /// Print a workload's items as a document
    Export {
        /// SpecName of the workload
        workload: String,
        #[command(flatten)]
        region: RegionArg,
        /// Document shape: this project's JSON, or the original Loader's YAML
        #[arg(long, value_enum, default_value = "document")]
        format: ExportFormat,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum ExportFormat {
    /// {"workload": {...}, "tiers": [...]} as JSON
    Document,
    /// The original Loader's workloads:/tiers: shape as YAML
    Loader,
}

pub async fn command(command: ConfigCommand) -> ExitCode {
    match command {
        ConfigCommand::Validate { file } => validate(&file),
        ConfigCommand::Import { file, region } => import(&file, &region.region).await,
        ConfigCommand::Export {
            workload,
            region,
            format,
        } => export(&workload, &region.region, format).await,
    }
}

/// Reads and checks a document; on failure says why (and `after_error`,
/// when given) and returns the exit code.
fn parse_file(file: &Path, after_error: Option<&str>) -> Result<document::Parsed, ExitCode> {
    let text = std::fs::read_to_string(file).map_err(|e| refused(&format!("cannot read {}: {e}", file.display())))?;
    document::parse(&text).map_err(|e| {
        eprintln!("{}: {e}", file.display());
        if let Some(line) = after_error {
            eprintln!("{line}");
        }
        ExitCode::FAILURE
    })
}

/// Checks a document with the orchestrator's rules.
fn validate(file: &Path) -> ExitCode {
    let parsed = match parse_file(file, None) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let config = &parsed.config;
    println!(
        "{}: workload {:?} is valid ({} tiers{})",
        file.display(),
        config.workload.spec_name,
        config.tiers.len(),
        match parsed.shape {
            Shape::Loader => ", the original Loader's document shape",
            Shape::Document => "",
        }
    );
    for w in &config.warnings {
        println!("  warning: {w}");
    }
    if let Some(note) = table_note(&parsed.tables, &Tables::from_env()) {
        println!("  note: {note}");
    }
    ExitCode::SUCCESS
}

/// Validates a document and writes it to the tables, all or nothing.
async fn import(file: &Path, region: &str) -> ExitCode {
    let parsed = match parse_file(file, Some("nothing was written")) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    for w in &parsed.config.warnings {
        eprintln!("warning: {w}");
    }
    // A Loader document names its tables: they are honoured, and a
    // difference from the configured ones is said plainly.
    let configured = Tables::from_env();
    if let Some(note) = table_note(&parsed.tables, &configured) {
        eprintln!("note: {note}");
    }
    let tables = Tables {
        workload: parsed.tables.workload.clone().unwrap_or(configured.workload.clone()),
        tier: parsed.tables.tier.clone().unwrap_or(configured.tier.clone()),
        state: configured.state.clone(),
    };
    let cloud = shared::cloud_with(tables.clone()).await;
    let store = cloud.config_store(region);
    let config = &parsed.config;
    if let Err(e) = store.save(&parsed.items).await {
        return refused(&e);
    }
    println!(
        "imported workload {:?} ({} tiers) into {} / {} in {region}",
        config.workload.spec_name,
        config.tiers.len(),
        tables.workload,
        tables.tier
    );
    seed_state(store.as_ref(), &config.workload.spec_name).await;
    ExitCode::SUCCESS
}

/// Prints a workload's items as a document.
async fn export(workload: &str, region: &str, format: ExportFormat) -> ExitCode {
    let tables = Tables::from_env();
    let cloud = shared::cloud().await;
    let items = match cloud.config_store(region).load(workload).await {
        Ok(Some(items)) => items,
        Ok(None) => return refused(&format!("workload {workload:?} not found in {region}")),
        Err(e) => return refused(&e),
    };
    let names = (tables.workload.as_str(), tables.tier.as_str());
    match format {
        ExportFormat::Document => shared::print_json(&document::render(&items, Shape::Document, names)),
        ExportFormat::Loader => print!(
            "{}",
            serde_yaml::to_string(&document::render(&items, Shape::Loader, names)).expect("document serialises")
        ),
    }
    ExitCode::SUCCESS
}

/// Says how a Loader document's table names relate to the configured ones.
fn table_note(named: &DocumentTables, configured: &Tables) -> Option<String> {
    let differs = |doc: &Option<String>, conf: &str| doc.as_deref().is_some_and(|d| d != conf);
    (differs(&named.workload, &configured.workload) || differs(&named.tier, &configured.tier)).then(|| {
        format!(
            "the document names tables {} / {}; the scheduler reads {} / {} \
             (WORKLOAD_SPEC_TABLE / TIER_SPEC_TABLE). Import writes to the document's tables",
            named.workload.as_deref().unwrap_or(&configured.workload),
            named.tier.as_deref().unwrap_or(&configured.tier),
            configured.workload,
            configured.tier
        )
    })
}

/// The original's Loader seeds the WorkloadState row (`Unmanaged`) when it
/// loads a workload; an existing row is kept.
async fn seed_state(store: &dyn ConfigStore, workload: &str) {
    match store.load_state(workload).await {
        Ok(StateLookup::Missing) => {
            let state = WorkloadState {
                last_action_type: "Unmanaged".into(),
                last_action_time: ec2_tier_scheduler::clock::show_utc(ec2_tier_scheduler::clock::now()),
                profile: None,
            };
            match store.save_state(workload, &state).await {
                Ok(None) => println!("WorkloadState row seeded as Unmanaged"),
                Ok(Some(table)) => eprintln!("note: table {table} does not exist; no WorkloadState row written"),
                Err(e) => eprintln!("warning: WorkloadState row not written: {e}"),
            }
        }
        Ok(StateLookup::NoTable(table)) => {
            eprintln!("note: table {table} does not exist; no WorkloadState row written")
        }
        Ok(StateLookup::Found(_)) => {}
        Err(e) => eprintln!("warning: WorkloadState table not read: {e}"),
    }
}
