//! Tier members other than EC2 instances, as the core sees them: RDS DB
//! instances, Aurora, DocumentDB and Neptune DB clusters, ECS services and
//! EKS managed node groups (`TierResourceTypes`), and Auto Scaling groups
//! (`TierAutoScalingGroups: ScaleToZero`). A member is named in reports by
//! its kind and id (`rds:db-1`, `aurora:orders`, `docdb:catalog`,
//! `neptune:graph`, `asg:web`, `ecs:cluster/service`,
//! `eks:cluster/nodegroup`), in the same lists as instance ids.
//!
//! Every kind is seen through one [`Phase`]: up, down, or on its way. What
//! that means for each kind (RDS's status, a group's or a node group's
//! InService instances against its desired capacity, a service's running
//! tasks against its desired count) is the adapters' business.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A kind of tier member (`TierResourceTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MemberKind {
    /// EC2 instances (the default).
    #[serde(rename = "EC2")]
    Ec2,
    /// RDS DB instances that are not part of a cluster.
    #[serde(rename = "RDS")]
    Rds,
    /// Aurora DB clusters (the only clusters StopDBCluster accepts).
    Aurora,
    /// ECS services: stopped by recording the desired count and setting it
    /// to 0.
    #[serde(rename = "ECS")]
    Ecs,
    /// EC2 Auto Scaling groups (`TierAutoScalingGroups: ScaleToZero`):
    /// stopped by recording min/desired/max and setting them to 0.
    #[serde(rename = "ASG")]
    Asg,
    /// DocumentDB DB clusters (engine `docdb`), stopped and started through
    /// the RDS API.
    #[serde(rename = "DocumentDB")]
    DocumentDb,
    /// Neptune DB clusters (engine `neptune`), stopped and started through
    /// the RDS API.
    Neptune,
    /// EKS managed node groups: stopped by recording min/desired/max and
    /// setting min and desired to 0 (the max is kept: EKS refuses 0).
    #[serde(rename = "EKS")]
    Eks,
}

impl MemberKind {
    /// Every kind.
    pub const ALL: [MemberKind; 8] = [
        MemberKind::Ec2,
        MemberKind::Rds,
        MemberKind::Aurora,
        MemberKind::Ecs,
        MemberKind::Asg,
        MemberKind::DocumentDb,
        MemberKind::Neptune,
        MemberKind::Eks,
    ];

    /// Reads a `TierResourceTypes` entry (`EC2`, `RDS`, `Aurora`, `ECS`,
    /// `DocumentDB`, `Neptune`, `EKS`; any case). Auto Scaling groups are
    /// not listed there: they are members by `TierAutoScalingGroups:
    /// ScaleToZero`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .filter(|k| *k != MemberKind::Asg)
            .find(|k| k.name().eq_ignore_ascii_case(name.trim()))
    }

    /// A capacity (an Auto Scaling group, an ECS service or an EKS node
    /// group): stopped by recording its capacity in the run ledger and
    /// setting it to [`Capacity::stopped`], started by restoring the record.
    pub fn is_capacity(self) -> bool {
        matches!(self, Self::Ecs | Self::Asg | Self::Eks)
    }

    /// A DB cluster stopped and started through the RDS API (StopDBCluster,
    /// StartDBCluster).
    pub fn is_db_cluster(self) -> bool {
        matches!(self, Self::Aurora | Self::DocumentDb | Self::Neptune)
    }

    /// The service whose word a member's state is (failure reasons).
    pub fn service_name(self) -> &'static str {
        match self {
            Self::Ec2 => "EC2",
            Self::Rds | Self::Aurora | Self::DocumentDb | Self::Neptune => "RDS",
            Self::Asg => "Auto Scaling",
            Self::Ecs => "ECS",
            Self::Eks => "EKS",
        }
    }

    /// The configuration's name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ec2 => "EC2",
            Self::Rds => "RDS",
            Self::Aurora => "Aurora",
            Self::Ecs => "ECS",
            Self::Asg => "ASG",
            Self::DocumentDb => "DocumentDB",
            Self::Neptune => "Neptune",
            Self::Eks => "EKS",
        }
    }

    /// The prefix of its members' ids in reports (`rds:db-1`); none for EC2.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Ec2 => "",
            Self::Rds => "rds:",
            Self::Aurora => "aurora:",
            Self::Ecs => "ecs:",
            Self::Asg => "asg:",
            Self::DocumentDb => "docdb:",
            Self::Neptune => "neptune:",
            Self::Eks => "eks:",
        }
    }
}

impl fmt::Display for MemberKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// RDS's status of a database that is up.
pub const AVAILABLE: &str = "available";
/// RDS's status of a stopped database.
pub const STOPPED: &str = "stopped";

/// Where a member is, whatever its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Serving: a database `available`; a group with as many InService
    /// instances as its desired capacity (above 0); a service with as many
    /// running tasks as its desired count (above 0).
    Up,
    /// Stopped: a database `stopped`; a group or service at 0 with nothing
    /// left running.
    Down,
    /// On its way up: `starting`; capacity above 0 not yet all in service.
    Starting,
    /// On its way down: `stopping`; capacity 0 with instances or tasks
    /// still draining away.
    Stopping,
    /// A status the scheduler neither acts on nor waits for (`backing-up`,
    /// `modifying`, ...): reported as it is.
    Other,
    /// A start the service gave up on (`incompatible-parameters`,
    /// `inaccessible-encryption-credentials`, ...).
    Failed,
}

impl Phase {
    /// The phase of RDS's status of a DB instance or cluster.
    pub fn of_database(status: &str) -> Self {
        match status {
            AVAILABLE => Self::Up,
            STOPPED => Self::Down,
            "starting" => Self::Starting,
            "stopping" => Self::Stopping,
            s if s.starts_with("incompatible-")
                || s.starts_with("inaccessible-encryption-credentials")
                || matches!(s, "failed" | "storage-full") =>
            {
                Self::Failed
            }
            _ => Self::Other,
        }
    }

    /// The phase of a capacity: `desired` of it, `serving` in service (a
    /// group's InService instances, a service's running tasks) and
    /// `present` there at all (instances in any lifecycle state, tasks
    /// running or pending).
    pub fn of_capacity(desired: u32, serving: u32, present: u32) -> Self {
        match (desired, present) {
            (0, 0) => Self::Down,
            (0, _) => Self::Stopping,
            _ if serving >= desired => Self::Up,
            _ => Self::Starting,
        }
    }
}

/// The capacity an Auto Scaling group, an ECS service or an EKS node group
/// had before the scheduler set it to 0, recorded in the run ledger so the
/// Start that follows, or a later one after a crash, restores it exactly
/// (an earlier version recorded it in a tag on the resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    /// The group's MinSize or the node group's minSize (0 for a service).
    pub min: u32,
    /// The group's DesiredCapacity, the node group's desiredSize or the
    /// service's desiredCount.
    pub desired: u32,
    /// The group's MaxSize or the node group's maxSize (0 for a service).
    pub max: u32,
}

impl Capacity {
    /// Zero: what a Stop sets a group (min, desired and max) or a service
    /// (desired) to.
    pub const ZERO: Capacity = Capacity {
        min: 0,
        desired: 0,
        max: 0,
    };

    /// What a Stop sets a member of `kind` at this capacity to: zero, but
    /// an EKS node group keeps its max (EKS refuses a max of 0; with min
    /// and desired at 0 no node runs).
    pub fn stopped(self, kind: MemberKind) -> Capacity {
        match kind {
            MemberKind::Eks => Capacity {
                max: self.max,
                ..Self::ZERO
            },
            _ => Self::ZERO,
        }
    }

    /// The tag value: `min,desired,max` for a group, `desired` for a service.
    pub fn to_tag(self, kind: MemberKind) -> String {
        match kind {
            MemberKind::Asg | MemberKind::Eks => format!("{},{},{}", self.min, self.desired, self.max),
            _ => self.desired.to_string(),
        }
    }

    /// Reads a tag value written by [`Capacity::to_tag`]; `None` when it
    /// does not read (a record somebody edited is not trusted).
    pub fn from_tag(kind: MemberKind, value: &str) -> Option<Self> {
        let numbers: Vec<u32> = value.split(',').map(|n| n.trim().parse().ok()).collect::<Option<_>>()?;
        match (kind, numbers.as_slice()) {
            (MemberKind::Asg | MemberKind::Eks, [min, desired, max]) if min <= desired && desired <= max => {
                Some(Self {
                    min: *min,
                    desired: *desired,
                    max: *max,
                })
            }
            (MemberKind::Ecs, [desired]) => Some(Self {
                min: 0,
                desired: *desired,
                max: 0,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.max == 0 && self.min == 0 {
            write!(f, "desired {}", self.desired)
        } else {
            write!(f, "min {}, desired {}, max {}", self.min, self.desired, self.max)
        }
    }
}

/// The Auto Scaling processes that would replace, terminate or relaunch a
/// stopped group member: those `TierAutoScalingGroups: Suspend` suspends,
/// and the only ones a record of suspended processes may name.
pub const SUSPENDABLE_PROCESSES: [&str; 5] = ["Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy", "AZRebalance"];

/// The group tag an earlier version wrote listing the processes it
/// suspended: read only, as a claim (never trusted, never written).
pub const SUSPENDED_TAG: &str = "ec2-tier-scheduler:suspended";

/// The tag on an Auto Scaling group or an ECS service that records the
/// capacity the scheduler set to 0.
pub const CAPACITY_TAG: &str = "ec2-tier-scheduler:capacity";

/// A tier member that is not an EC2 instance: an RDS DB instance, an
/// Aurora, DocumentDB or Neptune DB cluster, an ECS service, an EKS
/// managed node group or an Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its kind.
    pub kind: MemberKind,
    /// `DBInstanceIdentifier`, `DBClusterIdentifier`, the group's name,
    /// `cluster/service` (the cluster's and the service's names) or
    /// `cluster/nodegroup` (the EKS cluster's and the node group's names).
    pub id: String,
    /// The service's own words for its state: RDS's status (`available`,
    /// `backing-up`, ...), or the capacity (`desired 2, 2 InService`).
    pub status: String,
    /// Where it is.
    pub phase: Phase,
    /// Value of the workload's tier tag.
    pub tier: String,
    /// The workload's override tag (`OverrideTagName`) and its reason tag.
    #[serde(default)]
    pub override_tag: Option<(String, Option<String>)>,
    /// Why it cannot be stopped, when discovery can tell (a read replica,
    /// the source of one, Aurora Serverless v1, a service that cannot be
    /// tagged): a Stop skips it with this reason rather than failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cannot_stop: Option<String>,
    /// RDS's `AutomaticRestartTime` of a stopped database (seconds since
    /// the epoch): RDS starts it by itself then, seven days after it
    /// stopped; the next Stop run stops it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts_at: Option<u64>,
    /// The scheduler's record of the capacity it set to 0
    /// ([`CAPACITY_TAG`]), which a Start restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Capacity>,
    /// What would undo a stop: a group's scheduled actions that raise its
    /// capacity, a service's auto scaling with a minimum above 0, a node
    /// group's Cluster Autoscaler or Karpenter tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undoers: Vec<String>,
}

impl Member {
    /// A member of `kind` with only its identity, state and tier known.
    pub fn new(kind: MemberKind, id: &str, status: &str, phase: Phase, tier: &str) -> Self {
        Self {
            kind,
            id: id.to_string(),
            status: status.to_string(),
            phase,
            tier: tier.to_string(),
            override_tag: None,
            cannot_stop: None,
            restarts_at: None,
            recorded: None,
            undoers: Vec::new(),
        }
    }

    /// Its id in reports: `rds:db-1`, `aurora:orders`, `asg:web`.
    pub fn member_id(&self) -> String {
        self.typed_id().to_string()
    }

    /// Its id, typed.
    pub fn typed_id(&self) -> MemberId {
        MemberId::from(self)
    }
}

/// One member's state now, as a status poll reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    /// The resource's id (without the kind's prefix).
    pub id: String,
    /// The service's own words.
    pub status: String,
    /// Where it is.
    pub phase: Phase,
}

/// The one database a re-stop run stops again: RDS started it by itself
/// (seven days after it stopped) while its workload is stopped. Kept as
/// its kind and id, never as a report string to read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Restop {
    /// `RDS` (a DB instance) or a cluster kind (`Aurora`).
    pub kind: MemberKind,
    /// `DBInstanceIdentifier` or `DBClusterIdentifier`.
    pub id: String,
}

impl Restop {
    /// Its typed id.
    pub fn member(&self) -> MemberId {
        MemberId::new(self.kind, self.id.clone())
    }
}

/// A member's id in reports: the kind's prefix and the resource's id.
pub fn member_id(kind: MemberKind, id: &str) -> String {
    MemberId::new(kind, id).to_string()
}

/// A member's id, typed: its kind and the resource's id, never read back
/// from text. It writes (and serializes as) the report's string: the bare
/// id of an EC2 instance (`i-0abc`), the kind's prefix and the id of the
/// others (`rds:db-1`, `aurora:orders`, `ecs:cluster/service`, `asg:web`),
/// so the ledger's and the summary's JSON hold the same strings as ever.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId {
    kind: MemberKind,
    id: String,
}

impl MemberId {
    /// The id of the member of `kind` whose resource id is `id`.
    pub fn new(kind: MemberKind, id: impl Into<String>) -> Self {
        Self { kind, id: id.into() }
    }

    /// The id of an EC2 instance.
    pub fn instance(id: impl Into<String>) -> Self {
        Self::new(MemberKind::Ec2, id)
    }

    /// Its kind.
    pub fn kind(&self) -> MemberKind {
        self.kind
    }

    /// The resource's id, without the kind's prefix.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind.prefix(), self.id)
    }
}

impl Serialize for MemberId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl From<&Member> for MemberId {
    fn from(m: &Member) -> Self {
        Self::new(m.kind, m.id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_in_any_case_and_ids_round_trip() {
        assert_eq!(MemberKind::parse(" aurora "), Some(MemberKind::Aurora));
        assert_eq!(MemberKind::parse("rds"), Some(MemberKind::Rds));
        assert_eq!(MemberKind::parse("ecs"), Some(MemberKind::Ecs));
        assert_eq!(MemberKind::parse("ASG"), None);
        assert_eq!(MemberKind::parse("documentdb"), Some(MemberKind::DocumentDb));
        assert_eq!(MemberKind::parse("NEPTUNE"), Some(MemberKind::Neptune));
        assert_eq!(MemberKind::parse("eks"), Some(MemberKind::Eks));
        assert_eq!(member_id(MemberKind::DocumentDb, "catalog"), "docdb:catalog");
        assert_eq!(member_id(MemberKind::Eks, "prod/workers"), "eks:prod/workers");
        assert_eq!(member_id(MemberKind::Rds, "db-1"), "rds:db-1");
    }

    #[test]
    fn typed_ids_write_and_serialize_as_the_reports_strings() {
        let ids = [
            (MemberId::instance("i-0abc"), "i-0abc"),
            (MemberId::new(MemberKind::Rds, "db-1"), "rds:db-1"),
            (MemberId::new(MemberKind::Aurora, "orders"), "aurora:orders"),
            (MemberId::new(MemberKind::Ecs, "prod/api"), "ecs:prod/api"),
            (MemberId::new(MemberKind::Asg, "web"), "asg:web"),
        ];
        for (id, text) in &ids {
            assert_eq!(id.to_string(), *text);
            assert_eq!(member_id(id.kind(), id.id()), *text);
            // Serialized, it is the same JSON string; read back as a string
            // and rebuilt from its kind and resource id, it is the same id.
            let json = serde_json::to_value(id).unwrap();
            assert_eq!(json, serde_json::Value::String(text.to_string()));
            let read: String = serde_json::from_value(json).unwrap();
            assert_eq!(read, id.to_string());
            assert_eq!(MemberId::new(id.kind(), id.id()), *id);
        }
        // A list of typed ids is the list of strings the ledger and the
        // summary have always held.
        let typed: Vec<MemberId> = ids.iter().map(|(id, _)| id.clone()).collect();
        let strings: Vec<&str> = ids.iter().map(|(_, text)| *text).collect();
        assert_eq!(
            serde_json::to_string(&typed).unwrap(),
            serde_json::to_string(&strings).unwrap()
        );
        let member = Member::new(MemberKind::Asg, "web", "desired 2", Phase::Up, "Web");
        assert_eq!(member.typed_id(), MemberId::new(MemberKind::Asg, "web"));
        assert_eq!(member.member_id(), "asg:web");
    }

    #[test]
    fn capacity_records_round_trip_and_refuse_edits() {
        let c = Capacity {
            min: 1,
            desired: 2,
            max: 4,
        };
        assert_eq!(Capacity::from_tag(MemberKind::Asg, &c.to_tag(MemberKind::Asg)), Some(c));
        assert_eq!(Capacity::from_tag(MemberKind::Asg, "3,2,4"), None);
        assert_eq!(Capacity::from_tag(MemberKind::Asg, "2"), None);
        assert_eq!(Capacity::from_tag(MemberKind::Ecs, "3").map(|c| c.desired), Some(3));
        assert_eq!(Capacity::from_tag(MemberKind::Ecs, "x"), None);
    }

    #[test]
    fn a_stopped_node_group_keeps_its_max() {
        let c = Capacity {
            min: 1,
            desired: 2,
            max: 4,
        };
        assert_eq!(c.stopped(MemberKind::Asg), Capacity::ZERO);
        assert_eq!(c.stopped(MemberKind::Ecs), Capacity::ZERO);
        let node_group = c.stopped(MemberKind::Eks);
        assert_eq!((node_group.min, node_group.desired, node_group.max), (0, 0, 4));
        assert!(MemberKind::Eks.is_capacity() && !MemberKind::Eks.is_db_cluster());
        assert!(MemberKind::Neptune.is_db_cluster() && MemberKind::DocumentDb.is_db_cluster());
        assert_eq!(MemberKind::DocumentDb.service_name(), "RDS");
    }

    #[test]
    fn phases_of_every_kind() {
        assert_eq!(Phase::of_database("available"), Phase::Up);
        assert_eq!(Phase::of_database("incompatible-parameters"), Phase::Failed);
        assert_eq!(Phase::of_database("backing-up"), Phase::Other);
        assert_eq!(Phase::of_capacity(0, 0, 0), Phase::Down);
        assert_eq!(Phase::of_capacity(0, 0, 2), Phase::Stopping);
        assert_eq!(Phase::of_capacity(3, 2, 3), Phase::Starting);
        assert_eq!(Phase::of_capacity(3, 3, 3), Phase::Up);
    }
}
