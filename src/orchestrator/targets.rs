//! Load balancer targets around a run: the `TargetsHealthy` readiness of
//! a tier's instances (their targets read, poll by poll, by the gate) and
//! the plan's survey of the target groups a drain would empty or may not
//! touch. A tier's own drain and re-registration are in `tier/drain.rs`.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::action::Action;
use crate::config::{LoadBalancing, WorkloadConfig};
use crate::plan::Plan;
use crate::ports::{LoadBalancers, WorkloadPorts};
use crate::traffic::{Target, TargetGroup, TargetState};

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

/// The load balancer targets of a run's instances: the target groups of
/// their VPCs (discovery saw each instance's VPC).
#[derive(Clone, Copy)]
pub(crate) struct Targets<'a> {
    pub(crate) load_balancers: &'a dyn LoadBalancers,
    /// The VPC of each instance of the plan.
    pub(crate) vpcs: &'a HashMap<String, String>,
}

impl Targets<'_> {
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
    pub(crate) async fn healthy(&self, watch: &mut TargetWatch, ids: &[String]) -> Vec<String> {
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
}

/// Read-only additions to a plan from the load balancers: at Stop, the
/// target groups a drain would leave with no registered target, and those
/// holding instances to drain that do not carry the workload tag. A
/// survey that cannot look is a plan warning, never a refusal.
pub(crate) async fn survey(ports: &WorkloadPorts, config: &WorkloadConfig, plan: &mut Plan) {
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
