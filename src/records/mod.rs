//! Records only the scheduler writes: what a Start puts back after a Stop
//! (load balancer registrations a drain removed, the capacity of a group or
//! service scaled to zero, the type an instance had before a capacity
//! fallback, the alarms it muted) is kept in the run ledger table, one
//! record per member and what is recorded, written before the act and
//! removed once restored. Nobody but the scheduler's role writes that
//! table, so a person who may only tag a workload's resources cannot make
//! a Start register an instance in another application's target group,
//! scale a group to thousands, or enable an alarm an operator disabled.
//!
//! The scheduler's old record tags on the resources are never trusted: a
//! tag the ledger does not hold is reported ([`Untrusted`]) and handled as
//! if it were absent, until an operator vouches for it with `orchestrator
//! records adopt` (or drops it with `records forget`).
//!
//! Values read back are bounded anyway ([`Restore::bounded`]): ports
//! 1-65535, capacities that fit AWS's `i32`, at most [`MAX_RESTORED`].

mod trust;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::member::{member_id, Capacity, MemberKind};
use crate::traffic::Registrations;
pub use trust::{trust_alarms, trust_instances, trust_members, trust_suspended, Place};

/// The account part of a record's key for the scheduler's own account
/// (a member account's records carry its id).
pub const OWN_ACCOUNT: &str = "self";

/// The largest capacity (min, desired, max) a Start restores from a record,
/// whatever the record says; the stack's `MaxRestoredCapacity` bounds it in
/// IAM too (for the Auto Scaling group sizes IAM can see).
pub const MAX_RESTORED: u32 = 10_000;

/// Most records one TransactWriteItems writes or removes.
pub const RECORDS_PER_WRITE: usize = 100;

/// A record whose values are out of bounds, and which: it restores nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OutOfBounds(pub String);

/// What a record holds: what a Start restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum Restore {
    /// An instance's target group registrations a drain removed.
    Registrations(Registrations),
    /// A group's (min, desired, max) or a service's desired count before
    /// it was scaled to zero.
    Capacity(Capacity),
    /// The instance type an instance had before a capacity fallback.
    OriginalType(String),
    /// An alarm whose actions the scheduler disabled.
    MutedAlarm {
        /// The alarm's ARN.
        arn: String,
    },
    /// The Auto Scaling processes the scheduler suspended on a group
    /// (`TierAutoScalingGroups: Suspend`), which a Start resumes.
    SuspendedProcesses(Vec<String>),
    /// A record tag an operator dealt with (`records adopt` moved it into
    /// the ledger, or `records forget` dropped it): while the tag says
    /// exactly this, it is neither acted on nor reported. Restores nothing.
    Dismissed {
        /// The tag's claim, as [`Untrusted::claim`] words it.
        claim: String,
    },
}

impl Restore {
    /// The short name of what is recorded (a key part, and the CLI's).
    pub fn what(&self) -> &'static str {
        match self {
            Self::Registrations(_) => "registrations",
            Self::Capacity(_) => "capacity",
            Self::OriginalType(_) => "type",
            Self::MutedAlarm { .. } => "muted",
            Self::SuspendedProcesses(_) => "suspended",
            Self::Dismissed { .. } => "dismissed",
        }
    }

    /// The record if every value in it is in bounds: ports 1-65535 and at
    /// least one, a capacity of at most [`MAX_RESTORED`] with min <=
    /// desired <= max for a group, an instance type that reads as one.
    /// Trusted records are bounded too: a bug or a hand-edited item must
    /// not scale a group to thousands.
    pub fn bounded(self) -> Result<Self, OutOfBounds> {
        match &self {
            Self::Registrations(r) => {
                if r.is_empty() || r.0.values().any(|ports| ports.is_empty() || ports.contains(&0)) {
                    return Err(OutOfBounds(format!(
                        "registrations {r:?}: every group needs ports 1-65535"
                    )));
                }
            }
            Self::Capacity(c) => {
                let too_big = [c.min, c.desired, c.max].iter().any(|n| *n > MAX_RESTORED);
                if too_big || i32::try_from(c.max.max(c.desired)).is_err() {
                    return Err(OutOfBounds(format!("capacity {c} is over {MAX_RESTORED}")));
                }
                if c.max != 0 && !(c.min <= c.desired && c.desired <= c.max) {
                    return Err(OutOfBounds(format!("capacity {c} is not min <= desired <= max")));
                }
            }
            Self::OriginalType(t) => {
                if !crate::instance::looks_like_instance_type(t) {
                    return Err(OutOfBounds(format!("{t:?} is not an instance type")));
                }
            }
            Self::MutedAlarm { arn } => {
                if !arn.starts_with("arn:") || !arn.contains(":alarm:") {
                    return Err(OutOfBounds(format!("{arn:?} is not an alarm ARN")));
                }
            }
            Self::SuspendedProcesses(p) => {
                let known = crate::member::SUSPENDABLE_PROCESSES;
                if p.is_empty() || p.iter().any(|n| !known.contains(&n.as_str())) {
                    return Err(OutOfBounds(format!(
                        "suspended processes {p:?}: only some of {}",
                        known.join(", ")
                    )));
                }
            }
            Self::Dismissed { .. } => {}
        }
        Ok(self)
    }
}

impl fmt::Display for Restore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registrations(r) => write!(f, "registered in {r}"),
            Self::Capacity(c) => write!(f, "capacity {c}"),
            Self::OriginalType(t) => write!(f, "type {t}"),
            Self::MutedAlarm { .. } => f.write_str("actions disabled by the scheduler"),
            Self::SuspendedProcesses(p) => write!(f, "processes {} suspended by the scheduler", p.join(",")),
            Self::Dismissed { claim } => write!(f, "tag dismissed by an operator: {claim}"),
        }
    }
}

/// What a record is about: a member (an instance, group or service) or an
/// alarm of a workload's account and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// The workload's account id, or [`OWN_ACCOUNT`].
    pub account: String,
    /// The workload's region.
    pub region: String,
    /// The member's kind (`EC2`, `ASG`, `ECS`), or `Alarm`.
    pub kind: String,
    /// The instance id, group name, `cluster/service`, or alarm name.
    pub id: String,
}

impl Subject {
    /// A member of `kind` in `account` and `region`.
    pub fn member(account: &str, region: &str, kind: MemberKind, id: &str) -> Self {
        Self {
            account: account.to_string(),
            region: region.to_string(),
            kind: kind.name().to_string(),
            id: id.to_string(),
        }
    }

    /// An alarm in `account` and `region`.
    pub fn alarm(account: &str, region: &str, name: &str) -> Self {
        Self {
            account: account.to_string(),
            region: region.to_string(),
            kind: "Alarm".into(),
            id: name.to_string(),
        }
    }

    /// The name reports use: `i-...`, `asg:web`, `ecs:c/s`, `alarm:name`.
    pub fn label(&self) -> String {
        match MemberKind::ALL.into_iter().find(|k| k.name() == self.kind) {
            Some(kind) => member_id(kind, &self.id),
            None => format!("{}:{}", self.kind.to_ascii_lowercase(), self.id),
        }
    }
}

/// One record: what is restored, of which subject, for which workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// What it is about.
    pub subject: Subject,
    /// What is recorded: [`Restore::what`], or `dismissed-<what>` for a
    /// dismissed tag.
    pub what: String,
    /// The workload that recorded it (another workload cannot replace or
    /// remove it).
    pub workload: String,
    /// When, seconds since the epoch.
    pub recorded_at: u64,
    /// The run (its ledger key) that recorded it, when it ran under the
    /// ledger; `None` for an operator's `records adopt` or `forget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// What a Start restores.
    pub restore: Restore,
}

impl Record {
    /// A record of `restore` about `subject` for `workload`, at `now`.
    pub fn of(subject: Subject, workload: &str, now: u64, restore: Restore) -> Self {
        Self {
            subject,
            what: restore.what().to_string(),
            workload: workload.to_string(),
            recorded_at: now,
            run: None,
            restore,
        }
    }

    /// The marker of a record tag an operator dealt with: `claim`, about
    /// `what` of `subject`, is neither acted on nor reported any more.
    pub fn dismissal(subject: Subject, workload: &str, now: u64, what: &str, claim: &str) -> Self {
        Self {
            subject,
            what: format!("dismissed-{what}"),
            workload: workload.to_string(),
            recorded_at: now,
            run: None,
            restore: Restore::Dismissed {
                claim: claim.to_string(),
            },
        }
    }

    /// Its key in the ledger table: kind `record`, then the account,
    /// region, kind, what and id, each part encoded ([`crate::key::key`]).
    /// A dismissed tag's marker is keyed by what the tag claimed
    /// (`dismissed-<what>`).
    pub fn key(&self) -> String {
        record_key(&self.subject, &self.what)
    }
}

/// The ledger key of `subject`'s record of `what`.
pub fn record_key(subject: &Subject, what: &str) -> String {
    crate::key::key(
        "record",
        &[&subject.account, &subject.region, &subject.kind, what, &subject.id],
    )
}

/// The records of a workload, read once per run and looked up by subject
/// and what.
#[derive(Debug, Clone, Default)]
pub struct Book {
    by_key: BTreeMap<String, Record>,
}

impl Book {
    /// The records given (those out of bounds are left out, with a warning).
    pub fn new(records: Vec<Record>) -> Self {
        let mut by_key = BTreeMap::new();
        for mut record in records {
            match record.restore.clone().bounded() {
                Ok(restore) => {
                    record.restore = restore;
                    by_key.insert(record.key(), record);
                }
                Err(e) => tracing::warn!(key = %record.key(), "record out of bounds, not restored: {e}"),
            }
        }
        Self { by_key }
    }

    /// The record of `what` about `subject`.
    pub fn get(&self, subject: &Subject, what: &str) -> Option<&Record> {
        self.by_key.get(&record_key(subject, what))
    }

    /// Every record, in key order.
    pub fn all(&self) -> impl Iterator<Item = &Record> {
        self.by_key.values()
    }

    /// Notes a record written (or removed: `None`) during the run.
    pub fn set(&mut self, key: String, record: Option<Record>) {
        match record {
            Some(r) => self.by_key.insert(key, r),
            None => self.by_key.remove(&key),
        };
    }
}

/// A record tag on a resource that the ledger does not hold (an
/// attacker's, or one an earlier version of the scheduler wrote): it is
/// not acted on and not deleted; the run reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Untrusted {
    /// The member (`i-...`, `asg:web`, `ecs:c/s`, `alarm:name`).
    pub member: String,
    /// Its tier, when it is a tier member.
    pub tier: Option<String>,
    /// The tag and what it claims.
    pub claim: String,
    /// What it is about.
    pub subject: Subject,
    /// What it would record ([`Restore::what`]).
    pub what: String,
    /// What it would restore, read from the tag (`records adopt` bounds it
    /// and moves it into the ledger).
    pub restore: Option<Restore>,
}

impl Untrusted {
    /// The failure reason a run reports, naming the command that vouches.
    pub fn reason(&self, workload: &str) -> String {
        format!(
            "record tag {} is not in the scheduler's ledger: not trusted and not acted on \
             (`orchestrator records adopt -w {workload}` vouches for it, `records forget` drops it)",
            self.claim
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capacity(min: u32, desired: u32, max: u32) -> Restore {
        Restore::Capacity(Capacity { min, desired, max })
    }

    #[test]
    fn keys_are_encoded_parts_and_differ_per_what() {
        let s = Subject::member(OWN_ACCOUNT, "us-west-2", MemberKind::Ec2, "i-1|x");
        assert_eq!(record_key(&s, "type"), "record|self|us-west-2|EC2|type|i-1%7Cx");
        assert_ne!(record_key(&s, "type"), record_key(&s, "registrations"));
        assert_eq!(s.label(), "i-1|x");
        assert_eq!(Subject::member("1", "r", MemberKind::Asg, "web").label(), "asg:web");
        assert_eq!(Subject::alarm("1", "r", "web-5xx").label(), "alarm:web-5xx");
    }

    #[test]
    fn restored_values_are_bounded() {
        assert!(capacity(1, 2, 4).bounded().is_ok());
        assert!(capacity(0, 3, 0).bounded().is_ok(), "an ECS desired count");
        assert!(capacity(0, 5000, 5000).bounded().is_ok());
        assert!(capacity(0, 10_001, 10_001).bounded().is_err());
        assert!(capacity(0, 3_000_000_000, 3_000_000_000).bounded().is_err());
        assert!(capacity(3, 2, 4).bounded().is_err());
        let mut r = Registrations::default();
        assert!(Restore::Registrations(r.clone()).bounded().is_err(), "empty");
        r.add("targetgroup/web/1", 80);
        assert!(Restore::Registrations(r.clone()).bounded().is_ok());
        r.add("targetgroup/web/1", 0);
        assert!(Restore::Registrations(r).bounded().is_err(), "port 0");
        assert!(Restore::OriginalType("m5.large".into()).bounded().is_ok());
        assert!(Restore::OriginalType("m5.large; rm".into()).bounded().is_err());
        assert!(Restore::MutedAlarm {
            arn: "arn:aws:cloudwatch:us-west-2:1:alarm:web".into()
        }
        .bounded()
        .is_ok());
        let suspended = |p: &[&str]| Restore::SuspendedProcesses(p.iter().map(|s| s.to_string()).collect());
        assert!(suspended(&["Launch", "AZRebalance"]).bounded().is_ok());
        assert!(suspended(&[]).bounded().is_err(), "empty");
        assert!(
            suspended(&["Launch", "AddToLoadBalancer"]).bounded().is_err(),
            "not the scheduler's"
        );
    }

    #[test]
    fn records_round_trip_as_json() {
        let record = Record::of(
            Subject::member(OWN_ACCOUNT, "us-west-2", MemberKind::Asg, "web"),
            "W",
            7,
            capacity(1, 2, 4),
        );
        let json = serde_json::to_string(&record).unwrap();
        assert!(
            json.contains(r#""restore":{"kind":"capacity","value":{"min":1,"desired":2,"max":4}}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), record);
        let book = Book::new(vec![
            record.clone(),
            Record {
                restore: capacity(0, 20_000, 20_000),
                ..record.clone()
            },
        ]);
        assert_eq!(
            book.all().count(),
            1,
            "the second has the same key and is out of bounds"
        );
        assert_eq!(book.get(&record.subject, "capacity"), Some(&record));
    }
}
