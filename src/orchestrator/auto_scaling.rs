//! Auto Scaling group members (`TierAutoScalingGroups: "Suspend"`): before
//! the members of a group are stopped, the group's processes that would
//! replace or relaunch them are suspended; after they are started (and
//! pass the tier's gate), the processes the scheduler suspended are resumed.
//! What the scheduler suspended is recorded in the run ledger (records
//! only the scheduler writes) before it suspends, and removed once resumed,
//! so a crashed run's suspension is resumed by the next Start, and
//! processes someone else suspended are left alone. The group's
//! `ec2-tier-scheduler:suspended` tag (an earlier version's record, or
//! anyone's) is only a claim: never acted on, reported when it differs.

use std::collections::{BTreeMap, BTreeSet};

use super::Execution;
use crate::member::MemberKind;
use crate::plan::TierPlan;
use crate::ports::GroupProcesses;
use crate::records::Restore;
use crate::summary::GroupChange;

/// The processes that would replace, terminate or relaunch a stopped member.
pub const PROCESSES: [&str; 5] = crate::member::SUSPENDABLE_PROCESSES;

/// The tier's members by group.
pub(crate) fn members(tier: &TierPlan) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in &tier.instances {
        if let Some(g) = &i.auto_scaling_group {
            groups.entry(g.clone()).or_default().push(i.id.clone());
        }
    }
    groups
}

fn change(group: &str, error: Option<String>) -> GroupChange {
    GroupChange {
        group: group.to_string(),
        suspended: Vec::new(),
        resumed: Vec::new(),
        left_alone: Vec::new(),
        error,
    }
}

fn unread(groups: &[String], e: &crate::error::CloudError) -> Vec<GroupChange> {
    groups
        .iter()
        .map(|g| change(g, Some(format!("could not read the group's processes: {e}"))))
        .collect()
}

/// Two notes in one line (either may be absent).
fn join(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

impl Execution<'_> {
    /// Suspends the groups' processes before their members stop. Returns the
    /// changes and the groups whose suspension failed (their members must
    /// not be stopped).
    pub(crate) async fn suspend_groups(&self, groups: &[String]) -> (Vec<GroupChange>, BTreeSet<String>) {
        let found = match self.auto_scaling.processes(groups).await {
            Ok(found) => found,
            Err(e) => return (unread(groups, &e), groups.iter().cloned().collect()),
        };
        let mut changes = Vec::new();
        let mut failed = BTreeSet::new();
        for g in groups {
            let current = found.iter().find(|p| &p.group == g).cloned().unwrap_or_default();
            let c = self.suspend_group(g, &current).await;
            if c.error.is_some() {
                failed.insert(g.clone());
            }
            changes.push(c);
        }
        (changes, failed)
    }

    /// One group at Stop: record what the scheduler holds suspended (the
    /// ledger first), then suspend what is not suspended yet.
    async fn suspend_group(&self, g: &str, current: &GroupProcesses) -> GroupChange {
        let (ours, _) = self.recorder.suspended(g, &current.claimed);
        // Suspended by someone else (not in the ledger's record): left as found.
        let left_alone: Vec<String> = current
            .suspended
            .iter()
            .filter(|p| !ours.contains(p))
            .cloned()
            .collect();
        let to_suspend: Vec<String> = PROCESSES
            .iter()
            .map(|p| p.to_string())
            .filter(|p| !current.suspended.contains(p))
            .collect();
        let now_ours: Vec<String> = PROCESSES
            .iter()
            .map(|p| p.to_string())
            .filter(|p| !left_alone.contains(p))
            .collect();
        let mut error = None;
        if !now_ours.is_empty() && now_ours != ours {
            let subject = self.recorder.place().member(MemberKind::Asg, g);
            let record = vec![(subject, Restore::SuspendedProcesses(now_ours))];
            if let Err(e) = self.recorder.put(record).await {
                error = Some(format!(
                    "not suspended: what it would suspend could not be recorded: {e}"
                ));
            }
        }
        if error.is_none() && !to_suspend.is_empty() {
            error = self
                .auto_scaling
                .suspend(g, &to_suspend)
                .await
                .err()
                .map(|e| e.to_string());
        }
        GroupChange {
            suspended: if error.is_none() { to_suspend } else { Vec::new() },
            left_alone,
            ..change(g, error)
        }
    }

    /// Resumes what the scheduler suspended, for groups whose members in
    /// this tier all run; a group with a member that is not running stays
    /// suspended (its group would replace the member) and is reported.
    pub(crate) async fn resume_groups(&self, groups: &BTreeMap<String, Vec<String>>) -> Vec<GroupChange> {
        let names: Vec<String> = groups.keys().cloned().collect();
        let found = match self.auto_scaling.processes(&names).await {
            Ok(found) => found,
            Err(e) => return unread(&names, &e),
        };
        let all: Vec<String> = groups.values().flatten().cloned().collect();
        let (limit, _) = self.budget.cap(self.settings.state_timeout);
        let running = self.running_within(&all, limit).await;
        let mut changes = Vec::new();
        for (group, ids) in groups {
            let claimed = found
                .iter()
                .find(|p| &p.group == group)
                .map(|p| p.claimed.clone())
                .unwrap_or_default();
            let (ours, untrusted) = self.recorder.suspended(group, &claimed);
            if ours.is_empty() {
                if untrusted.is_some() {
                    changes.push(change(group, untrusted));
                }
                continue;
            }
            let not_running: Vec<&str> = ids
                .iter()
                .filter(|id| !running.contains(*id))
                .map(String::as_str)
                .collect();
            let mut c = if not_running.is_empty() {
                self.resume_group(group, ours).await
            } else {
                change(
                    group,
                    Some(format!(
                        "not resumed: member(s) {} not running (the group would replace them); the next Start resumes it",
                        not_running.join(", ")
                    )),
                )
            };
            c.error = join(c.error, untrusted);
            changes.push(c);
        }
        changes
    }

    /// One group at Start: resume what the ledger says the scheduler
    /// suspended, then remove the record (a failure there is a warning).
    async fn resume_group(&self, group: &str, ours: Vec<String>) -> GroupChange {
        if let Err(e) = self.auto_scaling.resume(group, &ours).await {
            return change(group, Some(e.to_string()));
        }
        let subject = self.recorder.place().member(MemberKind::Asg, group);
        let warning = self
            .recorder
            .remove("suspended", &[subject])
            .await
            .err()
            .map(|e| format!("warning: resumed, but its record could not be removed from the run ledger: {e}"));
        GroupChange {
            resumed: ours,
            ..change(group, warning)
        }
    }
}
