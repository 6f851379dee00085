//! Runs a request end to end: prepares it (resuming from a checkpoint),
//! reports a skip or a dry run, or checks the preconditions, executes the
//! plan, records the WorkloadState and publishes the summary.

use std::sync::Arc;

use tokio::time::Instant;

use crate::error::RunError;
use crate::plan::{Checkpoint, Plan};
use crate::ports::Cloud;
use crate::summary::RunSummary;

use super::prepare::{prepare, Prepared};
use super::skip::{dry_run_report, skip_of, skipped_summary};
use super::workload_state::{record_state, unrecorded_start};
use super::{records, Budget, Execution, RunReport, RunRequest, Settings};

/// Runs one request end to end.
pub async fn run(
    cloud: &dyn Cloud,
    request: &RunRequest,
    budget: &Budget,
    settings: &Settings,
) -> Result<RunReport, RunError> {
    run_resumed(cloud, request, None, budget, settings).await
}

/// Runs a request, resuming from the checkpoint of an earlier invocation of
/// the same run when there is one: completed groups are left out, instances
/// already acted on or bypassed are not touched again.
pub async fn run_resumed(
    cloud: &dyn Cloud,
    request: &RunRequest,
    resume: Option<&Checkpoint>,
    budget: &Budget,
    settings: &Settings,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let mut request = request.clone();
    // A continuation of a run already passed the WorkloadState check.
    request.override_state |= resume.is_some();
    let mut prepared = prepare(cloud, &request).await?;
    if let Some(checkpoint) = resume {
        checkpoint.apply(&mut prepared.plan);
    }
    if let Some(show) = settings.on_plan {
        show(&prepared.plan);
    }
    let mut report = execute_plan(cloud, &request, prepared, budget, settings, started).await?;
    if let (Some(earlier), Some(now)) = (resume, report.checkpoint.as_mut()) {
        // Keep what earlier invocations recorded: the next one needs all of it.
        for seq in &earlier.done_sequences {
            if !now.done_sequences.contains(seq) {
                now.done_sequences.push(*seq);
            }
        }
        for b in &earlier.bypassed {
            if !now.bypassed.contains(b) {
                now.bypassed.push(b.clone());
            }
        }
        for id in &earlier.acted {
            if !now.acted.contains(id) {
                now.acted.push(id.clone());
            }
        }
        now.acted_at_ms = now.acted_at_ms.or(earlier.acted_at_ms);
    }
    Ok(report)
}

/// Carries out a plan made by [`prepare`] for `request`. `started` is when
/// the run began (timings in the summary count from it).
pub async fn execute_plan(
    cloud: &dyn Cloud,
    request: &RunRequest,
    prepared: Prepared,
    budget: &Budget,
    settings: &Settings,
    started: Instant,
) -> Result<RunReport, RunError> {
    let Prepared {
        config: owned,
        plan,
        ports,
        book,
    } = prepared;
    let config = &owned;
    if let Some(skip) = skip_of(config, &plan) {
        let summary = skipped_summary(cloud, request, config, &plan, skip).await;
        let config = Some(Arc::new(owned));
        return Ok(RunReport {
            config,
            ..RunReport::ended(summary, plan)
        });
    }
    if request.dry_run {
        return Ok(dry_run_report(plan));
    }

    let ports = match ports {
        Some(p) => p,
        None => cloud
            .workload_ports(&config.workload.region, config.workload.cross_account.as_ref())
            .await
            .map_err(|source| RunError::Cloud {
                workload: config.workload.spec_name.clone(),
                source,
            })?,
    };
    let execution = Execution {
        members: ports.members,
        load_balancers: ports.load_balancers,
        alarms: ports.alarms,
        vpcs: plan
            .instances()
            .filter_map(|(_, i)| Some((i.id.clone(), i.vpc_id.clone()?)))
            .collect(),
        auto_scaling: ports.auto_scaling,
        compute: ports.compute,
        instance_types: ports.instance_types,
        status_checks: ports.status_checks,
        remote: ports.remote,
        notifier: cloud.notifier(request.notify_region()),
        events: super::bus_events::BusEvents::new(cloud, request, &plan, *budget),
        recorder: records::Recorder::new(cloud.records(), config, book, request.run_key.clone()),
        config,
        action: plan.action,
        budget,
        settings,
        started,
        keep_alarms_muted: request.maintenance_window.is_some(),
    };
    execution.records_precondition()?;
    execution.preconditions(&plan).await?;
    if request.invocation <= 1 {
        execution.events.run_started(&plan);
    }
    let (mut summary, checkpoint) = execution.execute(&plan).await;
    summary.events_failed = execution.events.settle().await;
    conclude(cloud, request, &plan, &mut summary).await;
    let stopped = super::saved::since_stop(cloud, &plan, &mut summary).await;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    execution.notify_summary(&mut summary).await;
    drop(execution);
    Ok(RunReport {
        summary,
        plan,
        checkpoint,
        config: Some(Arc::new(owned)),
        stopped,
    })
}

/// After the tiers: the WorkloadState row written (or why not), and a
/// re-stop's summary saying what it did.
async fn conclude(cloud: &dyn Cloud, request: &RunRequest, plan: &Plan, summary: &mut RunSummary) {
    if let Some(window) = &request.maintenance_window {
        summary.workload_state = Some(super::window_run::NOT_RECORDED.to_string());
        summary.maintenance_window = Some(window.clone());
        summary.message = format!("{}: {}", window.describe(), summary.message);
        return;
    }
    summary.workload_state = Some(match (&request.restop, unrecorded_start(request, summary)) {
        (Some(_), _) => "not recorded: a re-stop is not an action of the workload".to_string(),
        (None, Some(why)) => why,
        (None, None) => record_state(cloud, request, plan).await,
    });
    if let Some(restop) = &request.restop {
        summary.restop = Some(restop.clone());
        let name = restop.member().to_string();
        let stopped = summary.tiers.iter().any(|t| t.acted.contains(&name));
        summary.message = match stopped {
            false => summary.message.clone(),
            true => format!(
                "{} stopped again after RDS's automatic start: {}",
                restop.member(),
                summary.message
            ),
        };
    }
}

impl Execution<'_> {
    /// Checks made before the first action, so a run never half-happens
    /// because of a setup mistake.
    async fn preconditions(&self, plan: &Plan) -> Result<(), RunError> {
        let checks_needed = plan.instances().any(|(_, i)| i.check_override);
        if !checks_needed {
            return Ok(());
        }
        for tier in plan.groups.iter().flat_map(|g| &g.tiers) {
            let checked = tier.instances.iter().any(|i| i.check_override);
            let Some(check) = tier.override_check.as_ref().filter(|_| checked) else {
                continue;
            };
            if let Err(why) = self.settings.override_documents.resolve(check.os()) {
                return Err(RunError::Precondition {
                    workload: self.config.workload.spec_name.clone(),
                    message: format!("tier {}: {why}", tier.tier),
                });
            }
        }
        let Some(output) = self.output_location() else {
            return Ok(()); // validation already requires the bucket
        };
        let workload = &self.config.workload;
        let bucket_region = self
            .remote
            .bucket_region(&output.bucket)
            .await
            .map_err(|e| RunError::Precondition {
                workload: workload.spec_name.clone(),
                message: format!("cannot read the location of SSMS3BucketName {:?}: {e}", output.bucket),
            })?;
        if bucket_region != workload.region {
            return Err(RunError::Precondition {
                workload: workload.spec_name.clone(),
                message: format!(
                    "SSMS3BucketName {:?} is in {bucket_region}, but SSM only writes output to a bucket in the workload region {}; \
                     use a bucket in {}",
                    output.bucket, workload.region, workload.region
                ),
            });
        }
        Ok(())
    }
}
