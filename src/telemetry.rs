//! Logging: JSON lines in Lambda (CloudWatch parses them), readable text in
//! the CLI. `RUST_LOG` overrides the level in both.

use tracing_subscriber::EnvFilter;

/// JSON logs without ANSI colours or timestamps (Lambda adds its own).
pub fn init_lambda() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .try_init();
}

/// Human-readable logs on stderr at `level` (the seed's `-l` values).
pub fn init_cli(level: &str) {
    let level = match level.to_ascii_lowercase().as_str() {
        "critical" | "error" => "error",
        "warning" | "warn" => "warn",
        "debug" => "debug",
        "notset" => "trace",
        _ => "info",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("ec2_tier_scheduler={level},orchestrator={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
