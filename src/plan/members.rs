//! The members of a plan that are not instances: RDS DB instances, Aurora
//! DB clusters and ECS services of the tiers whose `TierResourceTypes` list
//! their kind, and Auto Scaling groups of the tiers that scale them to zero,
//! each with its step.
//!
//! A database is stopped only when `available` and started only when
//! `stopped`; every other status (`backing-up`, `modifying`, ...) is
//! reported as it is. A group or a service is stopped when it has capacity,
//! and started when the run ledger holds the scheduler's record of what it
//! had (at zero, or raised below it while stopped: it is restored to the
//! record, never below what it has); one without a record is left alone
//! and reported.

use serde::Serialize;

use super::{Plan, Step};
use crate::action::Action;
use crate::config::WorkloadConfig;
use crate::member::{Capacity, Member, MemberId, MemberKind, Phase};
use crate::override_tag::{self, TagVerdict};

/// One member of a tier and what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberPlan {
    /// Its kind.
    pub kind: MemberKind,
    /// The resource's id (`db-1`, `web`, `cluster/service`).
    pub id: String,
    /// Its id in reports (`rds:db-1`, `asg:web`).
    pub member: String,
    /// The service's words for its state when discovered.
    pub status: String,
    /// Where it was when discovered.
    #[serde(skip)]
    pub phase: Phase,
    /// What a Start restores (groups and services).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restores: Option<Capacity>,
    /// The step and its reason.
    pub step: Step,
}

/// Why a re-stop's database is in no tier of the plan (its tier does not
/// list its kind, or it does not carry the workload's tags).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotInPlan(String);

impl Plan {
    /// A re-stop's plan: only `member`, in its tier; every instance, other
    /// member, tier and alarm of the workload left out. Why not, when no
    /// tier of the plan holds it (its tier does not list its kind, or it
    /// does not carry the workload's tags).
    pub fn keep_only(&mut self, member: &MemberId) -> Result<(), NotInPlan> {
        for group in &mut self.groups {
            for tier in &mut group.tiers {
                tier.instances.clear();
                tier.members.retain(|m| m.kind == member.kind() && m.id == member.id());
            }
            group.tiers.retain(|t| !t.members.is_empty());
        }
        self.groups.retain(|g| !g.tiers.is_empty());
        self.alarms.clear();
        super::order::set_delays(&mut self.groups);
        match self.groups.is_empty() {
            true => Err(NotInPlan(format!(
                "{member} is not a member of a tier of workload {} that lists {}: it is left running",
                self.workload,
                member.kind()
            ))),
            false => Ok(()),
        }
    }

    /// Adds the workload's `members` to the tiers that hold their kind for
    /// the plan's action, in the tier's kind order then by id; the others
    /// are left alone. `now` judges override tags.
    pub fn add_members(&mut self, config: &WorkloadConfig, members: &[Member], now: u64) {
        let action = self.action;
        for tier in self.groups.iter_mut().flat_map(|g| g.tiers.iter_mut()) {
            let Some(spec) = config.tiers.iter().find(|t| t.name == tier.tier) else {
                continue;
            };
            let mut held: Vec<&Member> = members
                .iter()
                .filter(|m| m.tier == tier.tier && spec.holds_for(m.kind, action))
                .collect();
            held.sort_by(|a, b| (spec.order_of(a.kind), a.kind, &a.id).cmp(&(spec.order_of(b.kind), b.kind, &b.id)));
            tier.members = held
                .into_iter()
                .map(|m| {
                    let step = member_step(action, m, now, &mut self.warnings);
                    if action == Action::Stop && super::instance::acting(&step) {
                        let undone = m
                            .undoers
                            .iter()
                            .map(|u| format!("{}: {u}: it would undo the stop", m.member_id()));
                        self.warnings.extend(undone);
                    }
                    MemberPlan {
                        kind: m.kind,
                        id: m.id.clone(),
                        member: m.member_id(),
                        status: m.status.clone(),
                        phase: m.phase,
                        restores: m.recorded.filter(|_| action == Action::Start),
                        step,
                    }
                })
                .collect();
        }
        // A group of members alone owes its delay like one of instances.
        super::order::set_delays(&mut self.groups);
    }

    /// Every member plan in execution order.
    pub fn members(&self) -> impl Iterator<Item = &MemberPlan> {
        self.groups
            .iter()
            .flat_map(|g| g.tiers.iter())
            .flat_map(|t| t.members.iter())
    }
}

/// A member's step: by its phase, unless it cannot be stopped or its
/// override tag keeps it.
fn member_step(action: Action, m: &Member, now: u64, warnings: &mut Vec<String>) -> Step {
    let step = if m.kind.is_capacity() {
        capacity_step(action, m)
    } else {
        database_step(action, m.phase, &m.status)
    };
    let step = match (&m.cannot_stop, action, step) {
        (Some(why), Action::Stop, Step::Act | Step::WaitThenAct { .. }) => Step::Skip { reason: why.clone() },
        (_, _, step) => step,
    };
    let (tag, reason) = match &m.override_tag {
        Some((tag, reason)) => (Some(tag.as_str()), reason.as_deref()),
        None => (None, None),
    };
    match override_tag::verdict(tag, reason, action, now) {
        TagVerdict::Keep(why) if super::instance::acting(&step) => Step::Skip { reason: why },
        TagVerdict::Ignored(why) => {
            warnings.push(format!("{}: {why}", m.member_id()));
            step
        }
        _ => step,
    }
}

/// A database's step for RDS's status (`status`, in `phase`).
fn database_step(action: Action, phase: Phase, status: &str) -> Step {
    let skip = |reason: String| Step::Skip { reason };
    match (action, phase) {
        (Action::Stop, Phase::Up) | (Action::Start, Phase::Down) => Step::Act,
        (Action::Stop, Phase::Starting) => Step::WaitThenAct {
            reason: "starting: stopped once it is available".into(),
        },
        (Action::Start, Phase::Stopping) => Step::WaitThenAct {
            reason: "stopping: started once it is stopped".into(),
        },
        (Action::Stop, Phase::Down) => skip("already stopped".into()),
        (Action::Stop, Phase::Stopping) => skip("already stopping".into()),
        (Action::Start, Phase::Up) => skip("already available".into()),
        (Action::Start, Phase::Starting) => skip("already starting".into()),
        (Action::Stop, _) => skip(format!("status {status}: RDS stops only an available database")),
        (Action::Start, _) => skip(format!("status {status}: RDS starts only a stopped database")),
    }
}

/// A group's or service's step: a Stop sets capacity to 0 (after recording
/// it, or keeping a record a Start has not restored yet); a Start restores
/// the ledger's record (a member raised while stopped, by a scheduled
/// action say, is brought up to it), and leaves alone one with no record.
fn capacity_step(action: Action, m: &Member) -> Step {
    let skip = |reason: String| Step::Skip { reason };
    let at_zero = matches!(m.phase, Phase::Down | Phase::Stopping);
    match (action, at_zero, m.recorded) {
        (Action::Stop, false, _) => Step::Act,
        (Action::Stop, true, Some(record)) => skip(format!("already at 0 (its record: {record})")),
        (Action::Stop, true, None) => skip("already at 0".into()),
        (Action::Start, _, Some(_)) => Step::Act,
        (Action::Start, true, None) => skip(
            "at 0 with no record of its capacity in the run ledger: left alone (a Stop with the scheduler \
             records it; set it by hand otherwise)"
                .into(),
        ),
        (Action::Start, false, None) => skip(format!("has capacity already ({})", m.status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_statuses_map_to_steps() {
        let step = |action, status: &str| database_step(action, Phase::of_database(status), status);
        assert_eq!(step(Action::Stop, "available"), Step::Act);
        assert_eq!(step(Action::Start, "stopped"), Step::Act);
        assert!(matches!(step(Action::Start, "stopping"), Step::WaitThenAct { .. }));
        assert!(matches!(step(Action::Stop, "starting"), Step::WaitThenAct { .. }));
        assert_eq!(
            step(Action::Stop, "backing-up"),
            Step::Skip {
                reason: "status backing-up: RDS stops only an available database".into()
            }
        );
        assert_eq!(
            step(Action::Start, "available"),
            Step::Skip {
                reason: "already available".into()
            }
        );
    }

    #[test]
    fn capacities_are_restored_only_from_a_record_at_zero() {
        let member = |phase, recorded| Member {
            recorded,
            ..Member::new(MemberKind::Asg, "web", "desired 0", phase, "Web")
        };
        let record = Some(Capacity {
            min: 1,
            desired: 2,
            max: 4,
        });
        assert_eq!(capacity_step(Action::Stop, &member(Phase::Up, None)), Step::Act);
        assert_eq!(capacity_step(Action::Stop, &member(Phase::Starting, record)), Step::Act);
        assert_eq!(capacity_step(Action::Start, &member(Phase::Down, record)), Step::Act);
        assert_eq!(
            capacity_step(Action::Start, &member(Phase::Stopping, record)),
            Step::Act
        );
        assert_eq!(
            capacity_step(Action::Start, &member(Phase::Up, record)),
            Step::Act,
            "raised while stopped: brought up to its record"
        );
        for (action, m) in [
            (Action::Stop, member(Phase::Down, record)),
            (Action::Start, member(Phase::Down, None)),
            (Action::Start, member(Phase::Up, None)),
        ] {
            assert!(
                matches!(capacity_step(action, &m), Step::Skip { .. }),
                "{action:?} {m:?}"
            );
        }
    }
}
