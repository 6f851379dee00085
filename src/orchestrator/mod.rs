//! Executes a plan through the ports: tier groups in order, batching,
//! override checks, waits and gates, all inside the deadline budget.
//!
//! Nothing here talks to AWS directly; the same code runs against the SDK
//! adapters, the moto emulator and the in-memory fakes.

mod auto_scaling;
mod budget;
mod capacity;
mod gate;
mod members;
mod overrides;
mod records;
mod scaling;
mod tier;
mod traffic;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;

pub use crate::ports::{EC2_BATCH, SSM_BATCH, STATUS_BATCH};
pub use crate::run::{RunReport, RunRequest};
pub use auto_scaling::PROCESSES as AUTO_SCALING_PROCESSES;
pub use budget::Budget;
pub use records::{record_survey, workload_records};

use crate::action::Action;
use crate::config::{ItemNaming, WorkloadConfig};
use crate::error::RunError;
use crate::notify;
use crate::override_check::CheckDocuments;
use crate::plan::{self, Checkpoint, Plan, TierGroup};
use crate::ports::{Cloud, Compute, Notifier, OutputLocation, RemoteCheck, StateLookup, WorkloadPorts, WorkloadState};
use crate::summary::{DelayWait, Noted, RunStatus, RunSummary, TierOutcome};

/// What [`prepare`] found: the configuration, the plan, and the ports
/// acting where the workload's instances live (absent when the run is
/// skipped before discovery).
pub struct Prepared {
    /// The validated configuration.
    pub config: WorkloadConfig,
    /// The plan.
    pub plan: Plan,
    /// EC2 and SSM in the workload's account and region.
    pub ports: Option<WorkloadPorts>,
    /// The workload's records (what a Start restores), read before the plan.
    pub book: crate::records::Book,
}

/// Tunables with production defaults; tests shorten them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// First pause between polls.
    pub poll_initial: Duration,
    /// Longest pause between polls (backoff doubles up to this).
    pub poll_max: Duration,
    /// Longest a tier's override checks may take in all.
    pub override_timeout: Duration,
    /// Longest wait for one instance to reach a state (sync tiers, transitions).
    pub state_timeout: Duration,
    /// Concurrent GetCommandInvocation / S3 reads while polling checks.
    pub poll_concurrency: usize,
    /// Inter-tier delays longer than this are not slept through: the run
    /// checkpoints and a continuation resumes it when the delay is over
    /// (Lambda with continuation configured). `None`: always sleep.
    pub offload_delays_over: Option<Duration>,
    /// Called with the plan before the first action (the CLI prints it).
    pub on_plan: Option<fn(&Plan)>,
    /// The SSM documents override checks may use. The default allows only
    /// AWS-RunShellScript / AWS-RunPowerShellScript (tests, embedding);
    /// [`Settings::from_env`] reads the stack's documents and the opt-in.
    pub override_documents: CheckDocuments,
    /// The instance types a type change may set (`ALLOWED_INSTANCE_TYPES`,
    /// the stack's `AllowedInstanceTypes`: IAM `StringLike` patterns);
    /// empty: any. A profile's type, a fallback type and a recorded
    /// original type are all held to it.
    pub allowed_instance_types: Vec<String>,
    /// The largest capacity a Start restores (`MAX_RESTORED_CAPACITY`, the
    /// stack's `MaxRestoredCapacity`), at most [`crate::records::MAX_RESTORED`].
    pub max_restored_capacity: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            poll_initial: Duration::from_secs(2),
            poll_max: Duration::from_secs(15),
            override_timeout: Duration::from_secs(120),
            state_timeout: Duration::from_secs(600),
            poll_concurrency: 16,
            offload_delays_over: None,
            on_plan: None,
            override_documents: CheckDocuments::aws_run_script(),
            allowed_instance_types: Vec::new(),
            max_restored_capacity: crate::records::MAX_RESTORED,
        }
    }
}

impl Settings {
    /// Defaults, with the override-check timeout from
    /// `OVERRIDE_CHECK_TIMEOUT_SECS` when set (whole seconds, 30 to 3600),
    /// and the override-check documents from `OVERRIDE_CHECK_DOCUMENT_LINUX`,
    /// `OVERRIDE_CHECK_DOCUMENT_WINDOWS` and
    /// `OVERRIDE_CHECK_ALLOW_RUN_SHELL_SCRIPT` (without them, a tier with an
    /// override check is refused before any action).
    pub fn from_env() -> Self {
        let mut settings = Self {
            override_documents: CheckDocuments::from_env(),
            ..Self::default()
        };
        if let Some(secs) = std::env::var("OVERRIDE_CHECK_TIMEOUT_SECS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            settings.override_timeout = Duration::from_secs(secs.clamp(30, 3600));
        }
        if let Ok(types) = std::env::var("ALLOWED_INSTANCE_TYPES") {
            settings.allowed_instance_types = types
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty() && *t != "*")
                .map(str::to_string)
                .collect();
        }
        if let Some(n) = std::env::var("MAX_RESTORED_CAPACITY")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
        {
            settings.max_restored_capacity = n.min(crate::records::MAX_RESTORED);
        }
        settings
    }

    /// Whether a type change to `instance_type` is allowed.
    pub fn allows_type(&self, instance_type: &str) -> bool {
        self.allowed_instance_types.is_empty()
            || self
                .allowed_instance_types
                .iter()
                .any(|p| wildmatch::WildMatch::new(p).matches(instance_type))
    }
}

/// Loads and validates the configuration of a workload.
pub async fn load_config(cloud: &dyn Cloud, workload: &str, dynamodb_region: &str) -> Result<WorkloadConfig, RunError> {
    let store = cloud.config_store(dynamodb_region);
    let items = store
        .load(workload)
        .await
        .map_err(|source| RunError::Cloud {
            workload: workload.to_string(),
            source,
        })?
        .ok_or_else(|| RunError::WorkloadNotFound {
            workload: workload.to_string(),
            table: store.location(),
            region: dynamodb_region.to_string(),
        })?;
    Ok(WorkloadConfig::from_items(
        workload,
        &items.workload,
        &items.tiers,
        ItemNaming::Table,
    )?)
}

/// Loads the configuration, checks the WorkloadState rule, assumes the
/// workload's role, discovers the instances and builds the plan. Makes
/// read-only calls only.
pub async fn prepare(cloud: &dyn Cloud, request: &RunRequest) -> Result<Prepared, RunError> {
    if request.workload.trim().is_empty() {
        return Err(RunError::Request("workloadIdentifier must not be empty".into()));
    }
    let config = load_config(cloud, &request.workload, &request.dynamodb_region).await?;
    // Override tags are judged at the moment of discovery.
    let now = crate::clock::now();
    let cloud_error = |source| RunError::Cloud {
        workload: request.workload.clone(),
        source,
    };
    if let Some(reason) = state_skip(cloud, request).await.map_err(cloud_error)? {
        let mut plan = plan::build(&config, &[], request.action, request.scaling_profile.as_deref(), now);
        plan.state_skip = Some(reason);
        return Ok(Prepared {
            config,
            plan,
            ports: None,
            book: Default::default(),
        });
    }
    let w = &config.workload;
    let ports = cloud
        .workload_ports(&w.region, w.cross_account.as_ref())
        .await
        .map_err(cloud_error)?;
    if let Some(reason) = calendar_closed(&ports, w, request.action).await? {
        let mut plan = plan::build(&config, &[], request.action, request.scaling_profile.as_deref(), now);
        plan.calendar_skip = Some(reason);
        return Ok(Prepared {
            config,
            plan,
            ports: Some(ports),
            book: Default::default(),
        });
    }
    let records = cloud.records();
    let book = records::load_book(records.as_ref(), &config)
        .await
        .map_err(cloud_error)?;
    let place = records::place_of(&config);
    let mut instances = ports.compute.discover(&w.discovery()).await.map_err(cloud_error)?;
    let mut untrusted = crate::records::trust_instances(&book, &place, &mut instances);
    let mut plan = plan::build(
        &config,
        &instances,
        request.action,
        request.scaling_profile.as_deref(),
        now,
    );
    let kinds = config.member_kinds();
    if !kinds.is_empty() {
        let mut members = ports
            .members
            .discover(&w.discovery(), &kinds)
            .await
            .map_err(cloud_error)?;
        untrusted.extend(crate::records::trust_members(&book, &place, &mut members));
        plan.add_members(&config, &members, now);
    }
    traffic::survey(&ports, &config, &mut plan, (&book, &place, &mut untrusted)).await;
    plan.note_untrusted(untrusted);
    let uses = config.record_uses();
    if records.is_none() && !uses.is_empty() {
        plan.warnings.push(records::missing_ledger(&uses));
    }
    if request.action == Action::Start {
        // KMS readiness: the keys of the volumes of the instances to start.
        match cloud.granted_keys() {
            Ok(granted) => ports.check_keys(&mut plan, &granted).await,
            Err(e) => plan.key_survey_failed(&e),
        }
    }
    Ok(Prepared {
        config,
        plan,
        ports: Some(ports),
        book,
    })
}

/// A workload's configuration, its ports (its account and region) and its
/// instances, for commands that act on instances outside a run (override
/// tags). Read-only.
pub async fn workload_instances(
    cloud: &dyn Cloud,
    workload: &str,
    dynamodb_region: &str,
) -> Result<(WorkloadConfig, WorkloadPorts, Vec<crate::instance::Instance>), RunError> {
    let config = load_config(cloud, workload, dynamodb_region).await?;
    let cloud_error = |source| cloud_error_of(workload, source);
    let w = &config.workload;
    let ports = cloud
        .workload_ports(&w.region, w.cross_account.as_ref())
        .await
        .map_err(cloud_error)?;
    let instances = ports.compute.discover(&w.discovery()).await.map_err(cloud_error)?;
    Ok((config, ports, instances))
}

/// A read of `workload`'s that failed before any action.
fn cloud_error_of(workload: &str, source: crate::error::CloudError) -> RunError {
    RunError::Cloud {
        workload: workload.to_string(),
        source,
    }
}

/// `ChangeCalendarNames`: a CLOSED calendar skips the run (the reason);
/// a calendar that cannot be read refuses it (fail closed).
async fn calendar_closed(
    ports: &WorkloadPorts,
    workload: &crate::config::WorkloadSpec,
    action: Action,
) -> Result<Option<String>, RunError> {
    let gated = match action {
        Action::Start => workload.calendar_actions.start,
        Action::Stop => workload.calendar_actions.stop,
    };
    if workload.change_calendars.is_empty() || !gated {
        return Ok(None);
    }
    let names = workload.change_calendars.join(", ");
    let state = ports
        .calendar
        .state(&workload.change_calendars)
        .await
        .map_err(|e| RunError::Precondition {
            workload: workload.spec_name.clone(),
            message: format!(
                "cannot read Change Calendar(s) {names}: {e}; nothing is done while the calendar cannot be read"
            ),
        })?;
    Ok((!state.open).then(|| {
        format!(
            "Change Calendar(s) {names} are CLOSED{}: nothing was done",
            state.next_transition.map(|t| format!(" until {t}")).unwrap_or_default()
        )
    }))
}

/// The original's WorkloadState rule: a Start is skipped when the last
/// recorded action is already a Start, unless the request overrides it.
/// A missing table is said once in the log and the run goes on.
async fn state_skip(cloud: &dyn Cloud, request: &RunRequest) -> Result<Option<String>, crate::error::CloudError> {
    if request.action != Action::Start || request.override_state {
        return Ok(None);
    }
    match cloud
        .config_store(&request.dynamodb_region)
        .load_state(&request.workload)
        .await?
    {
        StateLookup::Found(state) if state.last_action_type == "Start" => Ok(Some(format!(
            "the WorkloadState table says the last action was already a Start (at {}{}); nothing was done. \
             Use -o/--overrideState (CLI) or \"overrideState\": true (event) to start anyway",
            state.last_action_time,
            state.profile.map(|p| format!(", profile {p}")).unwrap_or_default()
        ))),
        StateLookup::NoTable(table) => {
            tracing::warn!(%table, "the WorkloadState table does not exist: the last-action check is skipped");
            Ok(None)
        }
        StateLookup::Found(_) | StateLookup::Missing => Ok(None),
    }
}

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

/// A run that does nothing: its status, the reason, and the notice it
/// publishes, if any (subject and body, and what the notice is called in
/// the log and the summary).
struct Skip {
    status: RunStatus,
    reason: String,
    notice: Option<((String, String), &'static str)>,
}

/// Runs that do nothing: the WorkloadState rule, a CLOSED change calendar,
/// the kill switch. The last two publish a notice, as the original did for
/// the kill switch.
fn skip_of(config: &WorkloadConfig, plan: &Plan) -> Option<Skip> {
    if let Some(reason) = &plan.state_skip {
        Some(Skip {
            status: RunStatus::Skipped,
            reason: reason.clone(),
            notice: None,
        })
    } else if let Some(reason) = &plan.calendar_skip {
        let notice = notify::calendar_message(&config.workload.spec_name, plan.action, reason);
        Some(Skip {
            status: RunStatus::SkippedByCalendar,
            reason: reason.clone(),
            notice: Some((notice, "change calendar notice")),
        })
    } else {
        plan.disabled_reason.as_ref().map(|reason| {
            let notice = notify::kill_switch_message(&config.workload.spec_name, plan.action);
            Skip {
                status: RunStatus::Disabled,
                reason: reason.clone(),
                notice: Some((notice, "kill switch notice")),
            }
        })
    }
}

/// The summary of a run that does nothing, its notice published (not on a
/// dry run); a failed notice is recorded, never raised.
async fn skipped_summary(
    cloud: &dyn Cloud,
    request: &RunRequest,
    config: &WorkloadConfig,
    plan: &Plan,
    skip: Skip,
) -> RunSummary {
    let dry_run = request.dry_run;
    let mut summary = RunSummary::for_plan(plan, dry_run, skip.status, skip.reason);
    if let (Some(topic), Some(((subject, body), what)), false) = (&config.workload.sns_topic, skip.notice, dry_run) {
        if let Err(e) = cloud
            .notifier(request.notify_region())
            .publish(topic, &subject, &body)
            .await
        {
            tracing::warn!(error = %e, "{what} failed");
            summary.notification_errors.push(format!("{what}: {e}"));
        }
    }
    summary
}

/// The report of a dry run: what would be acted on, nothing changed.
fn dry_run_report(plan: Plan) -> RunReport {
    let instances = plan
        .instances()
        .filter(|(t, i)| t.actionable().any(|a| a.id == i.id))
        .count();
    let members = plan
        .members()
        .filter(|d| matches!(d.step, plan::Step::Act | plan::Step::WaitThenAct { .. }))
        .count();
    let message = match members {
        0 => format!(
            "dry run: {instances} instance(s) would be {}; nothing was changed",
            plan.action.done()
        ),
        _ => format!(
            "dry run: {instances} instance(s) and {members} other member(s) would be {}; nothing was changed",
            plan.action.done()
        ),
    };
    let summary = RunSummary::for_plan(&plan, true, RunStatus::DryRun, message);
    RunReport {
        summary,
        plan,
        checkpoint: None,
    }
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
        config,
        plan,
        ports,
        book,
    } = prepared;
    let config = &config;
    if let Some(skip) = skip_of(config, &plan) {
        let summary = skipped_summary(cloud, request, config, &plan, skip).await;
        return Ok(RunReport {
            summary,
            plan,
            checkpoint: None,
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
        remote: ports.remote,
        notifier: cloud.notifier(request.notify_region()),
        recorder: records::Recorder::new(cloud.records(), config, book),
        config,
        action: plan.action,
        budget,
        settings,
        started,
    };
    execution.records_precondition()?;
    execution.preconditions(&plan).await?;
    let (mut summary, checkpoint) = execution.execute(&plan).await;
    summary.workload_state = Some(match unrecorded_start(request, &summary) {
        Some(why) => why,
        None => record_state(cloud, request, &plan).await,
    });
    summary.duration_ms = started.elapsed().as_millis() as u64;
    execution.notify_summary(&mut summary).await;
    Ok(RunReport {
        summary,
        plan,
        checkpoint,
    })
}

/// Why a Start is not recorded in WorkloadState: one that did not start
/// everything (the next Start would otherwise be skipped as a repeat and
/// the instances stay down), or that a continuation is still carrying out.
fn unrecorded_start(request: &RunRequest, summary: &RunSummary) -> Option<String> {
    if request.action != Action::Start || summary.status == RunStatus::Completed {
        return None;
    }
    let failed: usize = summary.tiers.iter().map(|t| t.failed.len()).sum();
    Some(match (failed, summary.status) {
        (1.., _) => format!("Start not recorded: {failed} instance(s) did not start, so the next Start is not skipped"),
        (_, RunStatus::Continuing) => "Start not recorded yet: a continuation carries the run on".to_string(),
        (_, status) => format!("Start not recorded: the run ended {status:?}"),
    })
}

/// Writes the WorkloadState row after a real run, as the original did:
/// the action, the time and, on a Start with a profile, the profile.
/// Returns what happened, for the summary; a failure never fails the run.
async fn record_state(cloud: &dyn Cloud, request: &RunRequest, plan: &Plan) -> String {
    let state = WorkloadState {
        last_action_type: request.action.to_string(),
        last_action_time: crate::clock::show_utc(crate::clock::now()),
        profile: match request.action {
            Action::Start => plan.scaling_profile.clone(),
            Action::Stop => None,
        },
    };
    match cloud
        .config_store(&request.dynamodb_region)
        .save_state(&request.workload, &state)
        .await
    {
        Ok(None) => format!(
            "LastActionType {} at {} recorded",
            state.last_action_type, state.last_action_time
        ),
        Ok(Some(table)) => {
            tracing::warn!(%table, "the WorkloadState table does not exist: the last action is not recorded");
            format!("table {table} does not exist; the last action was not recorded")
        }
        Err(e) => {
            tracing::warn!(error = %e, "writing the WorkloadState row failed");
            format!("not recorded: {e}")
        }
    }
}

/// One run's execution state, shared by the tier tasks.
pub(crate) struct Execution<'a> {
    pub(crate) compute: Arc<dyn Compute>,
    pub(crate) members: crate::ports::MemberPorts,
    pub(crate) load_balancers: Arc<dyn crate::ports::LoadBalancers>,
    pub(crate) alarms: Arc<dyn crate::ports::Alarms>,
    /// The VPC of each instance of the plan (its target groups' VPC).
    pub(crate) vpcs: std::collections::HashMap<String, String>,
    pub(crate) auto_scaling: Arc<dyn crate::ports::AutoScaling>,
    pub(crate) remote: Arc<dyn RemoteCheck>,
    pub(crate) notifier: Arc<dyn Notifier>,
    /// The records only the scheduler writes, read and written.
    pub(crate) recorder: records::Recorder,
    pub(crate) config: &'a WorkloadConfig,
    pub(crate) action: Action,
    pub(crate) budget: &'a Budget,
    pub(crate) settings: &'a Settings,
    pub(crate) started: Instant,
}

/// How a tier ended, as far as the rest of the run is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TierEnd {
    Done,
    Deadline(String),
    Abort(String),
}

/// Where a run stands between tier groups: the summary so far, what a
/// continuation needs, and why the run stopped, once it has.
struct Progress {
    summary: RunSummary,
    checkpoint: Checkpoint,
    stop: Option<TierEnd>,
}

/// The outcomes of a group's tiers when the run stopped before the group:
/// what the plan skipped stays skipped, the rest is not done.
fn not_reached(group: &TierGroup, end: &TierEnd) -> Vec<TierOutcome> {
    let reason = match end {
        TierEnd::Deadline(why) | TierEnd::Abort(why) => format!("not reached: {why}"),
        TierEnd::Done => unreachable!(),
    };
    let mut outcomes = Vec::new();
    for tier in &group.tiers {
        let mut outcome = TierOutcome::new(&tier.tier, tier.sequence, tier.synchronous);
        let members = tier.instances.iter().map(|i| (&i.id, &i.step));
        for (id, step) in members.chain(tier.members.iter().map(|d| (&d.member, &d.step))) {
            let noted = |reason: &String| Noted {
                id: id.clone(),
                reason: reason.clone(),
            };
            match step {
                plan::Step::Skip { reason } | plan::Step::DoneEarlier { reason } => outcome.skipped.push(noted(reason)),
                _ => outcome.not_done.push(noted(&reason)),
            }
        }
        outcomes.push(outcome);
    }
    outcomes
}

impl Execution<'_> {
    fn output_location(&self) -> Option<OutputLocation> {
        let w = &self.config.workload;
        w.ssm_bucket.as_ref().map(|bucket| OutputLocation {
            bucket: bucket.clone(),
            prefix: w.ssm_key_prefix.clone().unwrap_or_default(),
        })
    }

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

    /// Runs the plan's tier groups in order, with the delays between them;
    /// returns the summary and, when time ran out, the checkpoint a
    /// continuation resumes from.
    async fn execute(&self, plan: &Plan) -> (RunSummary, Option<Checkpoint>) {
        let mut progress = Progress {
            summary: RunSummary::for_plan(plan, false, RunStatus::Completed, String::new()),
            checkpoint: Checkpoint::default(),
            stop: None,
        };
        if self.action == Action::Stop {
            // Before the first tier acts: a stopping instance must not page.
            self.mute_alarms(plan, &mut progress.summary).await;
        }
        let last = plan.groups.len().saturating_sub(1);
        for (index, group) in plan.groups.iter().enumerate() {
            if progress.stop.is_none() && self.budget.expired() {
                progress.stop = Some(TierEnd::Deadline(format!(
                    "time ran out before tier sequence {}",
                    group.sequence
                )));
            }
            if let Some(end) = &progress.stop {
                progress.summary.tiers.extend(not_reached(group, end));
                continue;
            }
            let acted = self.run_group(group, &mut progress).await;
            if progress.stop.is_some() {
                continue;
            }
            // The group is complete: a continuation never repeats it.
            progress.checkpoint.done_sequences.push(group.sequence);
            progress.checkpoint.acted.clear();
            progress.checkpoint.acted_at_ms = None;
            if index < last && acted && !group.delay_after.is_zero() {
                self.delay_after(group, &mut progress).await;
            }
        }
        let Progress {
            mut summary,
            checkpoint,
            stop,
        } = progress;
        let checkpoint = matches!(stop, Some(TierEnd::Deadline(_))).then_some(checkpoint);
        if self.action == Action::Start && checkpoint.is_none() {
            // The run ends here, failures included: a failed Start must page.
            self.unmute_alarms(plan, &mut summary).await;
        }
        self.report_untrusted(plan, &mut summary);
        (summary.status, summary.message) = self.conclusion(&summary, stop.as_ref());
        if self.action == Action::Stop && checkpoint.is_none() {
            self.settle_alarms_after_stop(plan, &mut summary).await;
        }
        (summary, checkpoint)
    }

    /// One tier group: its tiers run side by side, their outcomes recorded.
    /// Returns whether the group acted on anything (now or in an earlier
    /// invocation).
    async fn run_group(&self, group: &TierGroup, progress: &mut Progress) -> bool {
        let results = join_all(group.tiers.iter().map(|t| self.run_tier(t))).await;
        // Instances an earlier invocation acted on count: the delay after
        // a group resumed during its gate is still owed.
        let mut acted = group
            .tiers
            .iter()
            .flat_map(|t| &t.instances)
            .any(|i| matches!(i.step, plan::Step::DoneEarlier { .. }));
        for (outcome, end) in results {
            acted |= !outcome.acted.is_empty();
            if let Some(at) = outcome.acted_at_ms {
                let last = progress.checkpoint.acted_at_ms.map_or(at, |was| was.max(at));
                progress.checkpoint.acted_at_ms = Some(last);
            }
            progress.checkpoint.acted.extend(outcome.acted.iter().cloned());
            progress
                .checkpoint
                .bypassed
                .extend(outcome.bypassed.iter().map(|b| (b.id.clone(), b.reason.clone())));
            progress.summary.notification_errors.extend(outcome.notification_errors);
            progress.summary.tiers.push(outcome.outcome);
            if end != TierEnd::Done && progress.stop.is_none() {
                progress.stop = Some(end);
            }
        }
        acted
    }

    /// The InterTierOrchestrationDelay after a complete group: slept
    /// through, or, when it is offloaded or does not fit in the time left,
    /// the run stops and a continuation resumes after it.
    async fn delay_after(&self, group: &TierGroup, progress: &mut Progress) {
        let delay = group.delay_after;
        let offload = self.settings.offload_delays_over.is_some_and(|limit| delay > limit);
        if offload || self.budget.remaining() < delay {
            progress.checkpoint.resume_after_secs = delay.as_secs_f64().ceil() as u64;
            progress.stop = Some(TierEnd::Deadline(format!(
                "the {} InterTierOrchestrationDelay after sequence {} {}",
                crate::config::show_secs(delay),
                group.sequence,
                if offload {
                    "is waited outside the function"
                } else {
                    "does not fit in the time left"
                }
            )));
        } else {
            let from = self.elapsed_ms();
            tokio::time::sleep(delay).await;
            progress.summary.delays.push(DelayWait {
                after_sequence: group.sequence,
                started_at_ms: from,
                duration_ms: self.elapsed_ms().saturating_sub(from),
            });
        }
    }

    /// The run's status and message, from its totals and why it stopped.
    /// A workload with other members counts "members", others "instances".
    fn conclusion(&self, summary: &RunSummary, stop: Option<&TierEnd>) -> (RunStatus, String) {
        let [acted, _, bypassed, failed, not_done] = summary.totals();
        let noun = if self.config.member_kinds().is_empty() {
            "instance(s)"
        } else {
            "member(s)"
        };
        let done = format!("{acted} {noun} {}", self.action.done());
        match stop {
            Some(TierEnd::Deadline(why)) => (
                RunStatus::DeadlineReached,
                format!("{why}; {done}, {not_done} not done"),
            ),
            Some(TierEnd::Abort(why)) => (RunStatus::Aborted, format!("{why}; {done}, {not_done} not done")),
            _ if failed > 0 => (
                RunStatus::CompletedWithFailures,
                format!("{done}, {bypassed} bypassed, {failed} failed"),
            ),
            _ if bypassed > 0 => (RunStatus::Completed, format!("{done}, {bypassed} bypassed")),
            _ => (RunStatus::Completed, done),
        }
    }

    /// Publishes the run summary; a failure is recorded, never raised.
    async fn notify_summary(&self, summary: &mut RunSummary) {
        let Some(topic) = &self.config.workload.sns_topic else {
            return;
        };
        let (subject, body) = notify::summary_message(summary);
        if let Err(e) = self.notifier.publish(topic, &subject, &body).await {
            tracing::warn!(error = %e, "summary notification failed");
            summary.notification_errors.push(format!("summary: {e}"));
        }
    }

    /// Publishes one bypass notification; returns the error text on failure.
    pub(crate) async fn notify_bypass(&self, tier: &str, bypass: &Noted) -> Option<String> {
        let topic = self.config.workload.sns_topic.as_ref()?;
        let (subject, body) = notify::bypass_message(&self.config.workload.spec_name, tier, bypass);
        match self.notifier.publish(topic, &subject, &body).await {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(error = %e, instance = %bypass.id, "bypass notification failed");
                Some(format!("bypass of {}: {e}", bypass.id))
            }
        }
    }

    pub(crate) fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// A tier's outcome plus errors from notifications sent during the tier.
pub(crate) struct TierResult {
    pub(crate) outcome: TierOutcome,
    pub(crate) notification_errors: Vec<String>,
    /// When the tier last acted, this invocation or an earlier one (ms
    /// since the epoch).
    pub(crate) acted_at_ms: Option<u64>,
}

impl std::ops::Deref for TierResult {
    type Target = TierOutcome;
    fn deref(&self) -> &TierOutcome {
        &self.outcome
    }
}
