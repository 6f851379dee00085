//! Tier members other than EC2 instances, as the core sees them: RDS DB
//! instances and Aurora DB clusters (`TierResourceTypes`). A member is named
//! in reports by its kind and id (`rds:db-1`, `aurora:orders`), in the same
//! lists as instance ids.

use std::fmt;

use serde::{Deserialize, Serialize};

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
}

impl MemberKind {
    /// Every kind, in the order `TierResourceTypes` names them.
    pub const ALL: [MemberKind; 3] = [MemberKind::Ec2, MemberKind::Rds, MemberKind::Aurora];

    /// Reads a `TierResourceTypes` entry (`EC2`, `RDS`, `Aurora`; any case).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The configuration's name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ec2 => "EC2",
            Self::Rds => "RDS",
            Self::Aurora => "Aurora",
        }
    }

    /// The prefix of its members' ids in reports (`rds:db-1`); none for EC2.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Ec2 => "",
            Self::Rds => "rds:",
            Self::Aurora => "aurora:",
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

/// An RDS DB instance or an Aurora DB cluster of the workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    /// [`MemberKind::Rds`] or [`MemberKind::Aurora`].
    pub kind: MemberKind,
    /// `DBInstanceIdentifier` or `DBClusterIdentifier`.
    pub id: String,
    /// RDS's status (`available`, `stopped`, `stopping`, `starting`,
    /// `backing-up`, ...).
    pub status: String,
    /// Value of the workload's tier tag.
    pub tier: String,
    /// The workload's override tag (`OverrideTagName`) and its reason tag.
    #[serde(default)]
    pub override_tag: Option<(String, Option<String>)>,
    /// Why RDS refuses to stop it, when discovery can tell (a read replica,
    /// the source of one, Aurora Serverless v1): a Stop skips it with this
    /// reason rather than failing on RDS's refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cannot_stop: Option<String>,
    /// RDS's `AutomaticRestartTime` of a stopped database (seconds since
    /// the epoch): RDS starts it by itself then, seven days after it
    /// stopped; the next Stop run stops it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts_at: Option<u64>,
}

impl Database {
    /// Its id in reports: `rds:db-1`, `aurora:orders`.
    pub fn member_id(&self) -> String {
        member_id(self.kind, &self.id)
    }
}

/// A member's id in reports: the kind's prefix and the resource's id.
pub fn member_id(kind: MemberKind, id: &str) -> String {
    format!("{}{id}", kind.prefix())
}

/// The kind and resource id of a reported member id (`rds:db-1`); `None`
/// for an instance id.
pub fn parse_member_id(member: &str) -> Option<(MemberKind, &str)> {
    MemberKind::ALL
        .into_iter()
        .filter(|k| !k.prefix().is_empty())
        .find_map(|k| member.strip_prefix(k.prefix()).map(|id| (k, id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_in_any_case_and_ids_round_trip() {
        assert_eq!(MemberKind::parse(" aurora "), Some(MemberKind::Aurora));
        assert_eq!(MemberKind::parse("rds"), Some(MemberKind::Rds));
        assert_eq!(MemberKind::parse("ECS"), None);
        assert_eq!(member_id(MemberKind::Rds, "db-1"), "rds:db-1");
        assert_eq!(parse_member_id("aurora:orders"), Some((MemberKind::Aurora, "orders")));
        assert_eq!(parse_member_id("i-0abc"), None);
    }
}
