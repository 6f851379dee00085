//! A tier's drain and its registrations put back. At Stop with
//! `TierLoadBalancing: Drain`, before the action: the instances'
//! registrations in every `instance` target group of their VPCs are
//! recorded in the run ledger (a record per instance, which only the
//! scheduler writes), deregistered (their own targets only, never
//! another's), and waited out of `draining` (bounded by the groups'
//! deregistration delay and the deadline budget; a continuation goes on);
//! an instance whose stop then fails, in this invocation or an earlier
//! one, is registered again at once. At every Start, whatever the tier's
//! mode: the recorded registrations of its instances confirmed running are
//! put back (a group that refuses the call is retried one target at a
//! time; a target that cannot be put back is a failure of its instance,
//! kept recorded) and the records removed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::super::lane::Lane;
use crate::config::LoadBalancing;
use crate::error::CloudError;
use crate::instance::InstanceState;
use crate::member::MemberKind;
use crate::orchestrator::budget::Pacing;
use crate::orchestrator::records::Recorder;
use crate::orchestrator::targets::Targets;
use crate::orchestrator::{Execution, TierEnd};
use crate::ports::{Compute, LoadBalancers};
use crate::records::{Restore, RECORDS_PER_WRITE};
use crate::summary::{Failure, Noted, PhaseKind};
use crate::traffic::{Registrations, TargetGroup, TargetState};

/// Extra time past the longest deregistration delay before the stop goes
/// on regardless (the load balancer has stopped routing by then).
const DRAIN_MARGIN: Duration = Duration::from_secs(10);
/// ELB's largest deregistration delay.
const MAX_DELAY: Duration = Duration::from_secs(3600);

/// The registrations found for the instances of a drain, per group.
type Found = Vec<(TargetGroup, Vec<(String, u16, bool)>)>;

/// A tier's drain and its registrations put back, with the ports they
/// use: the load balancers (and the instances' VPCs), EC2 states, the
/// run's records, its pacing and the workload tag.
pub(super) struct Drain<'a> {
    pacing: Pacing<'a>,
    load_balancers: &'a dyn LoadBalancers,
    targets: Targets<'a>,
    compute: &'a dyn Compute,
    recorder: &'a Recorder,
    /// `WorkloadFilterTagName`, `WorkloadFilterTagValue`.
    workload_tag: (&'a str, &'a str),
    /// When the invocation began (the timeline's origin).
    started: tokio::time::Instant,
}

impl Execution<'_> {
    /// The drain of this run.
    pub(super) fn drain(&self) -> Drain<'_> {
        let w = &self.config.workload;
        Drain {
            pacing: self.pacing(),
            load_balancers: self.load_balancers.as_ref(),
            targets: self.targets(),
            compute: self.compute.as_ref(),
            recorder: &self.recorder,
            workload_tag: (&w.filter_tag_name, &w.filter_tag_value),
            started: self.started,
        }
    }
}

impl Drain<'_> {
    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Stop with `Drain`: record, deregister and wait out the tier's
    /// targets before its instances stop. An instance whose registrations
    /// cannot be read or recorded is not stopped (it keeps serving).
    pub(super) async fn drain_tier(&self, run: &mut Lane<'_>, drained: &mut BTreeMap<String, Registrations>) {
        if run.tier.load_balancing != LoadBalancing::Drain || run.end != TierEnd::Done || run.todo.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        let ids: Vec<String> = run.todo_instances().map(|i| i.id.clone()).collect();
        let (found, foreign) = match self.find_registrations(&ids).await {
            Ok(found) => found,
            Err(e) => return self.keep_serving(run, &ids, &format!("its target groups could not be read: {e}")),
        };
        let (key, value) = self.workload_tag();
        for (id, group) in &foreign {
            let why = format!("in target group {group}, which does not carry the workload tag {key}={value}");
            self.keep_serving(run, std::slice::from_ref(id), &why);
        }
        let found: Found = found
            .into_iter()
            .map(|(g, t)| {
                (
                    g,
                    t.into_iter().filter(|(id, _, _)| !foreign.contains_key(id)).collect(),
                )
            })
            .collect();
        let recorded = self.record_registrations(run, &found, drained).await;
        let mut draining: Vec<(TargetGroup, Vec<(String, u16)>)> = Vec::new();
        let mut refused: Vec<String> = Vec::new();
        for (group, targets) in &found {
            let ours: Vec<(String, u16)> = targets
                .iter()
                .filter(|(id, _, _)| recorded.contains(id) && !refused.contains(id))
                .map(|(id, port, _)| (id.clone(), *port))
                .collect();
            let fresh: Vec<(String, u16)> = targets
                .iter()
                .filter(|(id, _, already)| recorded.contains(id) && !refused.contains(id) && !already)
                .map(|(id, port, _)| (id.clone(), *port))
                .collect();
            if !fresh.is_empty() {
                if let Err(e) = self.load_balancers.deregister(&group.arn, &fresh).await {
                    let ids: Vec<String> = fresh.iter().map(|(id, _)| id.clone()).collect();
                    self.keep_serving(run, &ids, &format!("deregistering it from {} failed: {e}", group.name));
                    refused.extend(ids);
                    continue;
                }
            }
            draining.push((group.clone(), ours));
        }
        // An instance that keeps serving goes back into the groups it left.
        let back: BTreeMap<String, Registrations> = refused
            .iter()
            .filter_map(|id| Some((id.clone(), drained.remove(id)?)))
            .collect();
        if !back.is_empty() {
            self.put_back(run, back, "registered again: its drain failed", &mut HashSet::new())
                .await;
        }
        self.await_drained(run, &draining).await;
        run.out.phase(PhaseKind::Drain, from, self.elapsed_ms());
    }

    /// The targets of `ids` in the `instance` target groups of their VPCs
    /// that carry the workload tag: (instance, port, already draining) per
    /// group; and the instances registered in a group without it (by
    /// group name): those are not stopped, so nobody else's requests are
    /// cut. Unregistered entries (`Target.NotRegistered`) are not
    /// registrations.
    async fn find_registrations(&self, ids: &[String]) -> Result<(Found, BTreeMap<String, String>), CloudError> {
        let wanted: HashSet<&String> = ids.iter().collect();
        let mut found = Vec::new();
        let mut foreign = BTreeMap::new();
        let groups = self.load_balancers.target_groups(&self.targets.vpcs_of(ids)).await?;
        let arns: Vec<String> = groups.iter().map(|g| g.arn.clone()).collect();
        let (key, value) = self.workload_tag();
        let tagged: HashSet<String> = match arns.is_empty() {
            true => HashSet::new(),
            false => self
                .load_balancers
                .tagged(&arns, key, value)
                .await?
                .into_iter()
                .collect(),
        };
        for group in groups {
            let targets: Vec<(String, u16, bool)> = self
                .load_balancers
                .targets(&group.arn)
                .await?
                .into_iter()
                .filter(|t| wanted.contains(&t.instance_id))
                .filter(|t| t.reason.as_deref() != Some("Target.NotRegistered"))
                .map(|t| (t.instance_id, t.port, t.state == TargetState::Draining))
                .collect();
            if targets.is_empty() {
                continue;
            }
            if tagged.contains(&group.arn) {
                found.push((group, targets));
            } else {
                foreign.extend(targets.into_iter().map(|(id, _, _)| (id, group.name.clone())));
            }
        }
        Ok((found, foreign))
    }

    /// The workload tag (`WorkloadFilterTagName`, `WorkloadFilterTagValue`).
    fn workload_tag(&self) -> (&str, &str) {
        self.workload_tag
    }

    /// Records each instance's registrations (with what an earlier drain
    /// recorded) in the run ledger; returns the instances recorded (those
    /// that had none to record included). The others are not stopped.
    async fn record_registrations(
        &self,
        run: &mut Lane<'_>,
        found: &Found,
        drained: &mut BTreeMap<String, Registrations>,
    ) -> HashSet<String> {
        let earlier: HashMap<&str, &Registrations> = run
            .todo_instances()
            .map(|i| (i.id.as_str(), &i.registrations))
            .collect();
        let mut per_instance: BTreeMap<String, Registrations> = BTreeMap::new();
        for (group, targets) in found {
            for (id, port, _) in targets {
                per_instance
                    .entry(id.clone())
                    .or_insert_with(|| earlier.get(id.as_str()).map(|r| (*r).clone()).unwrap_or_default())
                    .add(group.key(), *port);
            }
        }
        let mut recorded: HashSet<String> = run.todo_instances().map(|i| i.id.clone()).collect();
        let entries: Vec<(String, Registrations)> = per_instance.into_iter().collect();
        let place = self.recorder.place();
        for chunk in entries.chunks(RECORDS_PER_WRITE) {
            let restores = chunk
                .iter()
                .map(|(id, r)| (place.member(MemberKind::Ec2, id), Restore::Registrations(r.clone())))
                .collect();
            if let Err(e) = self.recorder.put(restores).await {
                let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
                recorded.retain(|id| !ids.contains(id));
                self.keep_serving(run, &ids, &format!("its registrations could not be recorded: {e}"));
                continue;
            }
            for (id, registrations) in chunk {
                run.out.traffic.push(Noted {
                    id: id.clone(),
                    reason: format!("deregistered from {registrations} (recorded in the run ledger)"),
                });
                drained.insert(id.clone(), registrations.clone());
            }
        }
        recorded
    }

    /// Polls the drained groups until none of the tier's targets is still
    /// `draining`, for at most the longest deregistration delay (plus a
    /// margin), cut to the budget: a cut ends the tier (not done), and its
    /// continuation drains on.
    async fn await_drained(&self, run: &mut Lane<'_>, groups: &[(TargetGroup, Vec<(String, u16)>)]) {
        if groups.iter().all(|(_, t)| t.is_empty()) {
            return;
        }
        // The longest deregistration delay of the groups drained: a delay
        // that does not read counts as the most ELB allows (an hour, still
        // cut to the budget).
        let mut longest = Duration::ZERO;
        for (group, _) in groups.iter().filter(|(_, t)| !t.is_empty()) {
            let delay = self.load_balancers.deregistration_delay(&group.arn).await;
            longest = longest.max(delay.unwrap_or(MAX_DELAY));
        }
        let (limit, cut) = self.pacing.budget.cap(longest + DRAIN_MARGIN);
        let mut pace = self.pacing.pacer(limit);
        let mut still: HashSet<String> = HashSet::new();
        loop {
            still.clear();
            for (group, ours) in groups {
                match self.load_balancers.targets(&group.arn).await {
                    Ok(targets) => still.extend(
                        targets
                            .into_iter()
                            .filter(|t| t.state == TargetState::Draining)
                            .filter(|t| ours.iter().any(|(id, port)| *id == t.instance_id && *port == t.port))
                            .map(|t| t.instance_id),
                    ),
                    Err(e) => tracing::warn!(error = %e, group = %group.name, "reading draining targets failed"),
                }
            }
            if still.is_empty() || !pace.wait().await {
                break;
            }
        }
        if cut && !still.is_empty() {
            let ids: Vec<String> = still.into_iter().collect();
            run.todo.retain(|i| !ids.contains(&i.name));
            run.out.not_done.extend(ids.iter().map(|id| Noted {
                id: id.clone(),
                reason: "still draining from its target groups when time ran out".into(),
            }));
            run.end = TierEnd::Deadline(format!("time ran out while tier {} drained its targets", run.tier.tier));
        }
    }

    /// The instances are not stopped: they keep serving, with `why`.
    fn keep_serving(&self, run: &mut Lane<'_>, ids: &[String], why: &str) {
        run.todo.retain(|i| !ids.contains(&i.name));
        run.out.failed.extend(ids.iter().map(|id| Failure {
            id: id.clone(),
            reason: format!("not stopped: {why}"),
            code: None,
        }));
    }

    /// After the Stop: an instance deregistered by a drain (of this
    /// invocation or an earlier one: its ledger record says so) whose stop
    /// failed is registered again at once, so a failed stop does not leave
    /// a running instance out of its target groups.
    pub(super) async fn reregister_failed_stops(
        &self,
        run: &mut Lane<'_>,
        drained: &BTreeMap<String, Registrations>,
        unrestored: &mut HashSet<String>,
    ) {
        let place = self.recorder.place().clone();
        let records: BTreeMap<String, Registrations> = run
            .out
            .failed
            .iter()
            .filter(|f| !f.reason.starts_with("not stopped:"))
            .filter_map(|f| {
                let recorded = || match self
                    .recorder
                    .get(&place.member(MemberKind::Ec2, &f.id), "registrations")
                {
                    Some(record) => match record.restore {
                        Restore::Registrations(r) => Some(r),
                        _ => None,
                    },
                    None => None,
                };
                Some((f.id.clone(), drained.get(&f.id).cloned().or_else(recorded)?))
            })
            .collect();
        if !records.is_empty() {
            self.put_back(run, records, "registered again: its stop failed", unrestored)
                .await;
        }
    }

    /// Start, whatever the tier's mode: the recorded registrations of the
    /// tier's instances are put back (those confirmed running), then their
    /// records removed.
    pub(super) async fn reregister_tier(&self, run: &mut Lane<'_>, unrestored: &mut HashSet<String>) {
        let failed: HashSet<&str> = run
            .out
            .failed
            .iter()
            .map(|f| f.id.as_str())
            .chain(run.out.not_done.iter().map(|n| n.id.as_str()))
            .collect();
        let records: BTreeMap<String, Registrations> = run
            .tier
            .instances
            .iter()
            .filter(|i| !i.registrations.is_empty() && !failed.contains(i.id.as_str()))
            .map(|i| (i.id.clone(), i.registrations.clone()))
            .collect();
        if records.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        self.put_back(run, records, "registered again", unrestored).await;
        run.out.phase(PhaseKind::Register, from, self.elapsed_ms());
    }

    /// RegisterTargets of the recorded registrations of the instances that
    /// run now (one that does not stays out, its record kept), per group; a
    /// group that refuses the call is tried one target at a time, and a
    /// target that still cannot go back is a failure of its instance (kept
    /// recorded; the `TargetsHealthy` gate counts it not ready). Then the
    /// records of what is back are removed (a failure there is a warning).
    async fn put_back(
        &self,
        run: &mut Lane<'_>,
        records: BTreeMap<String, Registrations>,
        done: &str,
        unrestored: &mut HashSet<String>,
    ) {
        let ids: Vec<String> = records.keys().cloned().collect();
        let running = match self.running(&ids).await {
            Ok(r) => r,
            Err(e) => return not_put_back(run, &records, &format!("its state could not be read: {e}"), unrestored),
        };
        let groups = match self.load_balancers.target_groups(&self.targets.vpcs_of(&ids)).await {
            Ok(g) => g,
            Err(e) => {
                return not_put_back(
                    run,
                    &records,
                    &format!("its target groups could not be read: {e}"),
                    unrestored,
                )
            }
        };
        let mut by_group: BTreeMap<&str, Vec<(String, u16)>> = BTreeMap::new();
        for (id, r) in records.iter().filter(|(id, _)| running.contains(*id)) {
            for (key, ports) in &r.0 {
                by_group
                    .entry(key)
                    .or_default()
                    .extend(ports.iter().map(|p| (id.clone(), *p)));
            }
        }
        let mut refused: HashMap<String, String> = HashMap::new();
        for (key, targets) in by_group {
            let Some(group) = groups.iter().find(|g| g.key() == key) else {
                continue;
            };
            refused.extend(self.register_all(group, &targets).await);
        }
        let mut back = Vec::new();
        for (id, r) in &records {
            if !running.contains(id) {
                run.out.traffic.push(Noted {
                    id: id.clone(),
                    reason: format!("not running: not registered in {r}; kept recorded for the next Start"),
                });
            } else if let Some(why) = refused.get(id) {
                unrestored.insert(id.clone());
                run.out.failed.push(Failure {
                    id: id.clone(),
                    reason: format!("NOT registered again in {r} (kept recorded for the next Start): {why}"),
                    code: Some("RegisterTargets".into()),
                });
            } else {
                back.push(self.recorder.place().member(MemberKind::Ec2, id));
                run.out.traffic.push(Noted {
                    id: id.clone(),
                    reason: back_reason(done, r, &groups),
                });
            }
        }
        if let Err(e) = self.recorder.remove("registrations", &back).await {
            tracing::warn!(error = %e, "removing registration records failed; the next Start registers again");
            run.notification_errors.push(format!(
                "warning: registrations are back, but their records were not removed: {e}"
            ));
        }
    }

    /// RegisterTargets of `targets` in `group`; when the group refuses the
    /// call, one target at a time. The instances refused, with why.
    async fn register_all(&self, group: &TargetGroup, targets: &[(String, u16)]) -> HashMap<String, String> {
        let mut refused = HashMap::new();
        if self.load_balancers.register(&group.arn, targets).await.is_ok() {
            return refused;
        }
        for target in targets {
            if let Err(e) = self
                .load_balancers
                .register(&group.arn, std::slice::from_ref(target))
                .await
            {
                refused.insert(target.0.clone(), format!("{}: {e}", group.name));
            }
        }
        refused
    }

    /// The instances of `ids` that EC2 says are running now.
    async fn running(&self, ids: &[String]) -> Result<HashSet<String>, CloudError> {
        let mut running = HashSet::new();
        for chunk in ids.chunks(crate::orchestrator::STATUS_BATCH) {
            let states = self.compute.states(chunk).await?;
            running.extend(
                states
                    .into_iter()
                    .filter(|s| s.state == InstanceState::Running)
                    .map(|s| s.id),
            );
        }
        Ok(running)
    }
}

/// None of `records` could be put back: each is a failure, kept recorded.
fn not_put_back(
    run: &mut Lane<'_>,
    records: &BTreeMap<String, Registrations>,
    why: &str,
    unrestored: &mut HashSet<String>,
) {
    for (id, r) in records {
        unrestored.insert(id.clone());
        run.out.failed.push(Failure {
            id: id.clone(),
            reason: format!("NOT registered again in {r} (kept recorded for the next Start): {why}"),
            code: None,
        });
    }
}

/// What a registration put back says, naming groups gone since.
fn back_reason(done: &str, r: &Registrations, groups: &[TargetGroup]) -> String {
    let gone: Vec<&str> =
        r.0.keys()
            .filter(|k| !groups.iter().any(|g| g.key() == k.as_str()))
            .map(String::as_str)
            .collect();
    if gone.is_empty() {
        format!("{done} in {r}")
    } else {
        format!("{done} in {r}; gone since, record dropped: {}", gone.join(", "))
    }
}
