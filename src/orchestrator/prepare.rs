//! Before any action: loading the configuration, the WorkloadState rule and
//! change calendars that skip a run, discovering the workload's instances
//! and other members, and building the plan. Read-only calls only.

use std::sync::Arc;

use crate::action::Action;
use crate::config::{ItemNaming, WorkloadConfig};
use crate::error::{CloudError, RunError};
use crate::instance::Discovery;
use crate::member::{Member, MemberKind};
use crate::plan::{self, Plan};
use crate::ports::{Cloud, MemberPorts, MemberService, WorkloadPorts};

use super::window_run::window_skip;
use super::workload_state::state_skip;
use super::{alarms, key_survey, records, targets, RunRequest};

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
    let profile = request.scaling_profile.as_deref();
    let cloud_error = |source| RunError::Cloud {
        workload: request.workload.clone(),
        source,
    };
    if let Some(reason) = skip_reason(cloud, request, &config).await.map_err(cloud_error)? {
        let mut plan = plan::build(&config, &[], request.action, profile, now);
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
        let mut plan = plan::build(&config, &[], request.action, profile, now);
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
    let mut plan = plan::build(&config, &instances, request.action, profile, now);
    let kinds = config.member_kinds();
    if !kinds.is_empty() {
        let mut members = discover_members(&ports.members, &w.discovery(), &kinds)
            .await
            .map_err(cloud_error)?;
        untrusted.extend(crate::records::trust_members(&book, &place, &mut members));
        plan.add_members(&config, &members, now);
    }
    alarms::survey(&ports, &config, &mut plan, (&book, &place, &mut untrusted)).await;
    targets::survey(&ports, &config, &mut plan).await;
    plan.note_untrusted(untrusted);
    let uses = config.record_uses();
    if records.is_none() && !uses.is_empty() {
        plan.warnings.push(records::missing_ledger(&uses));
    }
    if let Some(restop) = &request.restop {
        if let Err(why) = plan.keep_only(&restop.member()) {
            plan.state_skip = Some(why.to_string());
        }
    }
    super::window_run::await_agents(request, &config, &mut plan);
    if request.action == Action::Start {
        // KMS readiness: the keys of the volumes of the instances to start.
        key_survey::survey(cloud, ports.keys.as_ref(), &mut plan).await;
    }
    Ok(Prepared {
        config,
        plan,
        ports: Some(ports),
        book,
    })
}

/// Why `request` does nothing now: a maintenance window's run by its own
/// rule, any other by the WorkloadState rule; `None`: it runs.
async fn skip_reason(
    cloud: &dyn Cloud,
    request: &RunRequest,
    config: &WorkloadConfig,
) -> Result<Option<String>, CloudError> {
    match &request.maintenance_window {
        Some(window) => window_skip(cloud, request, config, window).await,
        None => state_skip(cloud, request).await,
    }
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

/// Every member of `kinds` of the workload, asking each member service
/// once for its kinds (one service may serve several kinds).
pub async fn discover_members(
    members: &MemberPorts,
    query: &Discovery,
    kinds: &[MemberKind],
) -> Result<Vec<Member>, CloudError> {
    let mut found = Vec::new();
    let mut asked: Vec<&Arc<dyn MemberService>> = Vec::new();
    for service in members.services() {
        if asked.iter().any(|a| Arc::ptr_eq(a, service)) {
            continue;
        }
        asked.push(service);
        let mine: Vec<MemberKind> = kinds
            .iter()
            .copied()
            .filter(|k| members.of(*k).is_some_and(|s| Arc::ptr_eq(s, service)))
            .collect();
        if !mine.is_empty() {
            found.extend(service.discover(query, &mine).await?);
        }
    }
    Ok(found)
}

/// A read of `workload`'s that failed before any action.
pub(super) fn cloud_error_of(workload: &str, source: crate::error::CloudError) -> RunError {
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
