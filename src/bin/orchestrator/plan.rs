//! `plan`: the ordered plan, as a table, JSON or a timeline; no mutating call.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::orchestrator::{self, Prepared};
use ec2_tier_scheduler::plan::keys::{GrantedKeys, GRANTED_KEYS_ENV};
use ec2_tier_scheduler::plan::Plan;
use ec2_tier_scheduler::timeline::{Estimates, Timeline};

use crate::args::Target;
use crate::{print_json, refused, write_svg};

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: Target,
    /// Also draw the plan as a timeline with estimated durations (SVG)
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Customer managed KMS keys the scheduler may create grants on (the
    /// stack's EbsKmsKeyArns): a Start plan warns of volume keys not listed
    #[arg(long = "ebs-kms-key-arns", env = GRANTED_KEYS_ENV, value_name = "ARNS", value_parser = granted_keys)]
    pub ebs_kms_key_arns: Option<GrantedKeys>,
}

/// Parses `--ebs-kms-key-arns` (comma separated key ARNs).
fn granted_keys(text: &str) -> Result<GrantedKeys, String> {
    GrantedKeys::parse("EbsKmsKeyArns", text)
}

/// Prepares a dry run and prints its plan.
pub async fn command(args: PlanArgs) -> ExitCode {
    let PlanArgs {
        target,
        svg,
        ebs_kms_key_arns,
    } = args;
    let action = match crate::action(&target) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let cloud = crate::cloud().await;
    let request = match crate::request(&target, action, true, &cloud) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (mut plan, ports) = match orchestrator::prepare(&cloud, &request).await {
        Ok(Prepared { plan, ports, .. }) => (plan, ports),
        Err(e) => return refused(&e),
    };
    // A Start's KMS readiness: the keys of the volumes it would start.
    if let Some(ports) = ports.filter(|_| plan.action == Action::Start) {
        ports.check_keys(&mut plan, &ebs_kms_key_arns.unwrap_or_default()).await;
    }
    if target.json {
        print_json(&plan);
    } else {
        print!("{}", plan.to_table());
    }
    match svg.map(|path| draw(&path, &plan)) {
        Some(Err(e)) => refused(&e),
        _ => ExitCode::SUCCESS,
    }
}

/// The plan as a timeline with typical durations.
fn draw(path: &Path, plan: &Plan) -> Result<(), String> {
    write_svg(path, &Timeline::of_plan(plan, &Estimates::typical(plan.action)))
}
