//! Traffic around a run: the `TargetsHealthy` readiness of a tier's
//! targets, the plan's survey of target groups a drain would empty, and the
//! workload's alarms, muted before a Stop acts and unmuted at the end of a
//! Start. A tier's own drain and re-registration are in `tier/traffic.rs`.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::Execution;
use crate::action::Action;
use crate::config::{LoadBalancing, WorkloadConfig};
use crate::plan::{Plan, Step};
use crate::ports::WorkloadPorts;
use crate::records::{Book, Place, Restore, Untrusted};
use crate::summary::{Noted, RunSummary};
use crate::traffic::{Alarm, AlarmStep, Target, TargetGroup, TargetState};

/// What a `TargetsHealthy` gate keeps between polls: the target groups
/// around the tier's instances (read once), and the targets found in a
/// group no listener uses.
#[derive(Default)]
pub(crate) struct TargetWatch {
    groups: Option<Vec<TargetGroup>>,
    pub(crate) unused: BTreeSet<String>,
    /// Instances whose recorded registrations are not back: never ready.
    pub(crate) unrestored: HashSet<String>,
}

/// Whether a target of a starting instance lets it count as ready.
fn serving(target: &Target) -> bool {
    target.state == TargetState::Healthy || not_in_use(target)
}

/// A target in a group no listener uses: `unused` for good.
fn not_in_use(target: &Target) -> bool {
    target.state == TargetState::Unused && target.reason.as_deref() == Some("Target.NotInUse")
}

impl Execution<'_> {
    /// The VPCs of `ids` (those discovery saw).
    pub(crate) fn vpcs_of<'i>(&self, ids: impl IntoIterator<Item = &'i String>) -> Vec<String> {
        let set: BTreeSet<&String> = ids.into_iter().filter_map(|id| self.vpcs.get(id)).collect();
        set.into_iter().cloned().collect()
    }

    /// `TargetsHealthy`, one poll: the instances of `ids` each of whose
    /// targets, in every `instance` target group of their VPCs, is
    /// `healthy` (or in a group no listener uses: noted in `watch`, not
    /// waited for). An instance in no group is ready. Read errors: nobody
    /// is ready yet, the gate polls again.
    pub(crate) async fn targets_healthy(&self, watch: &mut TargetWatch, ids: &[String]) -> Vec<String> {
        if watch.groups.is_none() {
            match self.load_balancers.target_groups(&self.vpcs_of(ids)).await {
                Ok(groups) => watch.groups = Some(groups),
                Err(e) => {
                    tracing::warn!(error = %e, "gate: reading target groups failed");
                    return Vec::new();
                }
            }
        }
        let mut waiting: HashSet<String> = HashSet::new();
        for group in watch.groups.iter().flatten() {
            let targets = match self.load_balancers.targets(&group.arn).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, group = %group.name, "gate: reading target health failed");
                    return Vec::new();
                }
            };
            for t in targets.iter().filter(|t| ids.contains(&t.instance_id)) {
                if not_in_use(t) {
                    watch
                        .unused
                        .insert(format!("{} in {}:{}", t.instance_id, group.name, t.port));
                }
                if !serving(t) {
                    waiting.insert(t.instance_id.clone());
                }
            }
        }
        ids.iter()
            .filter(|id| !waiting.contains(*id) && !watch.unrestored.contains(*id))
            .cloned()
            .collect()
    }

    /// Stop: records (in the run ledger), then disables the actions of the
    /// plan's alarms to mute, before the first tier acts. A failure is
    /// noted, never fatal: the instances still stop. An alarm whose actions
    /// could not be disabled (IAM allows only `AlarmNamePrefixes`) has its
    /// record removed again: it is reported once, never unmuted later.
    pub(crate) async fn mute_alarms(&self, plan: &Plan, summary: &mut RunSummary) {
        let alarms = plan_alarms(plan, AlarmStep::Mute);
        if alarms.is_empty() {
            return;
        }
        let place = self.recorder.place();
        let restores = alarms
            .iter()
            .map(|a| (place.alarm(&a.name), Restore::MutedAlarm { arn: a.arn.clone() }))
            .collect();
        let reason = match self.recorder.put(restores).await {
            Err(e) => format!("NOT muted: the mute could not be recorded: {e}"),
            Ok(()) => match self.alarms.mute(&alarms).await {
                Ok(()) => "actions disabled while the workload is stopped (recorded in the run ledger)".to_string(),
                Err(e) => {
                    let subjects: Vec<_> = alarms.iter().map(|a| place.alarm(&a.name)).collect();
                    let _ = self.recorder.remove("muted", &subjects).await;
                    format!("FAILED, not retried: {e}")
                }
            },
        };
        note_alarms(summary, &alarms, &reason);
    }

    /// Start, at the end of the run (failures included: a failed morning
    /// Start must still page): enables the actions of every alarm the run
    /// ledger says the scheduler muted for the workload, then drops the
    /// records (a failure there is a warning).
    pub(crate) async fn unmute_alarms(&self, plan: &Plan, summary: &mut RunSummary) {
        let alarms = plan_alarms(plan, AlarmStep::Unmute);
        self.unmute(&alarms, "actions enabled again", summary).await;
    }

    /// After a Stop that is over (no continuation follows): one that
    /// stopped nothing of what it was to stop (every member due kept
    /// running, or it ended before any tier acted) enables again what it
    /// muted and says so; one that stopped part of the workload keeps them
    /// muted, and its summary names the alarms muted while members still
    /// run. (A Stop of a workload already stopped keeps its alarms muted.)
    pub(crate) async fn settle_alarms_after_stop(&self, plan: &Plan, summary: &mut RunSummary) {
        let muted: Vec<Alarm> = plan
            .alarms
            .iter()
            .filter(|a| a.step == AlarmStep::Mute || a.alarm.muted_by_us)
            .map(|a| a.alarm.clone())
            .collect();
        if muted.is_empty() {
            return;
        }
        let [acted, _, bypassed, failed, not_done] = summary.totals();
        let earlier = plan.members().any(|m| matches!(m.step, Step::DoneEarlier { .. }))
            || plan
                .instances()
                .any(|(_, i)| matches!(i.step, Step::DoneEarlier { .. }));
        let kept_running = bypassed + failed + not_done > 0;
        if acted == 0 && !earlier && kept_running {
            let muted = plan_alarms(plan, AlarmStep::Mute);
            summary.alarms.clear();
            let why = "actions enabled again: the Stop stopped nothing";
            self.unmute(&muted, why, summary).await;
        } else if bypassed + failed + not_done > 0 {
            let names: Vec<&str> = muted.iter().map(|a| a.name.as_str()).collect();
            summary
                .message
                .push_str(&format!("; alarms muted while members still run: {}", names.join(", ")));
        }
    }

    /// EnableAlarmActions of `alarms`, then their records removed.
    async fn unmute(&self, alarms: &[Alarm], done: &str, summary: &mut RunSummary) {
        if alarms.is_empty() {
            return;
        }
        let reason = match self.alarms.unmute(alarms).await {
            Err(e) => format!("FAILED: {e}"),
            Ok(()) => {
                let place = self.recorder.place();
                let subjects: Vec<_> = alarms.iter().map(|a| place.alarm(&a.name)).collect();
                match self.recorder.remove("muted", &subjects).await {
                    Ok(()) => done.to_string(),
                    Err(e) => format!("{done}; warning: its record was not removed: {e}"),
                }
            }
        };
        note_alarms(summary, alarms, &reason);
    }
}

/// The plan's alarms whose step is `step`.
fn plan_alarms(plan: &Plan, step: AlarmStep) -> Vec<Alarm> {
    plan.alarms
        .iter()
        .filter(|a| a.step == step)
        .map(|a| a.alarm.clone())
        .collect()
}

/// One summary line per alarm.
fn note_alarms(summary: &mut RunSummary, alarms: &[Alarm], reason: &str) {
    summary.alarms.extend(alarms.iter().map(|a| Noted {
        id: a.name.clone(),
        reason: reason.to_string(),
    }));
}

/// Read-only additions to a plan from the load balancers and alarms: the
/// alarms `AlarmPrefixes` selects, with their steps, and at Stop the
/// target groups a drain would leave with no registered target. A check
/// that cannot look is a plan warning, never a refusal.
pub(crate) async fn survey(
    ports: &WorkloadPorts,
    config: &WorkloadConfig,
    plan: &mut Plan,
    (book, place, untrusted): (&Book, &Place, &mut Vec<Untrusted>),
) {
    let w = &config.workload;
    let starting = plan.action == Action::Start;
    if w.alarms.any() || (starting && book.all().any(|r| r.subject.kind == "Alarm")) {
        let tag = (w.filter_tag_name.clone(), w.filter_tag_value.clone());
        let selected = match w.alarms.any() {
            true => ports.alarms.select(&w.alarms, &tag).await,
            false => Ok(Vec::new()),
        };
        match selected {
            Ok(mut alarms) => {
                untrusted.extend(crate::records::trust_alarms(book, place, &mut alarms, starting));
                plan.add_alarms(alarms)
            }
            Err(e) => plan
                .warnings
                .push(format!("the workload's alarms could not be read: {e}")),
        }
    }
    if plan.action == Action::Stop {
        if let Err(e) = emptied_groups(ports, config, plan).await {
            plan.warnings.push(format!("target groups could not be read: {e}"));
        }
    }
}

/// Warns of each target group whose registered targets all belong to the
/// instances a draining tier stops: it would serve nothing (503s) until
/// they return; and of each group holding such instances that does not
/// carry the workload tag: they are not stopped (tag the group first).
async fn emptied_groups(
    ports: &WorkloadPorts,
    config: &WorkloadConfig,
    plan: &mut Plan,
) -> Result<(), crate::error::CloudError> {
    let mut stopping: HashMap<String, String> = HashMap::new();
    let mut vpcs: BTreeSet<String> = BTreeSet::new();
    for tier in plan.groups.iter().flat_map(|g| &g.tiers) {
        if tier.load_balancing != LoadBalancing::Drain {
            continue;
        }
        for i in tier.actionable() {
            stopping.insert(i.id.clone(), tier.tier.clone());
            vpcs.extend(i.vpc_id.clone());
        }
    }
    if stopping.is_empty() {
        return Ok(());
    }
    let vpcs: Vec<String> = vpcs.into_iter().collect();
    let groups = ports.load_balancers.target_groups(&vpcs).await?;
    let arns: Vec<String> = groups.iter().map(|g| g.arn.clone()).collect();
    let w = &config.workload;
    let tagged: HashSet<String> = match arns.is_empty() {
        true => HashSet::new(),
        false => ports
            .load_balancers
            .tagged(&arns, &w.filter_tag_name, &w.filter_tag_value)
            .await?
            .into_iter()
            .collect(),
    };
    for group in groups {
        let targets = ports.load_balancers.targets(&group.arn).await?;
        let registered: Vec<&Target> = targets.iter().filter(|t| t.state != TargetState::Draining).collect();
        let tiers: BTreeSet<&String> = registered.iter().filter_map(|t| stopping.get(&t.instance_id)).collect();
        if !tagged.contains(&group.arn) {
            if !tiers.is_empty() {
                let ids: BTreeSet<&str> = registered
                    .iter()
                    .filter(|t| stopping.contains_key(&t.instance_id))
                    .map(|t| t.instance_id.as_str())
                    .collect();
                let ids: Vec<&str> = ids.into_iter().collect();
                plan.warnings.push(format!(
                    "target group {} does not carry the workload tag {}={}: {} in it {} not stopped \
                     (tag the group to let the drain take part in it)",
                    group.name,
                    w.filter_tag_name,
                    w.filter_tag_value,
                    ids.join(", "),
                    if ids.len() == 1 { "is" } else { "are" }
                ));
            }
            continue;
        }
        if !registered.is_empty() && registered.iter().all(|t| stopping.contains_key(&t.instance_id)) {
            let tiers: Vec<&str> = tiers.into_iter().map(String::as_str).collect();
            plan.warnings.push(format!(
                "target group {} would be left with no registered target: all its targets are tier {}'s \
                 (its load balancer answers 503 until they are back)",
                group.name,
                tiers.join(", ")
            ));
        }
    }
    Ok(())
}
