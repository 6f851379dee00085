//! Tier members other than instances in the in-memory cloud: RDS DB
//! instances and Aurora, DocumentDB and Neptune DB clusters whose stops and
//! starts take their time on tokio's clock (an RDS start takes minutes),
//! refused as RDS refuses them; and Auto Scaling groups, ECS services and
//! EKS node groups whose capacity is recorded in the run ledger, set to 0
//! (a node group keeps its max: EKS refuses 0, as here) and restored,
//! their instances or tasks coming and going over time.

use std::time::Duration;

use async_trait::async_trait;
use ec2_tier_scheduler::error::CloudError;
use ec2_tier_scheduler::instance::Discovery;
use ec2_tier_scheduler::member::{Capacity, Member, MemberKind, MemberStatus, Phase, AVAILABLE, CAPACITY_TAG, STOPPED};
use ec2_tier_scheduler::override_tag::OVERRIDE_REASON_TAG;
use ec2_tier_scheduler::ports::MemberService;
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

    /// A database RDS is starting by itself: `starting`, then `available`
    /// after `took`.
    pub fn starting_by_itself(&self, kind: MemberKind, id: &str, took: Duration) {
        let mut s = self.lock();
        let db = s.databases.get_mut(&(kind, id.to_string())).expect("a database");
        db.status = "starting".into();
        db.settles = Some((Instant::now() + took, "available".into()));
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
        k if k.is_db_cluster() => "DBClusterNotFoundFault",
        _ => "DBInstanceNotFound",
    }
}

fn invalid_state(kind: MemberKind) -> &'static str {
    match kind {
        k if k.is_db_cluster() => "InvalidDBClusterStateFault",
        _ => "InvalidDBInstanceState",
    }
}

fn operation(kind: MemberKind, stop: bool) -> &'static str {
    match (kind, stop) {
        (k, true) if k.is_db_cluster() => "StopDBCluster",
        (k, false) if k.is_db_cluster() => "StartDBCluster",
        (_, true) => "StopDBInstance",
        (_, false) => "StartDBInstance",
    }
}

impl FakeDatabase {
    fn member(&self, query: &Discovery) -> Member {
        Member {
            override_tag: self
                .tags
                .get(&query.override_tag_key)
                .map(|t| (t.clone(), self.tags.get(OVERRIDE_REASON_TAG).cloned())),
            ..Member::new(
                self.kind,
                &self.id,
                &self.status,
                Phase::of_database(&self.status),
                &self.tags[&query.tier_tag_key],
            )
        }
    }
}

/// An Auto Scaling group or an ECS service.
#[derive(Debug, Clone)]
pub struct FakeCapacity {
    pub kind: MemberKind,
    pub id: String,
    pub capacity: Capacity,
    /// InService instances or running tasks.
    pub serving: u32,
    /// Instances or tasks there at all.
    pub present: u32,
    pub tags: std::collections::BTreeMap<String, String>,
    pub vpc: String,
    /// When `serving`/`present` reach the capacity.
    pub settles: Option<Instant>,
    /// What would undo a stop (scheduled actions, service auto scaling).
    pub undoers: Vec<String>,
}

impl FakeCapacity {
    fn settle(&mut self, now: Instant) {
        if self.settles.is_some_and(|at| now >= at) {
            self.serving = self.capacity.desired;
            self.present = self.capacity.desired;
            self.settles = None;
        }
    }

    fn status(&self) -> MemberStatus {
        let noun = match self.kind {
            MemberKind::Asg | MemberKind::Eks => "InService",
            _ => "running",
        };
        let phase = Phase::of_capacity(self.capacity.desired, self.serving, self.present);
        // A node group is UPDATING while its update settles: up only ACTIVE.
        let (phase, state) = match (self.kind, self.settles.is_some()) {
            (MemberKind::Eks, true) if phase == Phase::Up => (Phase::Starting, "UPDATING, "),
            (MemberKind::Eks, true) => (phase, "UPDATING, "),
            (MemberKind::Eks, false) => (phase, "ACTIVE, "),
            _ => (phase, ""),
        };
        MemberStatus {
            id: self.id.clone(),
            status: format!("{state}{}, {} {noun}", self.capacity, self.serving),
            phase,
        }
    }

    fn member(&self, query: &Discovery) -> Member {
        let status = self.status();
        Member {
            override_tag: self
                .tags
                .get(&query.override_tag_key)
                .map(|t| (t.clone(), self.tags.get(OVERRIDE_REASON_TAG).cloned())),
            recorded: self
                .tags
                .get(CAPACITY_TAG)
                .and_then(|v| Capacity::from_tag(self.kind, v)),
            undoers: self.undoers.clone(),
            ..Member::new(
                self.kind,
                &self.id,
                &status.status,
                status.phase,
                &self.tags[&query.tier_tag_key],
            )
        }
    }
}

impl FakeCloud {
    /// Adds a group (`Asg`, min/desired/max) or a service (`Ecs`, desired
    /// only) at that capacity, all of it serving, tagged `Environment=env`,
    /// `Role=tier`.
    pub fn add_capacity(&self, kind: MemberKind, id: &str, env: &str, tier: &str, capacity: Capacity) {
        let tags = [("Environment", env), ("Role", tier)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.lock().capacities.insert(
            (kind, id.to_string()),
            FakeCapacity {
                kind,
                id: id.to_string(),
                capacity,
                serving: capacity.desired,
                present: capacity.desired,
                tags,
                vpc: "vpc-1".into(),
                settles: None,
                undoers: Vec::new(),
            },
        );
    }

    /// Sets a group, service or node group to 0 as a Stop by the scheduler
    /// leaves it (a node group keeps its max): its capacity recorded in the
    /// run ledger (for workload W), nothing serving.
    pub fn scaled_to_zero(&self, kind: MemberKind, id: &str) {
        let capacity = {
            let mut s = self.lock();
            let c = s
                .capacities
                .get_mut(&(kind, id.to_string()))
                .expect("a group or service");
            let was = c.capacity;
            c.capacity = was.stopped(kind);
            (c.serving, c.present) = (0, 0);
            was
        };
        self.record_capacity(kind, id, capacity);
    }

    /// Puts a capacity record tag on a group or service (an earlier
    /// version's, or a forgery).
    pub fn tag_capacity(&self, kind: MemberKind, id: &str, value: &str) {
        let mut s = self.lock();
        let c = s
            .capacities
            .get_mut(&(kind, id.to_string()))
            .expect("a group or service");
        c.tags.insert(CAPACITY_TAG.into(), value.into());
    }

    /// Sets a group's or service's capacity behind the scheduler's back (a
    /// scheduled action), all of it serving at once.
    pub fn set_capacity_now(&self, kind: MemberKind, id: &str, capacity: Capacity) {
        let mut s = self.lock();
        let c = s
            .capacities
            .get_mut(&(kind, id.to_string()))
            .expect("a group or service");
        c.capacity = capacity;
        (c.serving, c.present) = (capacity.desired, capacity.desired);
    }

    /// A group's or service's capacity, serving count and ledger record now.
    pub fn capacity(&self, kind: MemberKind, id: &str) -> (Capacity, u32, Option<String>) {
        let now = Instant::now();
        let (capacity, serving) = {
            let mut s = self.lock();
            let c = s
                .capacities
                .get_mut(&(kind, id.to_string()))
                .expect("a group or service");
            c.settle(now);
            (c.capacity, c.serving)
        };
        (capacity, serving, self.capacity_record(kind, id))
    }

    /// Sets the capacity; instances or tasks follow after the start or
    /// stop time.
    fn scale(&self, kind: MemberKind, id: &str, to: Capacity) -> Result<(), CloudError> {
        let now = Instant::now();
        let (service, op) = capacity_operation(kind);
        let mut s = self.lock();
        let stop = to.desired == 0;
        let took = if stop {
            s.database_times.stop
        } else {
            s.database_times.start
        };
        let Some(c) = s.capacities.get_mut(&(kind, id.to_string())) else {
            return Err(CloudError::new(
                service,
                op,
                Some("NotFound"),
                format!("{id} not found"),
            ));
        };
        // EKS refuses a node group's max of 0 and any min > desired > max.
        let eks_refuses = to.max == 0 || to.min > to.desired || to.desired > to.max;
        if kind == MemberKind::Eks && eks_refuses {
            return Err(CloudError::new(
                service,
                op,
                Some("InvalidParameterException"),
                format!("scaling config {to} of {id}: maxSize must be 1 or more, min <= desired <= max"),
            ));
        }
        c.settle(now);
        c.capacity = to;
        if stop {
            c.serving = 0;
        }
        c.settles = Some(now + took);
        Ok(())
    }
}

fn capacity_operation(kind: MemberKind) -> (&'static str, &'static str) {
    match kind {
        MemberKind::Asg => ("autoscaling", "UpdateAutoScalingGroup"),
        MemberKind::Eks => ("eks", "UpdateNodegroupConfig"),
        _ => ("ecs", "UpdateService"),
    }
}

fn describe_operation(kind: MemberKind) -> &'static str {
    match kind {
        k if k.is_db_cluster() => "DescribeDBClusters",
        MemberKind::Eks => "DescribeNodegroup",
        MemberKind::Asg => "DescribeAutoScalingGroups",
        MemberKind::Ecs => "DescribeServices",
        _ => "DescribeDBInstances",
    }
}

#[async_trait]
impl MemberService for FakeCloud {
    async fn discover(&self, query: &Discovery, kinds: &[MemberKind]) -> Result<Vec<Member>, CloudError> {
        for kind in kinds {
            self.record(describe_operation(*kind), &[]).await?;
        }
        let now = Instant::now();
        let (k, v) = &query.workload_tag;
        let ours = |tags: &std::collections::BTreeMap<String, String>, vpc: &String| {
            tags.get(k) == Some(v)
                && tags.contains_key(&query.tier_tag_key)
                && query.vpc_id.as_ref().is_none_or(|want| want == vpc)
        };
        let mut s = self.lock();
        let mut found: Vec<Member> = s
            .databases
            .values_mut()
            .filter(|d| kinds.contains(&d.kind) && ours(&d.tags, &d.vpc))
            .map(|d| {
                d.settle(now);
                d.member(query)
            })
            .collect();
        found.extend(
            s.capacities
                .values_mut()
                .filter(|c| kinds.contains(&c.kind) && ours(&c.tags, &c.vpc))
                .map(|c| {
                    c.settle(now);
                    c.member(query)
                }),
        );
        Ok(found)
    }

    async fn capacity(&self, kind: MemberKind, id: &str) -> Result<Capacity, CloudError> {
        self.record(describe_operation(kind), &[id.to_string()]).await?;
        let now = Instant::now();
        let mut s = self.lock();
        let c = s.capacities.get_mut(&(kind, id.to_string())).ok_or_else(|| {
            CloudError::new(
                capacity_operation(kind).0,
                describe_operation(kind),
                Some("NotFound"),
                format!("{id} not found"),
            )
        })?;
        c.settle(now);
        Ok(c.capacity)
    }

    async fn set_capacity(&self, kind: MemberKind, id: &str, to: Capacity) -> Result<(), CloudError> {
        self.record(capacity_operation(kind).1, &[id.to_string()]).await?;
        self.scale(kind, id, to)
    }

    async fn stop(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        assert!(
            !kind.is_capacity(),
            "groups and services are scaled through set_capacity"
        );
        let op = operation(kind, true);
        self.record(op, &[id.to_string()]).await?;
        let took = self.lock().database_times.stop;
        self.transition_database(kind, id, (AVAILABLE, "stopping", STOPPED), op, took)
    }

    async fn start(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        assert!(
            !kind.is_capacity(),
            "groups and services are scaled through set_capacity"
        );
        let op = operation(kind, false);
        self.record(op, &[id.to_string()]).await?;
        let took = self.lock().database_times.start;
        self.transition_database(kind, id, (STOPPED, "starting", AVAILABLE), op, took)
    }

    async fn statuses(&self, kind: MemberKind, ids: &[String]) -> Result<Vec<MemberStatus>, CloudError> {
        let per_call = match kind {
            MemberKind::Ecs => 10,
            MemberKind::Eks => 1,
            _ => 100,
        };
        let requests: Vec<usize> = ids.chunks(per_call).map(<[_]>::len).collect();
        self.call(describe_operation(kind), ids, &requests).await?;
        let now = Instant::now();
        let mut s = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| {
                if kind.is_capacity() {
                    let c = s.capacities.get_mut(&(kind, id.clone()))?;
                    c.settle(now);
                    return Some(c.status());
                }
                let db = s.databases.get_mut(&(kind, id.clone()))?;
                db.settle(now);
                Some(MemberStatus {
                    id: id.clone(),
                    status: db.status.clone(),
                    phase: Phase::of_database(&db.status),
                })
            })
            .collect())
    }
}
