//! RDS DB instances and Aurora DB clusters in the in-memory cloud: tagged
//! databases whose stops and starts take their time on tokio's clock (an
//! RDS start takes minutes), refused as RDS refuses them.

use std::time::Duration;

use async_trait::async_trait;
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::instance::Discovery;
use ec2_tier_scheduler::member::{Database, MemberKind, AVAILABLE, STOPPED};
use ec2_tier_scheduler::override_tag::OVERRIDE_REASON_TAG;
use ec2_tier_scheduler::ports::Databases;
use tokio::time::Instant;

use super::FakeCloud;

/// One database.
#[derive(Debug, Clone)]
pub struct FakeDatabase {
    pub kind: MemberKind,
    pub id: String,
    pub status: String,
    pub tags: std::collections::BTreeMap<String, String>,
    pub vpc: String,
    /// A transition in progress: the status reached at the instant.
    pub settles: Option<(Instant, String)>,
    /// RDS refuses to stop it, with this code (a read replica, a member of
    /// a global database, ...).
    pub refuses_stop: Option<&'static str>,
}

/// How long database transitions take.
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseTimes {
    pub stop: Duration,
    pub start: Duration,
}

impl FakeDatabase {
    fn settle(&mut self, now: Instant) {
        if let Some((at, to)) = &self.settles {
            if now >= *at {
                self.status = to.clone();
                self.settles = None;
            }
        }
    }
}

impl FakeCloud {
    /// Adds a database of `kind` in `status`, tagged `Environment=env`, `Role=tier`.
    pub fn add_database(&self, kind: MemberKind, id: &str, env: &str, tier: &str, status: &str) {
        let tags = [("Environment", env), ("Role", tier)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.lock().databases.insert(
            (kind, id.to_string()),
            FakeDatabase {
                kind,
                id: id.to_string(),
                status: status.to_string(),
                tags,
                vpc: "vpc-1".into(),
                settles: None,
                refuses_stop: None,
            },
        );
    }

    /// RDS's status of a database now.
    pub fn database_status(&self, kind: MemberKind, id: &str) -> String {
        let now = Instant::now();
        let mut s = self.lock();
        let db = s.databases.get_mut(&(kind, id.to_string())).expect("a database");
        db.settle(now);
        db.status.clone()
    }

    /// StopDB*/StartDB* of one database: from `from`, via `via`, to `to`
    /// after `took`; RDS's state errors otherwise.
    fn transition_database(
        &self,
        kind: MemberKind,
        id: &str,
        (from, via, to): (&str, &str, &str),
        op: &'static str,
        took: Duration,
    ) -> Result<(), CloudError> {
        let now = Instant::now();
        let mut s = self.lock();
        let Some(db) = s.databases.get_mut(&(kind, id.to_string())) else {
            return Err(CloudError::new(
                "rds",
                op,
                Some(not_found(kind)),
                format!("{id} not found"),
            ));
        };
        db.settle(now);
        if let (Some(code), true) = (db.refuses_stop, op.starts_with("Stop")) {
            return Err(CloudError::new(
                "rds",
                op,
                Some(code),
                format!("{id} cannot be stopped"),
            ));
        }
        if db.status != from {
            return Err(CloudError::new(
                "rds",
                op,
                Some(invalid_state(kind)),
                format!("DB {id} is not in {from} state (it is {})", db.status),
            ));
        }
        db.status = via.to_string();
        db.settles = Some((now + took, to.to_string()));
        Ok(())
    }
}

fn not_found(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::Aurora => "DBClusterNotFoundFault",
        _ => "DBInstanceNotFound",
    }
}

fn invalid_state(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::Aurora => "InvalidDBClusterStateFault",
        _ => "InvalidDBInstanceState",
    }
}

fn operation(kind: MemberKind, stop: bool) -> &'static str {
    match (kind, stop) {
        (MemberKind::Aurora, true) => "StopDBCluster",
        (MemberKind::Aurora, false) => "StartDBCluster",
        (_, true) => "StopDBInstance",
        (_, false) => "StartDBInstance",
    }
}

#[async_trait]
impl Databases for FakeCloud {
    async fn discover(&self, query: &Discovery, kinds: &[MemberKind]) -> Result<Vec<Database>, CloudError> {
        for kind in kinds {
            let op = if *kind == MemberKind::Aurora {
                "DescribeDBClusters"
            } else {
                "DescribeDBInstances"
            };
            self.record(op, &[]).await?;
        }
        let now = Instant::now();
        let (k, v) = &query.workload_tag;
        let mut s = self.lock();
        Ok(s.databases
            .values_mut()
            .filter(|d| kinds.contains(&d.kind))
            .filter(|d| d.tags.get(k) == Some(v) && d.tags.contains_key(&query.tier_tag_key))
            .filter(|d| query.vpc_id.as_ref().is_none_or(|vpc| *vpc == d.vpc))
            .map(|d| {
                d.settle(now);
                Database {
                    kind: d.kind,
                    id: d.id.clone(),
                    status: d.status.clone(),
                    tier: d.tags[&query.tier_tag_key].clone(),
                    override_tag: d
                        .tags
                        .get(&query.override_tag_key)
                        .map(|t| (t.clone(), d.tags.get(OVERRIDE_REASON_TAG).cloned())),
                    cannot_stop: None,
                    restarts_at: None,
                }
            })
            .collect())
    }

    async fn stop(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        let op = operation(kind, true);
        self.record(op, &[id.to_string()]).await?;
        let took = self.lock().database_times.stop;
        self.transition_database(kind, id, (AVAILABLE, "stopping", STOPPED), op, took)
    }

    async fn start(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        let op = operation(kind, false);
        self.record(op, &[id.to_string()]).await?;
        let took = self.lock().database_times.start;
        self.transition_database(kind, id, (STOPPED, "starting", AVAILABLE), op, took)
    }

    async fn statuses(&self, kind: MemberKind, ids: &[String]) -> Result<Vec<(String, String)>, CloudError> {
        let op = if kind == MemberKind::Aurora {
            "DescribeDBClusters"
        } else {
            "DescribeDBInstances"
        };
        let requests: Vec<usize> = ids.chunks(100).map(<[_]>::len).collect();
        self.call(op, ids, &requests).await?;
        let now = Instant::now();
        let mut s = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| {
                let db = s.databases.get_mut(&(kind, id.clone()))?;
                db.settle(now);
                Some((id.clone(), db.status.clone()))
            })
            .collect())
    }
}
