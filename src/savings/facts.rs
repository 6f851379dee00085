//! What prices a member, as the scheduler read it itself when it stopped
//! the member ([`Facts`], kept in its [`super::Down`] item), and the Price
//! List products an hour of it costs ([`parts`]): a member's price may be
//! the sum of several products, each times a quantity.
//!
//! - An EC2 instance: its type, tenancy, and the operating system, licence
//!   and pre-installed software its `UsageOperation` says ([`usage`]);
//!   Spot instances and Dedicated Hosts are `unknown`.
//! - An RDS DB instance: its class, engine (`databaseEngine`, and
//!   `databaseEdition` for Oracle and SQL Server), deployment (Multi-AZ or
//!   Single-AZ) and licence model.
//! - An Aurora, DocumentDB or Neptune cluster: the sum of its instances,
//!   each by its class (Aurora Serverless v2, `db.serverless`, `unknown`).
//! - An Auto Scaling group or EKS node group: the desired capacity the Stop
//!   recorded times its instance type, as a Linux instance; a group of
//!   mixed instances is `unknown`.
//! - An ECS service on Fargate: the desired count the Stop recorded times
//!   the task's vCPU and memory (the `Fargate-vCPU-Hours:perCPU` and
//!   `Fargate-GB-Hours` usage types, their ARM variants for ARM64).
//!
//! An instance's EBS volumes and a DB instance's allocated storage are
//! kept too ([`Storage`]): they still bill while the member is stopped,
//! and every report shows them beside the saving, never subtracted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Product, Unpriced};

/// The facts that price one member (one unit of a group or a service: the
/// count is the [`super::Down`]'s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Facts {
    /// An EC2 instance.
    #[serde(rename_all = "camelCase")]
    Instance {
        /// `m5.large`.
        instance_type: String,
        /// EC2's `Placement.Tenancy`: `default`, `dedicated` or `host`.
        tenancy: String,
        /// EC2's `UsageOperation` (`RunInstances:0002`).
        usage_operation: String,
        /// `InstanceLifecycle` is `spot`.
        spot: bool,
        /// Its EBS volumes, GiB per volume type: they still bill.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        storage: Storage,
    },
    /// An RDS DB instance.
    #[serde(rename_all = "camelCase")]
    Database {
        /// `db.m5.large`.
        class: String,
        /// RDS's engine (`postgres`, `sqlserver-se`).
        engine: String,
        /// `MultiAZ`.
        multi_az: bool,
        /// RDS's `LicenseModel` (`license-included`).
        license_model: String,
        /// Its allocated storage, GiB per storage type: it still bills.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        storage: Storage,
    },
    /// A DB cluster: its engine and each instance's class.
    #[serde(rename_all = "camelCase")]
    Cluster {
        /// RDS's engine (`aurora-postgresql`, `docdb`, `neptune`).
        engine: String,
        /// The class of each instance of the cluster.
        classes: Vec<String>,
    },
    /// One instance of an Auto Scaling group or an EKS node group.
    #[serde(rename_all = "camelCase")]
    Group {
        /// Its instance type.
        instance_type: String,
    },
    /// One Fargate task of an ECS service.
    #[serde(rename_all = "camelCase")]
    Task {
        /// CPU units (1024 a vCPU).
        cpu: u32,
        /// Memory, MiB.
        memory_mib: u32,
        /// The task runs on ARM64.
        arm: bool,
    },
    /// Why the member cannot be priced.
    Unknown {
        /// The reason.
        reason: String,
    },
}

/// What still bills while a member is stopped, as the Stop read it: GiB
/// per EBS volume type or RDS storage type (`gp3` → 300). Shown beside the
/// saving, priced nowhere.
pub type Storage = BTreeMap<String, u64>;

impl Facts {
    /// Facts that say why the member cannot be priced.
    pub fn unknown(reason: impl Into<String>) -> Self {
        Self::Unknown { reason: reason.into() }
    }

    /// The storage that still bills while it is stopped, when it was read.
    pub fn storage(&self) -> Option<&Storage> {
        match self {
            Self::Instance { storage, .. } | Self::Database { storage, .. } => Some(storage),
            _ => None,
        }
    }
}

/// The products of one hour of a member in `region` with `facts`, each with its quantity (`count` instances or tasks of a group
/// or service), or why it cannot be priced.
pub fn parts(region: &str, facts: &Facts, count: Option<u32>) -> Result<Vec<(Product, f64)>, Unpriced> {
    let count = || count.map(f64::from).ok_or_else(|| "no recorded capacity".to_string());
    match facts {
        Facts::Unknown { reason } => Err(Unpriced(reason.clone())),
        Facts::Instance {
            instance_type,
            tenancy,
            usage_operation,
            spot,
            ..
        } => {
            if *spot {
                return Err("Spot: not on-demand".into());
            }
            Ok(vec![(instance(region, instance_type, tenancy, usage_operation)?, 1.0)])
        }
        Facts::Database {
            class,
            engine,
            multi_az,
            license_model,
            ..
        } => Ok(vec![(database(region, class, engine, *multi_az, license_model)?, 1.0)]),
        Facts::Cluster { engine, classes } => {
            if classes.is_empty() {
                return Err("a cluster with no instances".into());
            }
            let classes = classes.iter();
            classes
                .map(|c| cluster_instance(region, engine, c).map(|p| (p, 1.0)))
                .collect()
        }
        Facts::Group { instance_type } => {
            let n = count()?;
            Ok(vec![(instance(region, instance_type, "default", "RunInstances")?, n)])
        }
        Facts::Task { cpu, memory_mib, arm } => {
            let n = count()?;
            let prefix = usage_prefix(region).ok_or_else(|| format!("no Fargate usage type known for {region}"))?;
            let arch = if *arm { "ARM-" } else { "" };
            let vcpu = format!("{prefix}-Fargate-{arch}vCPU-Hours:perCPU");
            let gb = format!("{prefix}-Fargate-{arch}GB-Hours");
            let ecs = |usage: &str| Product::new("AmazonECS", region, &[("usagetype", usage)]);
            Ok(vec![
                (ecs(&vcpu), n * f64::from(*cpu) / 1024.0),
                (ecs(&gb), n * f64::from(*memory_mib) / 1024.0),
            ])
        }
    }
}

/// What EC2's `UsageOperation` says of an instance's software: the Price
/// List's `operatingSystem`, `licenseModel` and `preInstalledSw` (the
/// codes of EC2's "AMI billing information fields").
pub fn usage(usage_operation: &str) -> Option<(&'static str, &'static str, &'static str)> {
    const NONE: &str = "No License required";
    const BYOL: &str = "Bring your own license";
    Some(match usage_operation.trim() {
        "RunInstances" | "RunInstances:0000" => ("Linux", NONE, "NA"),
        "RunInstances:0002" => ("Windows", NONE, "NA"),
        "RunInstances:0010" => ("RHEL", NONE, "NA"),
        "RunInstances:000g" => ("SUSE", NONE, "NA"),
        "RunInstances:0g00" => ("Ubuntu Pro", NONE, "NA"),
        "RunInstances:0004" => ("Linux", NONE, "SQL Std"),
        "RunInstances:0200" => ("Linux", NONE, "SQL Web"),
        "RunInstances:0100" => ("Linux", NONE, "SQL Ent"),
        "RunInstances:0006" => ("Windows", NONE, "SQL Std"),
        "RunInstances:0202" => ("Windows", NONE, "SQL Web"),
        "RunInstances:0102" => ("Windows", NONE, "SQL Ent"),
        "RunInstances:0800" => ("Windows", BYOL, "NA"),
        _ => return None,
    })
}

fn instance(region: &str, instance_type: &str, tenancy: &str, usage_operation: &str) -> Result<Product, Unpriced> {
    let tenancy = match tenancy {
        "" | "default" => "Shared",
        "dedicated" => "Dedicated",
        "host" => return Err("a Dedicated Host: the host bills".into()),
        other => return Err(format!("tenancy {other} not priced").into()),
    };
    let (os, licence, software) =
        usage(usage_operation).ok_or_else(|| format!("UsageOperation {usage_operation} not priced"))?;
    Ok(Product::new(
        "AmazonEC2",
        region,
        &[
            ("instanceType", instance_type),
            ("operatingSystem", os),
            ("licenseModel", licence),
            ("preInstalledSw", software),
            ("tenancy", tenancy),
            ("capacitystatus", "Used"),
        ],
    ))
}

/// RDS's engine as the Price List's `databaseEngine` and, for Oracle and
/// SQL Server, `databaseEdition`.
pub fn engine(engine: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match engine {
        "mysql" => ("MySQL", None),
        "postgres" => ("PostgreSQL", None),
        "mariadb" => ("MariaDB", None),
        "aurora-mysql" | "aurora" => ("Aurora MySQL", None),
        "aurora-postgresql" => ("Aurora PostgreSQL", None),
        "oracle-ee" => ("Oracle", Some("Enterprise")),
        "oracle-se2" => ("Oracle", Some("Standard Two")),
        "sqlserver-ee" => ("SQL Server", Some("Enterprise")),
        "sqlserver-se" => ("SQL Server", Some("Standard")),
        "sqlserver-ex" => ("SQL Server", Some("Express")),
        "sqlserver-web" => ("SQL Server", Some("Web")),
        _ => return None,
    })
}

fn database(region: &str, class: &str, name: &str, multi_az: bool, licence: &str) -> Result<Product, Unpriced> {
    let (engine, edition) = engine(name).ok_or_else(|| format!("engine {name} not priced"))?;
    let licence = match licence {
        "license-included" => "License included",
        "bring-your-own-license" => "Bring your own license",
        _ => "No license required",
    };
    let deployment = if multi_az { "Multi-AZ" } else { "Single-AZ" };
    let mut filters = vec![
        ("instanceType", class),
        ("databaseEngine", engine),
        ("deploymentOption", deployment),
        ("licenseModel", licence),
    ];
    filters.extend(edition.map(|e| ("databaseEdition", e)));
    Ok(Product::new("AmazonRDS", region, &filters))
}

fn cluster_instance(region: &str, engine_name: &str, class: &str) -> Result<Product, Unpriced> {
    if class == "db.serverless" {
        return Err("Aurora Serverless v2: billed by capacity units, not priced".into());
    }
    match engine_name {
        "docdb" => Ok(Product::new("AmazonDocDB", region, &[("instanceType", class)])),
        "neptune" => Ok(Product::new("AmazonNeptune", region, &[("instanceType", class)])),
        _ => database(region, class, engine_name, false, "general-public-license"),
    }
}

/// The region prefix of usage types in the Price List (`EUW2` in
/// `EUW2-Fargate-GB-Hours`), for the regions the scheduler knows.
pub fn usage_prefix(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-east-1" => "USE1",
        "us-east-2" => "USE2",
        "us-west-1" => "USW1",
        "us-west-2" => "USW2",
        "ca-central-1" => "CAN1",
        "eu-west-1" => "EU",
        "eu-west-2" => "EUW2",
        "eu-west-3" => "EUW3",
        "eu-central-1" => "EUC1",
        "eu-central-2" => "EUC2",
        "eu-north-1" => "EUN1",
        "eu-south-1" => "EUS1",
        "ap-south-1" => "APS3",
        "ap-southeast-1" => "APS1",
        "ap-southeast-2" => "APS2",
        "ap-northeast-1" => "APN1",
        "ap-northeast-2" => "APN2",
        "ap-northeast-3" => "APN3",
        "ap-east-1" => "APE1",
        "sa-east-1" => "SAE1",
        "me-south-1" => "MES1",
        "af-south-1" => "AFS1",
        _ => return None,
    })
}
