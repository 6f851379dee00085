//! RDS adapter: the workload's RDS DB instances (those outside a cluster)
//! and Aurora, DocumentDB and Neptune DB clusters (the three share the RDS
//! API: DescribeDBClusters lists them all, StopDBCluster and
//! StartDBCluster act on them), found by their tags in the `TagList` that
//! DescribeDBInstances and DescribeDBClusters return (no per-resource
//! ListTagsForResource), each cluster's kind by its engine, stopped and
//! started one at a time, and their statuses read through the identifier
//! filters.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_rds::types::{Filter, Tag};
use aws_sdk_rds::Client;

use super::{cloud_error, tagged_member};
use crate::error::CloudError;
use crate::instance::Discovery;
use crate::member::{Member, MemberKind, MemberStatus, Phase};
use crate::ports::MemberService;

/// The largest page DescribeDBInstances / DescribeDBClusters return.
const MAX_RECORDS: i32 = 100;
/// RDS allows up to 100 values in one filter.
const FILTER_VALUES: usize = 100;
/// The engine prefix of Aurora clusters (`aurora-mysql`,
/// `aurora-postgresql`).
const AURORA_ENGINE_PREFIX: &str = "aurora";

/// The kind of a DB cluster of `engine`: Aurora (`aurora*`), DocumentDB
/// (`docdb`) or Neptune (`neptune`); `None` for the others
/// DescribeDBClusters lists (Multi-AZ DB clusters of `mysql` or
/// `postgres`, which RDS cannot stop), never members.
fn cluster_kind(engine: &str) -> Option<MemberKind> {
    match engine {
        "docdb" => Some(MemberKind::DocumentDb),
        "neptune" => Some(MemberKind::Neptune),
        e if e.starts_with(AURORA_ENGINE_PREFIX) => Some(MemberKind::Aurora),
        _ => None,
    }
}

/// [`MemberService`] for RDS DB instances and Aurora, DocumentDB and
/// Neptune DB clusters, on an RDS client.
#[derive(Clone, Debug)]
pub struct RdsDatabases {
    client: Client,
}

/// A workload's database as a Describe call lists it, before the VPC check.
struct Candidate {
    database: Member,
    /// The VPC id (DB instances) or the DB subnet group's name (clusters).
    network: Option<String>,
}

impl RdsDatabases {
    /// Wraps a client for the workload's account and region.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// DescribeDBInstances, every page: the workload's DB instances that are
    /// not part of a cluster, with their VPC.
    async fn instances(&self, query: &Discovery) -> Result<Vec<Candidate>, CloudError> {
        let mut pages = self
            .client
            .describe_db_instances()
            .max_records(MAX_RECORDS)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("rds", "DescribeDBInstances", e))?;
            for db in page.db_instances() {
                // A cluster member is stopped and started with its cluster.
                let (Some(id), None) = (db.db_instance_identifier(), db.db_cluster_identifier()) else {
                    continue;
                };
                if let Some(mut database) = member(query, MemberKind::Rds, id, db.db_instance_status(), db.tag_list()) {
                    database.cannot_stop = instance_refusal(db);
                    database.restarts_at = db.automatic_restart_time().map(epoch_secs);
                    let network = db.db_subnet_group().and_then(|g| g.vpc_id()).map(str::to_string);
                    found.push(Candidate { database, network });
                }
            }
        }
        Ok(found)
    }

    /// DescribeDBClusters, every page: the workload's clusters of `kinds`
    /// (by engine), with the name of their DB subnet group.
    async fn clusters(&self, query: &Discovery, kinds: &[MemberKind]) -> Result<Vec<Candidate>, CloudError> {
        let mut pages = self
            .client
            .describe_db_clusters()
            .max_records(MAX_RECORDS)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("rds", "DescribeDBClusters", e))?;
            for cluster in page.db_clusters() {
                let kind = cluster.engine().and_then(cluster_kind).filter(|k| kinds.contains(k));
                let (Some(kind), Some(id)) = (kind, cluster.db_cluster_identifier()) else {
                    continue;
                };
                if let Some(mut database) = member(query, kind, id, cluster.status(), cluster.tag_list()) {
                    database.restarts_at = cluster.automatic_restart_time().map(epoch_secs);
                    let serverless_v1 = kind == MemberKind::Aurora && cluster.engine_mode() == Some("serverless");
                    database.cannot_stop = serverless_v1
                        .then(|| "Aurora Serverless v1: RDS cannot stop it (it scales to zero by itself)".to_string());
                    let network = cluster.db_subnet_group().map(str::to_string);
                    found.push(Candidate { database, network });
                }
            }
        }
        Ok(found)
    }

    /// DescribeDBSubnetGroups, every page: the VPC of each DB subnet group.
    async fn subnet_group_vpcs(&self) -> Result<HashMap<String, String>, CloudError> {
        let mut pages = self
            .client
            .describe_db_subnet_groups()
            .max_records(MAX_RECORDS)
            .into_paginator()
            .send();
        let mut vpcs = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("rds", "DescribeDBSubnetGroups", e))?;
            for group in page.db_subnet_groups() {
                if let (Some(name), Some(vpc)) = (group.db_subnet_group_name(), group.vpc_id()) {
                    vpcs.insert(name.to_string(), vpc.to_string());
                }
            }
        }
        Ok(vpcs)
    }

    /// DescribeDBInstances of `ids` (the `db-instance-id` filter, 100 a call).
    async fn instance_statuses(&self, ids: &[String]) -> Result<Vec<(String, String)>, CloudError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(FILTER_VALUES) {
            let mut pages = self
                .client
                .describe_db_instances()
                .filters(filter("db-instance-id", chunk))
                .max_records(MAX_RECORDS)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("rds", "DescribeDBInstances", e))?;
                out.extend(page.db_instances().iter().filter_map(|db| {
                    Some((
                        db.db_instance_identifier()?.to_string(),
                        db.db_instance_status()?.to_string(),
                    ))
                }));
            }
        }
        Ok(out)
    }

    /// DescribeDBClusters of `ids` (the `db-cluster-id` filter, 100 a call).
    async fn cluster_statuses(&self, ids: &[String]) -> Result<Vec<(String, String)>, CloudError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(FILTER_VALUES) {
            let mut pages = self
                .client
                .describe_db_clusters()
                .filters(filter("db-cluster-id", chunk))
                .max_records(MAX_RECORDS)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("rds", "DescribeDBClusters", e))?;
                out.extend(
                    page.db_clusters()
                        .iter()
                        .filter_map(|c| Some((c.db_cluster_identifier()?.to_string(), c.status()?.to_string()))),
                );
            }
        }
        Ok(out)
    }
}

/// Why RDS refuses StopDBInstance for `db`, when its description says:
/// read replicas and their sources cannot be stopped.
fn instance_refusal(db: &aws_sdk_rds::types::DbInstance) -> Option<String> {
    if let Some(source) = db.read_replica_source_db_instance_identifier() {
        return Some(format!("a read replica of {source}: RDS cannot stop it"));
    }
    let replicas = db.read_replica_db_instance_identifiers();
    (!replicas.is_empty()).then(|| {
        format!(
            "the source of read replica(s) {}: RDS cannot stop it",
            replicas.join(", ")
        )
    })
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.to_vec())).build()
}

/// The database when its tags make it the workload's: the workload tag
/// with the exact value and the tier tag (its value is the tier), with the
/// override tag and its reason.
fn member(query: &Discovery, kind: MemberKind, id: &str, status: Option<&str>, tags: &[Tag]) -> Option<Member> {
    let status = status.unwrap_or_default();
    let state = MemberStatus {
        id: id.to_string(),
        status: status.to_string(),
        phase: Phase::of_database(status),
    };
    tagged_member(query, kind, &state, |key| {
        tags.iter()
            .find(|t| t.key() == Some(key))
            .map(|t| t.value().unwrap_or_default().to_string())
    })
}

/// An SDK time as seconds since the epoch (0 before it).
fn epoch_secs(t: &aws_sdk_rds::primitives::DateTime) -> u64 {
    u64::try_from(t.secs()).unwrap_or(0)
}

/// The refusal of a member of another kind handed to RDS (a caller's
/// bug): no call is made.
fn not_a_database(operation: &'static str, id: &str) -> CloudError {
    let message = format!("{id} is not an RDS DB instance or an Aurora, DocumentDB or Neptune DB cluster");
    CloudError::new("rds", operation, Some("NotADatabase"), message)
}

#[async_trait]
impl MemberService for RdsDatabases {
    async fn discover(&self, query: &Discovery, kinds: &[MemberKind]) -> Result<Vec<Member>, CloudError> {
        let mut found = Vec::new();
        if kinds.contains(&MemberKind::Rds) {
            let instances = self.instances(query).await?;
            found.extend(
                instances
                    .into_iter()
                    .filter(|c| query.vpc_id.is_none() || c.network == query.vpc_id)
                    .map(|c| c.database),
            );
        }
        if kinds.iter().any(|k| k.is_db_cluster()) {
            let clusters = self.clusters(query, kinds).await?;
            // A cluster names its DB subnet group: its VPC is the group's.
            let vpcs = match &query.vpc_id {
                Some(_) if !clusters.is_empty() => self.subnet_group_vpcs().await?,
                _ => HashMap::new(),
            };
            found.extend(
                clusters
                    .into_iter()
                    .filter(|c| {
                        query.vpc_id.is_none()
                            || c.network.as_ref().and_then(|name| vpcs.get(name)) == query.vpc_id.as_ref()
                    })
                    .map(|c| c.database),
            );
        }
        Ok(found)
    }

    async fn stop(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        match kind {
            MemberKind::Rds => self
                .client
                .stop_db_instance()
                .db_instance_identifier(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| cloud_error("rds", "StopDBInstance", e)),
            k if k.is_db_cluster() => self
                .client
                .stop_db_cluster()
                .db_cluster_identifier(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| cloud_error("rds", "StopDBCluster", e)),
            _ => Err(not_a_database("StopDBInstance", id)),
        }
    }

    async fn start(&self, kind: MemberKind, id: &str) -> Result<(), CloudError> {
        match kind {
            MemberKind::Rds => self
                .client
                .start_db_instance()
                .db_instance_identifier(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| cloud_error("rds", "StartDBInstance", e)),
            k if k.is_db_cluster() => self
                .client
                .start_db_cluster()
                .db_cluster_identifier(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| cloud_error("rds", "StartDBCluster", e)),
            _ => Err(not_a_database("StartDBInstance", id)),
        }
    }

    async fn statuses(&self, kind: MemberKind, ids: &[String]) -> Result<Vec<MemberStatus>, CloudError> {
        let found = match kind {
            MemberKind::Rds => self.instance_statuses(ids).await?,
            k if k.is_db_cluster() => self.cluster_statuses(ids).await?,
            _ => return Err(not_a_database("DescribeDBInstances", &ids.join(","))),
        };
        Ok(found
            .into_iter()
            .map(|(id, status)| MemberStatus {
                id,
                phase: Phase::of_database(&status),
                status,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cluster_engine_is_its_own_kind_and_multi_az_clusters_none() {
        assert_eq!(cluster_kind("aurora-postgresql"), Some(MemberKind::Aurora));
        assert_eq!(cluster_kind("aurora-mysql"), Some(MemberKind::Aurora));
        assert_eq!(cluster_kind("docdb"), Some(MemberKind::DocumentDb));
        assert_eq!(cluster_kind("neptune"), Some(MemberKind::Neptune));
        assert_eq!(cluster_kind("postgres"), None);
        assert_eq!(cluster_kind("mysql"), None);
    }
}
