//! A tier's load balancer targets (`TierLoadBalancing: Drain`). At Stop,
//! before the action: the instances' registrations in every `instance`
//! target group of their VPCs are recorded on the instances (one tag per
//! group, the ports as its value), deregistered (their own targets only,
//! never another's: IAM cannot tell them apart), and waited out of
//! `draining` (bounded by the groups' deregistration delay and the
//! deadline budget; a continuation goes on); an instance whose stop then
//! fails is registered again at once. At every Start, whatever the tier's
//! mode: the recorded registrations of its running instances are put back
//! and the records removed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::{TierEnd, TierRun};
use crate::config::LoadBalancing;
use crate::error::CloudError;
use crate::orchestrator::{Execution, EC2_BATCH};
use crate::summary::{Failure, Noted, PhaseKind};
use crate::traffic::{Registrations, TargetGroup, TargetState};

/// Extra time past the longest deregistration delay before the stop goes
/// on regardless (the load balancer has stopped routing by then).
const DRAIN_MARGIN: Duration = Duration::from_secs(10);
/// ELB's largest deregistration delay.
const MAX_DELAY: Duration = Duration::from_secs(3600);

/// The registrations found for the instances of a drain, per group.
type Found = Vec<(TargetGroup, Vec<(String, u16, bool)>)>;

impl Execution<'_> {
    /// Stop with `Drain`: record, deregister and wait out the tier's
    /// targets before its instances stop. An instance whose registrations
    /// cannot be read or recorded is not stopped (it keeps serving).
    pub(super) async fn drain_tier(&self, run: &mut TierRun<'_>) {
        if run.tier.load_balancing != LoadBalancing::Drain || run.end != TierEnd::Done || run.todo.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        let ids: Vec<String> = run.todo.iter().map(|i| i.id.clone()).collect();
        let found = match self.find_registrations(&ids).await {
            Ok(found) => found,
            Err(e) => return self.keep_serving(run, &ids, &format!("its target groups could not be read: {e}")),
        };
        let recorded = self.record_registrations(run, &found).await;
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
            .filter_map(|id| Some((id.clone(), run.drained.remove(id)?)))
            .collect();
        if !back.is_empty() {
            self.put_back(run, back, "registered again: its drain failed").await;
        }
        self.await_drained(run, &draining).await;
        run.out.phase(PhaseKind::Drain, from, self.elapsed_ms());
    }

    /// The targets of `ids` in the `instance` target groups of their VPCs:
    /// (instance, port, already draining) per group. Unregistered entries
    /// (`Target.NotRegistered`) are not registrations.
    async fn find_registrations(&self, ids: &[String]) -> Result<Found, CloudError> {
        let wanted: HashSet<&String> = ids.iter().collect();
        let mut found = Vec::new();
        for group in self.load_balancers.target_groups(&self.vpcs_of(ids)).await? {
            let targets: Vec<(String, u16, bool)> = self
                .load_balancers
                .targets(&group.arn)
                .await?
                .into_iter()
                .filter(|t| wanted.contains(&t.instance_id))
                .filter(|t| t.reason.as_deref() != Some("Target.NotRegistered"))
                .map(|t| (t.instance_id, t.port, t.state == TargetState::Draining))
                .collect();
            if !targets.is_empty() {
                found.push((group, targets));
            }
        }
        Ok(found)
    }

    /// Records each instance's registrations (with what an earlier drain
    /// recorded) as its tags; returns the instances recorded (those that
    /// had none to record included). The others are not stopped.
    async fn record_registrations(&self, run: &mut TierRun<'_>, found: &Found) -> HashSet<String> {
        let earlier: HashMap<&str, &Registrations> =
            run.todo.iter().map(|i| (i.id.as_str(), &i.registrations)).collect();
        let mut per_instance: BTreeMap<String, Registrations> = BTreeMap::new();
        for (group, targets) in found {
            for (id, port, _) in targets {
                per_instance
                    .entry(id.clone())
                    .or_insert_with(|| earlier.get(id.as_str()).map(|r| (*r).clone()).unwrap_or_default())
                    .add(group.key(), *port);
            }
        }
        let mut recorded: HashSet<String> = run.todo.iter().map(|i| i.id.clone()).collect();
        // Instances with the same registrations share one CreateTags call.
        let mut by_record: BTreeMap<Registrations, Vec<String>> = BTreeMap::new();
        for (id, registrations) in per_instance {
            by_record.entry(registrations).or_default().push(id);
        }
        for (registrations, ids) in &by_record {
            for chunk in ids.chunks(EC2_BATCH) {
                if let Err(e) = self.compute.tag(chunk, &registrations.tags()).await {
                    recorded.retain(|id| !chunk.contains(id));
                    self.keep_serving(run, chunk, &format!("its registrations could not be recorded: {e}"));
                    continue;
                }
                for id in chunk {
                    run.out.traffic.push(Noted {
                        id: id.clone(),
                        reason: format!("deregistered from {registrations} (recorded on the instance)"),
                    });
                    run.drained.insert(id.clone(), registrations.clone());
                }
            }
        }
        recorded
    }

    /// Polls the drained groups until none of the tier's targets is still
    /// `draining`, for at most the longest deregistration delay (plus a
    /// margin), cut to the budget: a cut ends the tier (not done), and its
    /// continuation drains on.
    async fn await_drained(&self, run: &mut TierRun<'_>, groups: &[(TargetGroup, Vec<(String, u16)>)]) {
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
        let (limit, cut) = self.budget.cap(longest + DRAIN_MARGIN);
        let mut pace = self.pacer(limit);
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
            run.todo.retain(|i| !ids.contains(&i.id));
            run.out.not_done.extend(ids.iter().map(|id| Noted {
                id: id.clone(),
                reason: "still draining from its target groups when time ran out".into(),
            }));
            run.end = TierEnd::Deadline(format!("time ran out while tier {} drained its targets", run.tier.tier));
        }
    }

    /// The instances are not stopped: they keep serving, with `why`.
    fn keep_serving(&self, run: &mut TierRun<'_>, ids: &[String], why: &str) {
        run.todo.retain(|i| !ids.contains(&i.id));
        run.out.failed.extend(ids.iter().map(|id| Failure {
            id: id.clone(),
            reason: format!("not stopped: {why}"),
            code: None,
        }));
    }

    /// After the Stop: an instance the drain deregistered whose stop failed
    /// is registered again at once, so a failed stop does not leave a
    /// running instance out of its target groups.
    pub(super) async fn reregister_failed_stops(&self, run: &mut TierRun<'_>) {
        if run.tier.load_balancing != LoadBalancing::Drain {
            return;
        }
        let records: BTreeMap<String, Registrations> = run
            .out
            .failed
            .iter()
            .filter(|f| !f.reason.starts_with("not stopped:"))
            .filter_map(|f| Some((f.id.clone(), run.drained.get(&f.id)?.clone())))
            .collect();
        if !records.is_empty() {
            self.put_back(run, records, "registered again: its stop failed").await;
        }
    }

    /// Start, whatever the tier's mode: the recorded registrations of the
    /// tier's instances that run now are put back, then their records
    /// removed.
    pub(super) async fn reregister_tier(&self, run: &mut TierRun<'_>) {
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
        self.put_back(run, records, "registered again").await;
        run.out.phase(PhaseKind::Register, from, self.elapsed_ms());
    }

    /// RegisterTargets of the recorded registrations (the plan's, or this
    /// run's drain's), per group; then the records removed. A group that is
    /// gone is noted and its record dropped.
    async fn put_back(&self, run: &mut TierRun<'_>, records: BTreeMap<String, Registrations>, done: &str) {
        let ids: Vec<String> = records.keys().cloned().collect();
        let groups = match self.load_balancers.target_groups(&self.vpcs_of(&ids)).await {
            Ok(g) => g,
            Err(e) => {
                return run.out.traffic.extend(ids.iter().map(|id| Noted {
                    id: id.clone(),
                    reason: format!("NOT registered again (kept recorded for the next Start): {e}"),
                }))
            }
        };
        let mut by_group: BTreeMap<&str, Vec<(String, u16)>> = BTreeMap::new();
        for (id, r) in &records {
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
            if let Err(e) = self.load_balancers.register(&group.arn, &targets).await {
                refused.extend(
                    targets
                        .iter()
                        .map(|(id, _)| (id.clone(), format!("{}: {e}", group.name))),
                );
            }
        }
        // The records of what is back go, one DeleteTags per key set.
        let mut untag: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        for (id, r) in &records {
            let reason = if let Some(why) = refused.get(id) {
                format!("NOT registered again in {r} (kept recorded for the next Start): {why}")
            } else {
                untag.entry(r.tag_keys()).or_default().push(id.clone());
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
            };
            run.out.traffic.push(Noted { id: id.clone(), reason });
        }
        for (keys, ids) in &untag {
            for chunk in ids.chunks(EC2_BATCH) {
                if let Err(e) = self.compute.untag(chunk, keys).await {
                    tracing::warn!(error = %e, "removing registration records failed; the next Start registers again");
                }
            }
        }
    }
}
