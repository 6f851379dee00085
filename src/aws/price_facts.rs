//! What prices the members a Stop stopped ([`Facts`]), read in the
//! workload's account and region after the run acted, never from tags:
//!
//! - EC2 instances: one DescribeInstances per 200 ids (type, tenancy,
//!   `UsageOperation`, Spot), then one DescribeVolumes per 200 of their
//!   EBS volumes (type and size: they still bill);
//! - RDS DB instances: DescribeDBInstances (class, engine, Multi-AZ,
//!   licence model, allocated storage); DB clusters: DescribeDBInstances filtered by
//!   `db-cluster-id` (each instance's class);
//! - Auto Scaling groups: DescribeAutoScalingGroups, then the launch
//!   template version (ec2 DescribeLaunchTemplateVersions) or the launch
//!   configuration; a mixed-instances policy is `unknown`;
//! - EKS node groups: DescribeNodegroup (one instance type, or the launch
//!   template's); Spot and several types are `unknown`;
//! - ECS services: DescribeServices, then DescribeTaskDefinition of a
//!   Fargate service (CPU, memory, architecture); ECS on EC2 is `unknown`
//!   (the instances bill).
//!
//! A call that fails makes its members `unknown` with the error.

use std::collections::HashMap;

use async_trait::async_trait;

use super::cloud_error;
use crate::member::MemberKind;
use crate::ports::PriceFacts;
use crate::savings::{Facts, Storage};

/// The EBS volume ids of instance `i`.
fn volumes_of(i: &aws_sdk_ec2::types::Instance) -> Vec<String> {
    i.block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs()?.volume_id().map(str::to_string))
        .collect()
}

/// [`PriceFacts`] on the workload's EC2, RDS, Auto Scaling, EKS and ECS.
#[derive(Clone, Debug)]
pub struct AwsPriceFacts {
    /// EC2 (instances, launch templates).
    pub ec2: aws_sdk_ec2::Client,
    /// RDS.
    pub rds: aws_sdk_rds::Client,
    /// Auto Scaling.
    pub asg: aws_sdk_autoscaling::Client,
    /// EKS.
    pub eks: aws_sdk_eks::Client,
    /// ECS.
    pub ecs: aws_sdk_ecs::Client,
}

#[async_trait]
impl PriceFacts for AwsPriceFacts {
    async fn facts(&self, members: &[(MemberKind, String)]) -> Vec<Facts> {
        let ids: Vec<String> = members
            .iter()
            .filter(|(k, _)| *k == MemberKind::Ec2)
            .map(|(_, id)| id.clone())
            .collect();
        let instances = self.instances(&ids).await;
        let mut out = Vec::with_capacity(members.len());
        for (kind, id) in members {
            let facts = match kind {
                MemberKind::Ec2 => instances
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| Facts::unknown("instance not described")),
                MemberKind::Rds => self.database(id).await,
                MemberKind::Aurora | MemberKind::DocumentDb | MemberKind::Neptune => self.cluster(id).await,
                MemberKind::Asg => self.group(id).await,
                MemberKind::Eks => self.node_group(id).await,
                MemberKind::Ecs => self.service(id).await,
            };
            out.push(facts);
        }
        out
    }
}

fn failed(service: &'static str, op: &'static str, e: impl std::fmt::Display) -> Facts {
    Facts::unknown(format!("{service} {op} failed: {e}"))
}

impl AwsPriceFacts {
    async fn instances(&self, ids: &[String]) -> HashMap<String, Facts> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(200) {
            let answer = self
                .ec2
                .describe_instances()
                .set_instance_ids(Some(chunk.to_vec()))
                .send()
                .await;
            let reservations = match answer {
                Ok(a) => a.reservations.unwrap_or_default(),
                Err(e) => {
                    let e = cloud_error("ec2", "DescribeInstances", e);
                    out.extend(
                        chunk
                            .iter()
                            .map(|id| (id.clone(), failed("EC2", "DescribeInstances", &e))),
                    );
                    continue;
                }
            };
            let instances: Vec<_> = reservations.iter().flat_map(|r| r.instances()).collect();
            let volume_ids: Vec<String> = instances.iter().flat_map(|i| volumes_of(i)).collect();
            let volumes = self.volumes(&volume_ids).await;
            for i in instances {
                let mut storage = Storage::new();
                for (kind, gib) in volumes_of(i).iter().filter_map(|v| volumes.get(v)) {
                    *storage.entry(kind.clone()).or_default() += gib;
                }
                let facts = Facts::Instance {
                    instance_type: i.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                    tenancy: i
                        .placement()
                        .and_then(|p| p.tenancy())
                        .map_or("default", |t| t.as_str())
                        .to_string(),
                    usage_operation: i.usage_operation().unwrap_or("RunInstances").to_string(),
                    spot: i.instance_lifecycle().is_some_and(|l| l.as_str() == "spot"),
                    storage,
                };
                out.insert(i.instance_id().unwrap_or_default().to_string(), facts);
            }
        }
        out
    }

    /// The type and size (GiB) of each of `ids`, 200 a request; volumes
    /// not read are left out (the report then names EBS volumes without
    /// their sizes).
    async fn volumes(&self, ids: &[String]) -> HashMap<String, (String, u64)> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(200) {
            let answer = self
                .ec2
                .describe_volumes()
                .set_volume_ids(Some(chunk.to_vec()))
                .send()
                .await;
            match answer {
                Ok(a) => out.extend(a.volumes().iter().map(|v| {
                    let kind = v.volume_type().map_or("unknown type", |t| t.as_str());
                    let gib = v.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                    (v.volume_id().unwrap_or_default().to_string(), (kind.to_string(), gib))
                })),
                Err(e) => {
                    tracing::warn!(error = %cloud_error("ec2", "DescribeVolumes", e), "EBS volumes not read: their sizes are not shown")
                }
            }
        }
        out
    }

    async fn database(&self, id: &str) -> Facts {
        let answer = self.rds.describe_db_instances().db_instance_identifier(id).send().await;
        let db = match answer {
            Ok(a) => a.db_instances.unwrap_or_default().into_iter().next(),
            Err(e) => {
                return failed(
                    "RDS",
                    "DescribeDBInstances",
                    cloud_error("rds", "DescribeDBInstances", e),
                )
            }
        };
        let Some(db) = db else {
            return Facts::unknown("database not found");
        };
        Facts::Database {
            class: db.db_instance_class().unwrap_or_default().to_string(),
            engine: db.engine().unwrap_or_default().to_string(),
            multi_az: db.multi_az().unwrap_or(false),
            license_model: db.license_model().unwrap_or_default().to_string(),
            storage: db
                .allocated_storage()
                .and_then(|gib| u64::try_from(gib).ok())
                .filter(|gib| *gib > 0)
                .map(|gib| Storage::from([(db.storage_type().unwrap_or("unknown type").to_string(), gib)]))
                .unwrap_or_default(),
        }
    }

    async fn cluster(&self, id: &str) -> Facts {
        let filter = aws_sdk_rds::types::Filter::builder()
            .name("db-cluster-id")
            .values(id)
            .build();
        let answer = self.rds.describe_db_instances().filters(filter).send().await;
        let dbs = match answer {
            Ok(a) => a.db_instances.unwrap_or_default(),
            Err(e) => {
                return failed(
                    "RDS",
                    "DescribeDBInstances",
                    cloud_error("rds", "DescribeDBInstances", e),
                )
            }
        };
        let Some(engine) = dbs.first().and_then(|d| d.engine()) else {
            return Facts::unknown("a cluster with no instances");
        };
        Facts::Cluster {
            engine: engine.to_string(),
            classes: dbs
                .iter()
                .map(|d| d.db_instance_class().unwrap_or_default().to_string())
                .collect(),
        }
    }

    async fn group(&self, name: &str) -> Facts {
        let answer = self
            .asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await;
        let group = match answer {
            Ok(a) => a.auto_scaling_groups.unwrap_or_default().into_iter().next(),
            Err(e) => {
                let e = cloud_error("autoscaling", "DescribeAutoScalingGroups", e);
                return failed("Auto Scaling", "DescribeAutoScalingGroups", e);
            }
        };
        let Some(group) = group else {
            return Facts::unknown("group not found");
        };
        if group.mixed_instances_policy().is_some() {
            return Facts::unknown("mixed instances: no one type");
        }
        if let Some(t) = group.launch_template() {
            return self
                .template_type(t.launch_template_id(), t.launch_template_name(), t.version())
                .await;
        }
        let Some(config) = group.launch_configuration_name() else {
            return Facts::unknown("no launch template or configuration");
        };
        let answer = self
            .asg
            .describe_launch_configurations()
            .launch_configuration_names(config)
            .send()
            .await;
        match answer.map(|a| a.launch_configurations.unwrap_or_default().into_iter().next()) {
            Ok(Some(c)) => Facts::Group {
                instance_type: c.instance_type().unwrap_or_default().to_string(),
            },
            Ok(None) => Facts::unknown("launch configuration not found"),
            Err(e) => {
                let e = cloud_error("autoscaling", "DescribeLaunchConfigurations", e);
                failed("Auto Scaling", "DescribeLaunchConfigurations", e)
            }
        }
    }

    /// The instance type of a launch template's version (its default when
    /// none is named).
    async fn template_type(&self, id: Option<&str>, name: Option<&str>, version: Option<&str>) -> Facts {
        let answer = self
            .ec2
            .describe_launch_template_versions()
            .set_launch_template_id(id.map(str::to_string))
            .set_launch_template_name(id.is_none().then(|| name.map(str::to_string)).flatten())
            .versions(version.unwrap_or("$Default"))
            .send()
            .await;
        let versions = match answer {
            Ok(a) => a.launch_template_versions.unwrap_or_default(),
            Err(e) => {
                let e = cloud_error("ec2", "DescribeLaunchTemplateVersions", e);
                return failed("EC2", "DescribeLaunchTemplateVersions", e);
            }
        };
        let data = versions.first().and_then(|v| v.launch_template_data());
        match data.and_then(|d| d.instance_type()) {
            Some(t) => Facts::Group {
                instance_type: t.as_str().to_string(),
            },
            None => Facts::unknown("launch template names no instance type"),
        }
    }

    async fn node_group(&self, id: &str) -> Facts {
        let Some((cluster, name)) = id.split_once('/') else {
            return Facts::unknown("not cluster/nodegroup");
        };
        let answer = self
            .eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await;
        let group = match answer {
            Ok(a) => a.nodegroup,
            Err(e) => return failed("EKS", "DescribeNodegroup", cloud_error("eks", "DescribeNodegroup", e)),
        };
        let Some(group) = group else {
            return Facts::unknown("node group not found");
        };
        if group.capacity_type().is_some_and(|c| c.as_str() == "SPOT") {
            return Facts::unknown("Spot: not on-demand");
        }
        match group.instance_types() {
            [one] => Facts::Group {
                instance_type: one.clone(),
            },
            [] => match group.launch_template() {
                Some(t) => self.template_type(t.id(), t.name(), t.version()).await,
                None => Facts::unknown("no instance type"),
            },
            _ => Facts::unknown("several instance types: no one type"),
        }
    }

    async fn service(&self, id: &str) -> Facts {
        let Some((cluster, name)) = id.split_once('/') else {
            return Facts::unknown("not cluster/service");
        };
        let answer = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name)
            .send()
            .await;
        let service = match answer {
            Ok(a) => a.services.unwrap_or_default().into_iter().next(),
            Err(e) => return failed("ECS", "DescribeServices", cloud_error("ecs", "DescribeServices", e)),
        };
        let Some(service) = service else {
            return Facts::unknown("service not found");
        };
        let providers: Vec<&str> = service
            .capacity_provider_strategy()
            .iter()
            .map(|p| p.capacity_provider())
            .collect();
        let fargate = match (service.launch_type().map(|l| l.as_str()), providers.as_slice()) {
            (Some("FARGATE"), _) => true,
            (Some(_), []) => false,
            (None, []) => return Facts::unknown("the cluster's default capacity providers: not read"),
            (_, p) if p.contains(&"FARGATE_SPOT") => return Facts::unknown("Fargate Spot: not on-demand"),
            (_, p) => p.iter().all(|p| *p == "FARGATE"),
        };
        if !fargate {
            return Facts::unknown("ECS on EC2: the instances bill");
        }
        let Some(definition) = service.task_definition() else {
            return Facts::unknown("no task definition");
        };
        self.task(definition).await
    }

    async fn task(&self, definition: &str) -> Facts {
        let answer = self
            .ecs
            .describe_task_definition()
            .task_definition(definition)
            .send()
            .await;
        let task = match answer {
            Ok(a) => a.task_definition,
            Err(e) => {
                let e = cloud_error("ecs", "DescribeTaskDefinition", e);
                return failed("ECS", "DescribeTaskDefinition", e);
            }
        };
        let Some(task) = task else {
            return Facts::unknown("task definition not found");
        };
        let platform = task.runtime_platform();
        let os = platform.and_then(|p| p.operating_system_family()).map(|o| o.as_str());
        if os.is_some_and(|o| o.starts_with("WINDOWS")) {
            return Facts::unknown("Fargate on Windows not priced");
        }
        let number = |v: Option<&str>| v.and_then(|v| v.trim().parse::<u32>().ok());
        match (number(task.cpu()), number(task.memory())) {
            (Some(cpu), Some(memory_mib)) => Facts::Task {
                cpu,
                memory_mib,
                arm: platform
                    .and_then(|p| p.cpu_architecture())
                    .is_some_and(|a| a.as_str() == "ARM64"),
            },
            _ => Facts::unknown("task size (cpu, memory) not read"),
        }
    }
}
