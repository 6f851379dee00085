//! `override set | clear | list`: expiring per-instance overrides by tag.
//! Which instances, which tags and what a tag means are the library's
//! (`override_tag::edit`); this file reads the flags and tags.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use ec2_tier_scheduler::instance::Instance;
use ec2_tier_scheduler::orchestrator;
use ec2_tier_scheduler::override_tag::edit::{self, EditError};
use ec2_tier_scheduler::override_tag::TagOverride;
use ec2_tier_scheduler::ports::InstanceTags;
use serde_json::json;

use crate::shared::{self, refused, usage_error, RegionArg};

#[derive(Args, Debug)]
pub struct OverrideScope {
    /// Workload Identifier
    #[arg(short = 'w', long = "workloadIdentifier")]
    pub workload: String,
    #[command(flatten)]
    pub region: RegionArg,
    /// Only these instances of the workload (default: all of them)
    #[arg(long = "instance")]
    pub instances: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum OverrideCommand {
    /// Tag instances with `keep-running until <time>` (or keep-stopped)
    Set {
        #[command(flatten)]
        scope: OverrideScope,
        /// Until this time (RFC 3339, e.g. 2026-11-26T08:00:00Z or 2026-11-26T09:00:00+01:00;
        /// a bare date is 00:00 UTC that day)
        #[arg(long, conflicts_with = "for_span", required_unless_present = "for_span")]
        until: Option<String>,
        /// For this long from now (e.g. 3h, 90m, 2d)
        #[arg(long = "for", id = "for_span")]
        for_span: Option<String>,
        /// What to keep the instances as
        #[arg(long, value_parser = ["running", "stopped"], default_value = "running")]
        keep: String,
        /// Why (carried into run reports)
        #[arg(long)]
        reason: Option<String>,
    },
    /// Remove the override tags
    Clear {
        #[command(flatten)]
        scope: OverrideScope,
    },
    /// List the workload's instances with their override tags
    List {
        #[command(flatten)]
        scope: OverrideScope,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

/// The instances in scope and the workload's tag key.
struct Scoped<'a> {
    chosen: Vec<&'a Instance>,
    ids: Vec<String>,
    key: String,
}

pub async fn command(command: OverrideCommand) -> ExitCode {
    let scope = match &command {
        OverrideCommand::Set { scope, .. } | OverrideCommand::Clear { scope } | OverrideCommand::List { scope, .. } => {
            scope
        }
    };
    let cloud = shared::cloud().await;
    let (config, ports, instances) =
        match orchestrator::workload_instances(&cloud, &scope.workload, &scope.region.region).await {
            Ok(found) => found,
            Err(e) => return refused(&e),
        };
    let chosen = match edit::scope(&instances, &scope.instances, &scope.workload) {
        Ok(chosen) => chosen,
        Err(e) => return refused(&e),
    };
    let scoped = Scoped {
        ids: chosen.iter().map(|i| i.id.clone()).collect(),
        chosen,
        key: config.workload.override_tag.clone(),
    };
    let now = ec2_tier_scheduler::clock::now();
    let tags = ports.instance_tags.as_ref();
    match command {
        OverrideCommand::Set {
            until,
            for_span,
            keep,
            reason,
            ..
        } => {
            let until = match edit::until(until.as_deref(), for_span.as_deref(), now) {
                Ok(until) => until,
                Err(_) => return usage_error("--until must be a future RFC 3339 time or date (or --for 3h, 90m, 2d)"),
            };
            let keep = edit::keep_of(&keep).expect("clap allows running or stopped");
            set(tags, &scoped, &TagOverride { keep, until }, reason.as_deref()).await
        }
        OverrideCommand::Clear { .. } => clear(tags, &scoped).await,
        OverrideCommand::List { json, .. } => {
            list(&scoped, scope, json, now);
            ExitCode::SUCCESS
        }
    }
}

/// Tags the instances in scope with the override (and its reason).
async fn set(
    instance_tags: &dyn InstanceTags,
    scoped: &Scoped<'_>,
    tag: &TagOverride,
    reason: Option<&str>,
) -> ExitCode {
    let tags = match edit::set_tags(&scoped.key, tag, reason) {
        Ok(tags) => tags,
        Err(EditError::ReasonTooLong) => {
            return usage_error(&format!(
                "--reason is longer than the {} characters a tag value allows",
                edit::MAX_TAG_VALUE_CHARS
            ))
        }
        Err(e) => return refused(&e),
    };
    for chunk in scoped.ids.chunks(edit::TAG_BATCH) {
        if let Err(e) = instance_tags.tag(chunk, &tags).await {
            return refused(&e);
        }
    }
    println!(
        "{} instance(s) tagged {}={}",
        scoped.ids.len(),
        scoped.key,
        tag.to_tag_value()
    );
    ExitCode::SUCCESS
}

/// Removes the override tags from the instances in scope.
async fn clear(instance_tags: &dyn InstanceTags, scoped: &Scoped<'_>) -> ExitCode {
    let keys = edit::clear_keys(&scoped.key);
    for chunk in scoped.ids.chunks(edit::TAG_BATCH) {
        if let Err(e) = instance_tags.untag(chunk, &keys).await {
            return refused(&e);
        }
    }
    println!("override tags removed from {} instance(s)", scoped.ids.len());
    ExitCode::SUCCESS
}

/// Lists the instances in scope that carry an override tag, and what it means now.
fn list(scoped: &Scoped<'_>, scope: &OverrideScope, json: bool, now: u64) {
    let rows: Vec<[String; 4]> = scoped
        .chosen
        .iter()
        .filter_map(|i| {
            i.override_tag.as_ref().map(|(value, reason)| {
                [
                    i.id.clone(),
                    i.tier.clone(),
                    value.clone(),
                    edit::describe(value, reason.as_deref(), now),
                ]
            })
        })
        .collect();
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|[id, tier, value, status]| json!({"instance": id, "tier": tier, "value": value, "status": status}))
            .collect();
        shared::print_json(&list);
    } else if rows.is_empty() {
        println!(
            "no {} tags on the {} instance(s) of {}",
            scoped.key,
            scoped.chosen.len(),
            scope.workload
        );
    } else {
        let mut table = vec![vec![
            "INSTANCE".to_string(),
            "TIER".into(),
            scoped.key.clone(),
            "STATUS".into(),
        ]];
        table.extend(rows.into_iter().map(Vec::from));
        print!("{}", ec2_tier_scheduler::table::render(&table));
    }
}
