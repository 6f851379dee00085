//! Auto Scaling group members (`TierAutoScalingGroups: "Suspend"`): before
//! the members of a group are stopped, the group's processes that would
//! replace or relaunch them are suspended; after they are started (and
//! pass the tier's gate), the processes the scheduler suspended are resumed.
//! What the scheduler suspended is recorded on the group itself, so a
//! crashed run's suspension is resumed by the next Start, and processes
//! someone else suspended are left alone.

use std::collections::{BTreeMap, BTreeSet};

use super::Execution;
use crate::instance::InstanceState;
use crate::plan::TierPlan;
use crate::summary::GroupChange;

/// The processes that would replace, terminate or relaunch a stopped member.
pub const PROCESSES: [&str; 5] = ["Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy", "AZRebalance"];

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

impl Execution<'_> {
    /// Suspends the groups' processes before their members stop. Returns the
    /// changes and the groups whose suspension failed (their members must
    /// not be stopped).
    pub(crate) async fn suspend_groups(&self, groups: &[String]) -> (Vec<GroupChange>, BTreeSet<String>) {
        let mut changes = Vec::new();
        let mut failed = BTreeSet::new();
        let found = match self.auto_scaling.processes(groups).await {
            Ok(found) => found,
            Err(e) => {
                for g in groups {
                    failed.insert(g.clone());
                    changes.push(GroupChange {
                        group: g.clone(),
                        suspended: Vec::new(),
                        resumed: Vec::new(),
                        left_alone: Vec::new(),
                        error: Some(format!("could not read the group's processes: {e}")),
                    });
                }
                return (changes, failed);
            }
        };
        for g in groups {
            let current = found.iter().find(|p| &p.group == g).cloned().unwrap_or_default();
            // Suspended by someone else (not in our record): left as found.
            let left_alone: Vec<String> = current
                .suspended
                .iter()
                .filter(|p| !current.ours.contains(p))
                .cloned()
                .collect();
            let to_suspend: Vec<String> = PROCESSES
                .iter()
                .map(|p| p.to_string())
                .filter(|p| !current.suspended.contains(p))
                .collect();
            let ours: Vec<String> = PROCESSES
                .iter()
                .map(|p| p.to_string())
                .filter(|p| !left_alone.contains(p))
                .collect();
            let error = if to_suspend.is_empty() && ours == current.ours {
                None
            } else {
                self.auto_scaling
                    .suspend(g, &to_suspend, &ours)
                    .await
                    .err()
                    .map(|e| e.to_string())
            };
            if error.is_some() {
                failed.insert(g.clone());
            }
            changes.push(GroupChange {
                group: g.clone(),
                suspended: if error.is_none() { to_suspend } else { Vec::new() },
                resumed: Vec::new(),
                left_alone,
                error,
            });
        }
        (changes, failed)
    }

    /// Resumes what the scheduler suspended, for groups whose members in
    /// this tier all run; a group with a member that is not running stays
    /// suspended (its group would replace the member) and is reported.
    pub(crate) async fn resume_groups(&self, groups: &BTreeMap<String, Vec<String>>) -> Vec<GroupChange> {
        let names: Vec<String> = groups.keys().cloned().collect();
        let found = match self.auto_scaling.processes(&names).await {
            Ok(found) => found,
            Err(e) => {
                return names
                    .into_iter()
                    .map(|group| GroupChange {
                        group,
                        suspended: Vec::new(),
                        resumed: Vec::new(),
                        left_alone: Vec::new(),
                        error: Some(format!("could not read the group's processes: {e}")),
                    })
                    .collect()
            }
        };
        let all: Vec<String> = groups.values().flatten().cloned().collect();
        let (limit, _) = self.budget.cap(self.settings.state_timeout);
        let states = self.wait_for_states(&all, InstanceState::Running, limit).await;
        let mut changes = Vec::new();
        for (group, ids) in groups {
            let ours = found
                .iter()
                .find(|p| &p.group == group)
                .map(|p| p.ours.clone())
                .unwrap_or_default();
            if ours.is_empty() {
                continue;
            }
            let not_running: Vec<&String> = ids
                .iter()
                .filter(|id| states.get(*id) != Some(&InstanceState::Running))
                .collect();
            let error = if not_running.is_empty() {
                self.auto_scaling
                    .resume(group, &ours)
                    .await
                    .err()
                    .map(|e| e.to_string())
            } else {
                Some(format!(
                    "not resumed: member(s) {} not running (the group would replace them); the next Start resumes it",
                    not_running.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ))
            };
            changes.push(GroupChange {
                group: group.clone(),
                suspended: Vec::new(),
                resumed: if error.is_none() { ours } else { Vec::new() },
                left_alone: Vec::new(),
                error,
            });
        }
        changes
    }
}
