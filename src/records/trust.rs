//! What discovery read from the resources' own tags is replaced by what the
//! ledger holds: the registrations, original types, capacities and muted
//! alarms a run restores come from [`Book`] only. A record tag that says
//! something the ledger does not hold is [`Untrusted`]: left on the
//! resource, not acted on, reported; unless an operator dismissed that
//! exact tag (`orchestrator records adopt` or `forget`: a [`Restore::Dismissed`]
//! record), which is then neither acted on nor reported.

use super::{Book, Restore, Subject, Untrusted};

/// The tag's claim, unless the ledger holds it already or an operator
/// dismissed exactly this claim: then `None` (nothing to report).
fn claim(
    book: &Book,
    subject: &Subject,
    what: &'static str,
    (text, restore): (String, Option<Restore>),
    tier: Option<&str>,
) -> Option<Untrusted> {
    let dismissed = book.get(subject, &format!("dismissed-{what}"));
    if dismissed.is_some_and(|r| r.restore == Restore::Dismissed { claim: text.clone() }) {
        return None;
    }
    Some(Untrusted {
        member: subject.label(),
        tier: tier.map(str::to_string),
        claim: text,
        subject: subject.clone(),
        what: what.to_string(),
        restore,
    })
}
use crate::instance::{Instance, ORIGINAL_TYPE_TAG};
use crate::member::{Member, MemberKind, CAPACITY_TAG, SUSPENDED_TAG};
use crate::traffic::{Alarm, Registrations, MUTED_TAG, REGISTRATION_TAG_PREFIX};

/// Where a workload's resources are: the account part of record keys and
/// the region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// The member account's id, or [`super::OWN_ACCOUNT`].
    pub account: String,
    /// The workload's region.
    pub region: String,
}

impl Place {
    /// The subject of a member of `kind` here.
    pub fn member(&self, kind: MemberKind, id: &str) -> Subject {
        Subject::member(&self.account, &self.region, kind, id)
    }

    /// The subject of an alarm here.
    pub fn alarm(&self, name: &str) -> Subject {
        Subject::alarm(&self.account, &self.region, name)
    }
}

/// Instances: registrations and the original type from the ledger; the
/// tags' claims that differ are returned.
pub fn trust_instances(book: &Book, place: &Place, instances: &mut [Instance]) -> Vec<Untrusted> {
    let mut untrusted = Vec::new();
    for i in instances {
        let subject = place.member(MemberKind::Ec2, &i.id);
        let claimed = std::mem::take(&mut i.registrations);
        i.registrations = match book.get(&subject, "registrations").map(|r| &r.restore) {
            Some(Restore::Registrations(r)) => r.clone(),
            _ => Registrations::default(),
        };
        if !claimed.is_empty() && claimed != i.registrations {
            let text = format!("{REGISTRATION_TAG_PREFIX}* ({claimed})");
            let restore = Some(Restore::Registrations(claimed));
            untrusted.extend(claim(book, &subject, "registrations", (text, restore), Some(&i.tier)));
        }
        let claimed = i.type_tags.original.take();
        i.type_tags.original = match book.get(&subject, "type").map(|r| &r.restore) {
            Some(Restore::OriginalType(t)) => Some(t.clone()),
            _ => None,
        };
        if let Some(t) = claimed.filter(|c| Some(c) != i.type_tags.original.as_ref()) {
            let text = format!("{ORIGINAL_TYPE_TAG}={t}");
            let restore = Some(Restore::OriginalType(t));
            untrusted.extend(claim(book, &subject, "type", (text, restore), Some(&i.tier)));
        }
    }
    untrusted
}

/// Groups and services: the capacity to restore from the ledger.
pub fn trust_members(book: &Book, place: &Place, members: &mut [Member]) -> Vec<Untrusted> {
    let mut untrusted = Vec::new();
    for m in members.iter_mut().filter(|m| m.kind.is_capacity()) {
        let claimed = m.recorded.take();
        let subject = place.member(m.kind, &m.id);
        m.recorded = match book.get(&subject, "capacity").map(|r| &r.restore) {
            Some(Restore::Capacity(c)) => Some(*c),
            _ => None,
        };
        if let Some(c) = claimed.filter(|c| Some(*c) != m.recorded) {
            let text = format!("{CAPACITY_TAG}={}", c.to_tag(m.kind));
            let restore = Some(Restore::Capacity(c));
            untrusted.extend(claim(book, &subject, "capacity", (text, restore), Some(&m.tier)));
        }
    }
    untrusted
}

/// An Auto Scaling group's processes the scheduler suspended, from the
/// ledger only (none without a record), and the group's
/// `ec2-tier-scheduler:suspended` tag claim when it says otherwise.
pub fn trust_suspended(
    book: &Book,
    place: &Place,
    group: &str,
    claimed: &[String],
    tier: Option<&str>,
) -> (Vec<String>, Option<Untrusted>) {
    let subject = place.member(MemberKind::Asg, group);
    let recorded = match book.get(&subject, "suspended").map(|r| &r.restore) {
        Some(Restore::SuspendedProcesses(p)) => p.clone(),
        _ => Vec::new(),
    };
    if claimed.is_empty() || claimed == recorded.as_slice() {
        return (recorded, None);
    }
    let text = format!("{SUSPENDED_TAG}={}", claimed.join(","));
    let restore = Some(Restore::SuspendedProcesses(claimed.to_vec()));
    (recorded, claim(book, &subject, "suspended", (text, restore), tier))
}

/// Alarms: muted by the scheduler only when the ledger says so. At Start,
/// the alarms recorded for the workload that today's selection missed
/// (its prefixes changed since the Stop) are added: every one it muted is
/// unmuted.
pub fn trust_alarms(book: &Book, place: &Place, alarms: &mut Vec<Alarm>, starting: bool) -> Vec<Untrusted> {
    let mut untrusted = Vec::new();
    for a in alarms.iter_mut() {
        let claimed = a.muted_by_us;
        let subject = place.alarm(&a.name);
        a.muted_by_us = book.get(&subject, "muted").is_some();
        if claimed && !a.muted_by_us {
            let restore = Some(Restore::MutedAlarm { arn: a.arn.clone() });
            untrusted.extend(claim(book, &subject, "muted", (MUTED_TAG.to_string(), restore), None));
        }
    }
    if starting {
        for record in book.all() {
            let (Restore::MutedAlarm { arn }, true) = (&record.restore, record.subject.kind == "Alarm") else {
                continue;
            };
            let here = record.subject.account == place.account && record.subject.region == place.region;
            if here && !alarms.iter().any(|a| a.name == record.subject.id) {
                alarms.push(Alarm {
                    name: record.subject.id.clone(),
                    arn: arn.clone(),
                    actions_enabled: false,
                    muted_by_us: true,
                });
            }
        }
    }
    untrusted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::InstanceState;
    use crate::member::{Capacity, Phase};
    use crate::records::{Record, OWN_ACCOUNT};

    fn place() -> Place {
        Place {
            account: OWN_ACCOUNT.into(),
            region: "us-west-2".into(),
        }
    }

    fn record(subject: Subject, restore: Restore) -> Record {
        Record::of(subject, "W", 0, restore)
    }

    #[test]
    fn a_forged_registration_tag_is_neither_trusted_nor_lost_sight_of() {
        let mut ours = Registrations::default();
        ours.add("targetgroup/web/1", 80);
        let mut forged = Registrations::default();
        forged.add("targetgroup/payments/2", 22);
        let book = Book::new(vec![record(
            place().member(MemberKind::Ec2, "i-1"),
            Restore::Registrations(ours.clone()),
        )]);
        let mut a = Instance::new("i-1", "Web", InstanceState::Stopped, "m5.large");
        a.registrations = forged.clone();
        let mut b = Instance::new("i-2", "Web", InstanceState::Stopped, "m5.large");
        b.registrations = forged;
        b.type_tags.original = Some("x1e.32xlarge".into());
        let mut instances = vec![a, b];
        let untrusted = trust_instances(&book, &place(), &mut instances);
        assert_eq!(instances[0].registrations, ours, "the ledger's, not the tag's");
        assert!(instances[1].registrations.is_empty());
        assert_eq!(instances[1].type_tags.original, None);
        let members: Vec<&str> = untrusted.iter().map(|u| u.member.as_str()).collect();
        assert_eq!(members, ["i-1", "i-2", "i-2"]);
        // An operator dismisses i-1's tag: no longer reported, still not trusted.
        let mut dismissed = book.clone();
        let marker = Record::dismissal(
            place().member(MemberKind::Ec2, "i-1"),
            "W",
            0,
            "registrations",
            &untrusted[0].claim,
        );
        dismissed.set(marker.key(), Some(marker));
        let mut again = vec![Instance::new("i-1", "Web", InstanceState::Stopped, "m5.large")];
        again[0].registrations = untrusted[0]
            .restore
            .clone()
            .map(|r| match r {
                Restore::Registrations(r) => r,
                _ => unreachable!(),
            })
            .unwrap();
        assert!(trust_instances(&dismissed, &place(), &mut again).is_empty());
        assert_eq!(again[0].registrations, ours);
        assert!(untrusted[2].claim.contains("x1e.32xlarge"));
        assert!(untrusted[0].reason("W").contains("orchestrator records adopt -w W"));
    }

    #[test]
    fn capacities_come_from_the_ledger_and_alarms_recorded_are_all_unmuted() {
        let c = Capacity {
            min: 1,
            desired: 2,
            max: 4,
        };
        let book = Book::new(vec![
            record(place().member(MemberKind::Asg, "web"), Restore::Capacity(c)),
            record(
                place().alarm("old-prefix-5xx"),
                Restore::MutedAlarm {
                    arn: "arn:aws:cloudwatch:us-west-2:1:alarm:old-prefix-5xx".into(),
                },
            ),
        ]);
        let mut members = vec![
            Member::new(MemberKind::Asg, "web", "desired 0", Phase::Down, "Web"),
            Member::new(MemberKind::Asg, "api", "desired 0", Phase::Down, "Web"),
        ];
        members[1].recorded = Some(Capacity {
            min: 0,
            desired: 5000,
            max: 5000,
        });
        let untrusted = trust_members(&book, &place(), &mut members);
        assert_eq!((members[0].recorded, members[1].recorded), (Some(c), None));
        assert_eq!(untrusted.len(), 1);
        assert_eq!(untrusted[0].claim, "ec2-tier-scheduler:capacity=0,5000,5000");

        let tagged = Alarm {
            name: "web-5xx".into(),
            arn: "arn:aws:cloudwatch:us-west-2:1:alarm:web-5xx".into(),
            actions_enabled: false,
            muted_by_us: true,
        };
        let mut alarms = vec![tagged];
        let untrusted = trust_alarms(&book, &place(), &mut alarms, true);
        assert!(!alarms[0].muted_by_us, "a tag alone never enables an alarm");
        assert_eq!(untrusted[0].member, "alarm:web-5xx");
        assert_eq!(alarms[1].name, "old-prefix-5xx");
        assert!(alarms[1].muted_by_us, "recorded: unmuted whatever today's prefixes");
    }
}
