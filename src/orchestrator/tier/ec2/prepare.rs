//! EC2's hooks before the action: override files checked (Stop), the
//! scaling profile applied (Start) and the processes of the members' Auto
//! Scaling groups suspended (Stop).

use std::collections::HashSet;

use super::super::lane::Lane;
use crate::orchestrator::Execution;
use crate::plan::InstancePlan;
use crate::summary::{Failure, PhaseKind};

impl Execution<'_> {
    /// Phase 2 at Stop, override files: checked for the whole tier at once;
    /// the bypassed instances are left out and notified.
    pub(super) async fn check_tier_overrides(&self, run: &mut Lane<'_>) {
        let Some(check) = &run.tier.override_check else {
            return;
        };
        let ids: Vec<String> = run
            .todo_instances()
            .filter(|i| i.check_override)
            .map(|i| i.id.clone())
            .collect();
        if ids.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        let bypassed = self.override_files().check(check, &ids).await;
        let bypassed_ids: HashSet<&str> = bypassed.iter().map(|b| b.id.as_str()).collect();
        run.todo.retain(|i| !bypassed_ids.contains(i.name.as_str()));
        let sent = futures::future::join_all(bypassed.iter().map(|b| self.notify_bypass(&run.tier.tier, b))).await;
        run.notification_errors.extend(sent.into_iter().flatten());
        run.out.bypassed = bypassed;
        run.out.phase(PhaseKind::OverrideCheck, from, self.elapsed_ms());
    }

    /// Phase 3 at Start, scaling profile: types of stopped instances are
    /// changed before start, only when they will be started in this
    /// invocation.
    pub(super) async fn apply_scaling_profile(&self, run: &mut Lane<'_>, resized_ok: &mut HashSet<String>) {
        let from = self.elapsed_ms();
        let todo: Vec<&InstancePlan> = run.todo_instances().collect();
        (run.out.resized, run.out.credits) = self.scale(&todo).await;
        resized_ok.extend(
            run.out
                .resized
                .iter()
                .filter(|r| r.error.is_none())
                .map(|r| r.id.clone()),
        );
        if !resized_ok.is_empty() {
            // Once per tier, not per instance: StartInstances can fail
            // while a type change propagates.
            self.pacing().pause(self.config.workload.scale_instance_delay).await;
        }
        if !run.out.resized.is_empty() || !run.out.credits.is_empty() {
            run.out.phase(PhaseKind::Scale, from, self.elapsed_ms());
        }
    }

    /// Phase 3 at Stop, Auto Scaling members (Suspend mode): their groups'
    /// processes are suspended first; a member whose group could not be
    /// suspended is never stopped.
    pub(super) async fn suspend_tier_groups(&self, run: &mut Lane<'_>) {
        let groups: Vec<String> = run
            .todo_instances()
            .filter_map(|i| i.auto_scaling_group.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if groups.is_empty() {
            return;
        }
        let from = self.elapsed_ms();
        let (changes, failed) = self.suspend_groups(&groups).await;
        let out = &mut run.out;
        run.todo.retain(|item| {
            let group = item.as_instance().and_then(|i| i.auto_scaling_group.as_deref());
            let blocked = group.is_some_and(|g| failed.contains(g));
            if blocked {
                out.failed.push(Failure {
                    id: item.name.clone(),
                    reason: format!(
                        "not stopped: the processes of its Auto Scaling group {} could not be suspended",
                        group.unwrap_or_default()
                    ),
                    code: None,
                });
            }
            !blocked
        });
        run.out.auto_scaling = changes;
        run.out.phase(PhaseKind::AutoScaling, from, self.elapsed_ms());
    }
}
