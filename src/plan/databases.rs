//! The databases of a plan: RDS DB instances and Aurora DB clusters of the
//! tiers whose `TierResourceTypes` list their kind, each with its step.
//! RDS stops only an `available` database and starts only a `stopped` one;
//! every other status (`backing-up`, `modifying`, ...) is reported as it is.

use serde::Serialize;

use super::{Plan, Step};
use crate::action::Action;
use crate::config::WorkloadConfig;
use crate::member::{Database, MemberKind, AVAILABLE, STOPPED};
use crate::override_tag::{self, TagVerdict};

/// One database of a tier and what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabasePlan {
    /// RDS or Aurora.
    pub kind: MemberKind,
    /// `DBInstanceIdentifier` / `DBClusterIdentifier`.
    pub id: String,
    /// Its id in reports (`rds:db-1`).
    pub member: String,
    /// RDS's status when discovered.
    pub status: String,
    /// The step and its reason.
    pub step: Step,
}

impl Plan {
    /// Adds the workload's `databases` to the tiers that hold their kind,
    /// by kind (in `TierResourceTypes` order) then id; the others are left
    /// alone. `now` judges override tags.
    pub fn add_databases(&mut self, config: &WorkloadConfig, databases: &[Database], now: u64) {
        let action = self.action;
        for tier in self.groups.iter_mut().flat_map(|g| g.tiers.iter_mut()) {
            let Some(spec) = config.tiers.iter().find(|t| t.name == tier.tier) else {
                continue;
            };
            let mut held: Vec<&Database> = databases
                .iter()
                .filter(|d| d.tier == tier.tier && spec.resource_types.contains(&d.kind))
                .collect();
            let order = |k: MemberKind| spec.resource_types.iter().position(|x| *x == k);
            held.sort_by(|a, b| (order(a.kind), &a.id).cmp(&(order(b.kind), &b.id)));
            tier.databases = held
                .into_iter()
                .map(|d| DatabasePlan {
                    kind: d.kind,
                    id: d.id.clone(),
                    member: d.member_id(),
                    status: d.status.clone(),
                    step: database_step(action, d, now, &mut self.warnings),
                })
                .collect();
        }
    }

    /// Every database plan in execution order.
    pub fn databases(&self) -> impl Iterator<Item = &DatabasePlan> {
        self.groups
            .iter()
            .flat_map(|g| g.tiers.iter())
            .flat_map(|t| t.databases.iter())
    }
}

/// A database's step: by RDS's status, unless its override tag keeps it.
fn database_step(action: Action, d: &Database, now: u64, warnings: &mut Vec<String>) -> Step {
    let step = match (&d.cannot_stop, action, status_step(action, &d.status)) {
        (Some(why), Action::Stop, Step::Act | Step::WaitThenAct { .. }) => Step::Skip { reason: why.clone() },
        (_, _, step) => step,
    };
    let (tag, reason) = match &d.override_tag {
        Some((tag, reason)) => (Some(tag.as_str()), reason.as_deref()),
        None => (None, None),
    };
    match override_tag::verdict(tag, reason, action, now) {
        TagVerdict::Keep(why) if matches!(step, Step::Act | Step::WaitThenAct { .. }) => Step::Skip { reason: why },
        TagVerdict::Ignored(why) => {
            warnings.push(format!("{}: {why}", d.member_id()));
            step
        }
        _ => step,
    }
}

/// The step for RDS's `status`.
fn status_step(action: Action, status: &str) -> Step {
    let skip = |reason: String| Step::Skip { reason };
    match (action, status) {
        (Action::Stop, AVAILABLE) | (Action::Start, STOPPED) => Step::Act,
        (Action::Stop, "starting") => Step::WaitThenAct {
            reason: "starting: stopped once it is available".into(),
        },
        (Action::Start, "stopping") => Step::WaitThenAct {
            reason: "stopping: started once it is stopped".into(),
        },
        (Action::Stop, STOPPED) => skip("already stopped".into()),
        (Action::Stop, "stopping") => skip("already stopping".into()),
        (Action::Start, AVAILABLE) => skip("already available".into()),
        (Action::Start, "starting") => skip("already starting".into()),
        (Action::Stop, other) => skip(format!("status {other}: RDS stops only an available database")),
        (Action::Start, other) => skip(format!("status {other}: RDS starts only a stopped database")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_statuses_map_to_steps() {
        assert_eq!(status_step(Action::Stop, "available"), Step::Act);
        assert_eq!(status_step(Action::Start, "stopped"), Step::Act);
        assert!(matches!(
            status_step(Action::Start, "stopping"),
            Step::WaitThenAct { .. }
        ));
        assert!(matches!(
            status_step(Action::Stop, "starting"),
            Step::WaitThenAct { .. }
        ));
        assert_eq!(
            status_step(Action::Stop, "backing-up"),
            Step::Skip {
                reason: "status backing-up: RDS stops only an available database".into()
            }
        );
        assert_eq!(
            status_step(Action::Start, "available"),
            Step::Skip {
                reason: "already available".into()
            }
        );
    }
}
