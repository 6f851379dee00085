//! `plan`: the ordered plan, as a table, JSON or a timeline; no mutating call.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use ec2_tier_scheduler::orchestrator::{self, Prepared, RunRequest};
use ec2_tier_scheduler::plan::Plan;
use ec2_tier_scheduler::ports::Cloud;
use ec2_tier_scheduler::timeline::{Estimates, Timeline};
use ec2_tier_scheduler::window::WindowOutlook;

use crate::shared::{self, print_json, refused, write_svg, Target};

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: Target,
    /// Also draw the plan as a timeline with estimated durations (SVG)
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

/// Prepares a dry run and prints its plan.
pub async fn command(args: PlanArgs) -> ExitCode {
    let PlanArgs { target, svg } = args;
    let action = match shared::action(&target) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let cloud = shared::cloud().await;
    let request = match shared::request(&target, action, true, &cloud) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // A Start plan includes its KMS readiness: the keys of the volumes of
    // the instances it would start, judged against EBS_KMS_KEY_ARNS (the
    // stack's EbsKmsKeyArns, as the function sees it).
    let plan = match orchestrator::prepare(&cloud, &request).await {
        Ok(Prepared { plan, .. }) => plan,
        Err(e) => return refused(&e),
    };
    let windows = windows(&cloud, &request).await;
    if target.json {
        print_json(&with_windows(&plan, &windows));
    } else {
        print!("{}", plan.to_table());
        if !windows.is_empty() {
            println!("\nMaintenance windows:");
            for w in &windows {
                println!("  {}", w.line());
            }
        }
    }
    match svg.map(|path| draw(&path, &plan)) {
        Some(Err(e)) => refused(&e),
        _ => ExitCode::SUCCESS,
    }
}

/// Each maintenance window the workload configures: its next window Start
/// and Stop, or why it has none (none when it configures none, or when
/// they could not be read: said on stderr).
async fn windows(cloud: &dyn Cloud, request: &RunRequest) -> Vec<WindowOutlook> {
    orchestrator::workload_windows(cloud, &request.workload, &request.dynamodb_region)
        .await
        .unwrap_or_else(|e| {
            eprintln!("warning: the maintenance windows were not read: {e}");
            Vec::new()
        })
}

/// The plan's JSON, with a `windows` key beside its own when the workload
/// configures windows (the plan's keys are unchanged).
fn with_windows(plan: &Plan, windows: &[WindowOutlook]) -> serde_json::Value {
    let mut value = serde_json::to_value(plan).expect("a plan serialises");
    if !windows.is_empty() {
        value["windows"] = serde_json::to_value(windows).expect("windows serialise");
    }
    value
}

/// The plan as a timeline with typical durations.
fn draw(path: &Path, plan: &Plan) -> Result<(), String> {
    write_svg(path, &Timeline::of_plan(plan, &Estimates::typical(plan.action)))
}
