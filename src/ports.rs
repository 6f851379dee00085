//! The small traits the orchestrator drives. AWS adapters live in
//! the `aws` module; in-memory fakes with fault injection live in `tests/support`.
//!
//! Each method is one logical request; batching limits (500 ids for
//! Stop/Start, 50 for SendCommand, 100 for DescribeInstanceStatus) are the
//! orchestrator's business, paging is the adapter's.

mod configuration;
mod savings;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{AlarmChoice, CrossAccount};
use crate::error::CloudError;
use crate::instance::{Discovery, Instance, InstanceStatus};
use crate::member::{Capacity, Member, MemberKind, MemberStatus};
use crate::override_check::OverrideCheck;
use crate::records::Record;
use crate::traffic::{Alarm, Target, TargetGroup};
use crate::volume_keys::{GrantedKeys, GrantedKeysError, KeyFacts, VolumeKey};
pub use configuration::{ConfigStore, StateLookup, WorkloadState};
pub use savings::{Downtime, PriceCache, PriceFacts, PriceList, Prices, PRICE_CACHE_SECS, PRICE_LIST_NOT_READ};

/// Largest StopInstances / StartInstances batch.
pub const EC2_BATCH: usize = 500;
/// Largest SendCommand target list.
pub const SSM_BATCH: usize = 50;
/// Largest DescribeInstanceStatus id list.
pub const STATUS_BATCH: usize = 100;

/// EC2 instances and their states: discovery, stop, hibernate, start.
#[async_trait]
pub trait Compute: Send + Sync {
    /// All non-terminated instances matching the discovery filter, every page.
    async fn discover(&self, query: &Discovery) -> Result<Vec<Instance>, CloudError>;
    /// Current states of the given instances.
    async fn states(&self, ids: &[String]) -> Result<Vec<InstanceStatus>, CloudError>;
    /// StopInstances for up to 500 ids.
    async fn stop(&self, ids: &[String]) -> Result<(), CloudError>;
    /// StopInstances with `Hibernate=true` for up to 500 ids.
    async fn hibernate(&self, ids: &[String]) -> Result<(), CloudError>;
    /// StartInstances for up to 500 ids.
    async fn start(&self, ids: &[String]) -> Result<(), CloudError>;
}

/// EC2 instance types, EBS optimisation and CPU credits of stopped
/// instances (scaling profiles, capacity fallbacks).
#[async_trait]
pub trait InstanceTypes: Send + Sync {
    /// ModifyInstanceAttribute(InstanceType) on a stopped instance.
    async fn set_instance_type(&self, id: &str, instance_type: &str) -> Result<(), CloudError>;
    /// ModifyInstanceAttribute(EbsOptimized) on a stopped instance.
    async fn set_ebs_optimized(&self, id: &str, on: bool) -> Result<(), CloudError>;
    /// DescribeInstanceTypes: what EC2 says about each of the given types.
    async fn type_facts(&self, types: &[String]) -> Result<Vec<TypeFacts>, CloudError>;
    /// DescribeInstanceCreditSpecifications: `true` for `unlimited`.
    async fn cpu_credits(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError>;
    /// ModifyInstanceCreditSpecification for up to 100 instances; returns the
    /// instances EC2 refused, with its error.
    async fn set_cpu_credits(&self, changes: &[(String, bool)]) -> Result<Vec<(String, String)>, CloudError>;
}

/// EC2 instance tags the CLI's `override` commands set and clear.
#[async_trait]
pub trait InstanceTags: Send + Sync {
    /// CreateTags: sets `tags` on the instances.
    async fn tag(&self, ids: &[String], tags: &[(String, String)]) -> Result<(), CloudError>;
    /// DeleteTags: removes the tag keys from the instances.
    async fn untag(&self, ids: &[String], keys: &[String]) -> Result<(), CloudError>;
}

/// EC2 status checks (the `StatusChecks` readiness gate).
#[async_trait]
pub trait StatusChecks: Send + Sync {
    /// For up to 100 ids: whether instance and system status checks are both `ok`.
    async fn status_checks_ok(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError>;
}

/// What EC2 says about an instance type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeFacts {
    /// e.g. `t2.nano`.
    pub instance_type: String,
    /// EBS optimisation is possible (`EbsOptimizedSupport` is not `unsupported`).
    pub ebs_optimizable: bool,
    /// CPU credits apply (`BurstablePerformanceSupported`).
    pub burstable: bool,
    /// `ProcessorInfo.SupportedArchitectures` (`x86_64`, `arm64`); empty
    /// when EC2 does not say.
    pub architectures: Vec<String>,
}

/// Where SSM writes command output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLocation {
    /// SSMS3BucketName.
    pub bucket: String,
    /// SSMS3KeyPrefixName, without slashes at either end (may be empty).
    pub prefix: String,
}

/// One poll of one instance's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckPoll {
    /// Not finished, or finished with output not yet readable.
    Pending,
    /// Finished; the standard output.
    Output(String),
    /// Ended without an answer that will ever come (Failed, TimedOut,
    /// Cancelled, Undeliverable, not managed by SSM, ...).
    Failed {
        /// SSM's status or error code.
        status: String,
        /// Detail for the report.
        detail: String,
    },
}

/// SSM Run Command plus the S3 output it writes.
#[async_trait]
pub trait RemoteCheck: Send + Sync {
    /// The region of a bucket (GetBucketLocation).
    async fn bucket_region(&self, bucket: &str) -> Result<String, CloudError>;
    /// SendCommand for up to 50 instances; returns the command id.
    async fn send(
        &self,
        check: &OverrideCheck,
        ids: &[String],
        output: &OutputLocation,
        timeout: Duration,
    ) -> Result<String, CloudError>;
    /// The state of a command's invocations on `instance_ids` (all sent by
    /// the one SendCommand), and their output when done: one
    /// ListCommandInvocations page per 50 instances, S3 only when the inline
    /// output is missing or truncated. Instances SSM does not list yet are
    /// `Pending`.
    async fn poll_command(
        &self,
        command_id: &str,
        instance_ids: &[String],
        output: &OutputLocation,
    ) -> Result<Vec<(String, CheckPoll)>, CloudError>;
    /// Which of the instances the SSM agent reports as `Online`.
    async fn online(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError>;
    /// A maintenance window (GetMaintenanceWindow).
    async fn maintenance_window(&self, id: &str) -> Result<crate::window::MaintenanceWindow, CloudError>;
    /// The window's executions since `since` (DescribeMaintenanceWindowExecutions, one page).
    async fn window_executions(&self, id: &str, since: u64) -> Result<Vec<crate::window::WindowExecution>, CloudError>;
}

/// SNS.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Publishes one message to a topic given by name or ARN.
    async fn publish(&self, topic: &str, subject: &str, message: &str) -> Result<(), CloudError>;
}

/// One event for an EventBridge bus (a PutEvents entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEvent {
    /// `Source` (`ec2-tier-scheduler`).
    pub source: String,
    /// `DetailType` (`Run Started`, `Tier Completed`, `Run Completed`).
    pub detail_type: String,
    /// `Detail`: a JSON object, as text.
    pub detail: String,
}

/// EventBridge: a workload's run and tier events ([`crate::run_events`]).
#[async_trait]
pub trait EventBus: Send + Sync {
    /// PutEvents of at most 10 entries (under 256 KB in all) to `bus`, a
    /// name or an ARN. Per entry, in order: `None` when EventBridge took
    /// it, else its error code and message (a refused entry, the others
    /// taken); `Err` when the request as a whole was refused.
    async fn put(&self, bus: &str, events: &[BusEvent]) -> Result<Vec<Option<String>>, CloudError>;
}

/// One EventBridge Scheduler schedule, as `GetSchedule` returns it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleInfo {
    /// Its name.
    pub name: String,
    /// `cron(...)`, `rate(...)` or `at(...)`.
    pub expression: String,
    /// `ScheduleExpressionTimezone` (UTC when absent).
    pub timezone: Option<String>,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    /// The target's input (the event).
    pub input: Option<String>,
}

/// What SSM Change Calendars say now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarState {
    /// Every calendar is OPEN.
    pub open: bool,
    /// When the state next changes (ISO-8601), when SSM says.
    pub next_transition: Option<String>,
}

/// SSM Change Calendars (GetCalendarState).
#[async_trait]
pub trait ChangeCalendar: Send + Sync {
    /// The combined state of the named calendars (names or ARNs).
    async fn state(&self, calendars: &[String]) -> Result<CalendarState, CloudError>;
}

/// An Auto Scaling group's suspended processes, and those its
/// `ec2-tier-scheduler:suspended` tag claims the scheduler suspended (a
/// claim only: the scheduler's record is in the run ledger).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupProcesses {
    /// The group's name.
    pub group: String,
    /// Processes suspended now, by anyone.
    pub suspended: Vec<String>,
    /// Processes the group's tag claims the scheduler suspended (an
    /// earlier version's record, or anyone's tag): never acted on.
    pub claimed: Vec<String>,
}

/// EC2 Auto Scaling.
#[async_trait]
pub trait AutoScaling: Send + Sync {
    /// DescribeAutoScalingGroups: the groups' suspended processes and
    /// their tags' claims.
    async fn processes(&self, groups: &[String]) -> Result<Vec<GroupProcesses>, CloudError>;
    /// SuspendProcesses (the caller recorded them in the run ledger first).
    async fn suspend(&self, group: &str, processes: &[String]) -> Result<(), CloudError>;
    /// ResumeProcesses.
    async fn resume(&self, group: &str, processes: &[String]) -> Result<(), CloudError>;
}

/// The keys of encrypted EBS volumes: which key each volume of an instance
/// uses (EC2 DescribeVolumes) and what KMS says of a key (DescribeKey), for
/// the KMS readiness of a Start ([`crate::plan::keys`]).
#[async_trait]
pub trait Keys: Send + Sync {
    /// The keys of the encrypted volumes attached to the instances, every
    /// page (unencrypted volumes are left out).
    async fn volume_keys(&self, instance_ids: &[String]) -> Result<Vec<VolumeKey>, CloudError>;
    /// DescribeKey of each key: a key KMS will not describe (AccessDenied,
    /// NotFound, ...) is [`crate::volume_keys::KeyLookup::Unreadable`], not an error.
    async fn describe(&self, key_ids: &[String]) -> Result<Vec<KeyFacts>, CloudError>;
}

/// Tier members that are not EC2 instances, one implementation per
/// service: RDS (DB instances; Aurora, DocumentDB and Neptune clusters),
/// EC2 Auto Scaling (groups' capacity), ECS (services' desired counts) and
/// EKS (managed node groups' scaling configuration). The orchestrator
/// drives every kind through these calls and [`crate::member::Phase`].
#[async_trait]
pub trait MemberService: Send + Sync {
    /// The workload's members of `kinds` ([`MemberKind::Rds`]: DB instances
    /// that are not part of a cluster; [`MemberKind::Aurora`]: DB clusters
    /// of an `aurora*` engine; [`MemberKind::DocumentDb`] and
    /// [`MemberKind::Neptune`]: DB clusters of engine `docdb` and
    /// `neptune`; [`MemberKind::Asg`]: groups; [`MemberKind::Ecs`]:
    /// services; [`MemberKind::Eks`]: managed node groups) carrying the
    /// workload tag and the tier tag, in the query's VPC when it has one.
    /// O(pages) calls (EKS: one DescribeNodegroup per node group).
    async fn discover(&self, query: &Discovery, kinds: &[MemberKind]) -> Result<Vec<Member>, CloudError>;
    /// Stops one database: StopDBInstance / StopDBCluster. (A group or a
    /// service is scaled with [`Self::set_capacity`], after the run records
    /// its capacity in the ledger.)
    async fn stop(&self, kind: MemberKind, id: &str) -> Result<(), CloudError>;
    /// Starts one database: StartDBInstance / StartDBCluster.
    async fn start(&self, kind: MemberKind, id: &str) -> Result<(), CloudError>;
    /// A group's or a node group's (min, desired, max) or a service's
    /// desired count now, read fresh.
    async fn capacity(&self, kind: MemberKind, id: &str) -> Result<Capacity, CloudError> {
        Err(not_scalable(kind, id))
    }
    /// Sets a group's, a service's or a node group's capacity
    /// (UpdateAutoScalingGroup, UpdateService, UpdateNodegroupConfig with
    /// its scaling configuration only); the caller bounds it.
    async fn set_capacity(&self, kind: MemberKind, id: &str, to: Capacity) -> Result<(), CloudError> {
        let _ = to;
        Err(not_scalable(kind, id))
    }
    /// The state of each of `ids` (of one kind) now; a member that no
    /// longer exists is absent. Batched by the adapter.
    async fn statuses(&self, kind: MemberKind, ids: &[String]) -> Result<Vec<MemberStatus>, CloudError>;
}

/// The error of a capacity call on a member that has none, or of a stop
/// or start of a group or service (they are scaled through their capacity).
pub fn not_scalable(kind: MemberKind, id: &str) -> CloudError {
    CloudError::new(
        "scheduler",
        "SetCapacity",
        Some("Unsupported"),
        format!("{kind} member {id} has no capacity to set"),
    )
}

/// Elastic Load Balancing (v2): the `instance` target groups around a
/// tier's instances. IAM authorises Register/DeregisterTargets on the
/// target group, not the target: which targets are touched (the tier's own
/// instances only) is the orchestrator's business.
#[async_trait]
pub trait LoadBalancers: Send + Sync {
    /// DescribeTargetGroups, every page: the target groups of target type
    /// `instance` in `vpcs`.
    async fn target_groups(&self, vpcs: &[String]) -> Result<Vec<TargetGroup>, CloudError>;
    /// DescribeTargetGroupAttributes: how long a deregistered target of the
    /// group stays `draining` at most (`deregistration_delay.timeout_seconds`).
    async fn deregistration_delay(&self, group_arn: &str) -> Result<Duration, CloudError>;
    /// DescribeTargetHealth: every target of one group.
    async fn targets(&self, group_arn: &str) -> Result<Vec<Target>, CloudError>;
    /// DeregisterTargets: (instance id, port) pairs of one group.
    async fn deregister(&self, group_arn: &str, targets: &[(String, u16)]) -> Result<(), CloudError>;
    /// RegisterTargets: (instance id, port) pairs of one group.
    async fn register(&self, group_arn: &str, targets: &[(String, u16)]) -> Result<(), CloudError>;
    /// DescribeTags (20 ARNs a call): the ARNs of `groups` that carry the
    /// tag `key` = `value` (the workload's: a drain takes part only in
    /// groups the workload may touch, as IAM allows).
    async fn tagged(&self, groups: &[String], key: &str, value: &str) -> Result<Vec<String>, CloudError>;
}

/// CloudWatch alarms (`AlarmPrefixes`, `AlarmSelection`).
#[async_trait]
pub trait Alarms: Send + Sync {
    /// The alarms `choice` selects (DescribeAlarms by prefix, every page;
    /// with `by_tag`, every alarm and one ListTagsForResource each for the
    /// workload tag), each with whether it carries the mute tag of an
    /// earlier version ([`crate::traffic::MUTED_TAG`]: reported, never
    /// trusted; the run ledger says what the scheduler muted).
    async fn select(&self, choice: &AlarmChoice, workload_tag: &(String, String)) -> Result<Vec<Alarm>, CloudError>;
    /// DisableAlarmActions (100 names a call); the run has recorded the
    /// mute in its ledger first.
    async fn mute(&self, alarms: &[Alarm]) -> Result<(), CloudError>;
    /// EnableAlarmActions (100 names a call); the run removes its records
    /// after.
    async fn unmute(&self, alarms: &[Alarm]) -> Result<(), CloudError>;
}

/// The member services of a workload's account and region, one per
/// service.
#[derive(Clone)]
pub struct MemberPorts {
    /// RDS DB instances; Aurora, DocumentDB and Neptune DB clusters.
    pub databases: Arc<dyn MemberService>,
    /// Auto Scaling groups' capacity.
    pub groups: Arc<dyn MemberService>,
    /// ECS services' desired counts.
    pub services: Arc<dyn MemberService>,
    /// EKS managed node groups' scaling configuration.
    pub eks: Arc<dyn MemberService>,
}

impl MemberPorts {
    /// The same service for every kind (the in-memory cloud).
    pub fn all(service: Arc<dyn MemberService>) -> Self {
        Self {
            databases: service.clone(),
            groups: service.clone(),
            services: service.clone(),
            eks: service,
        }
    }

    /// Every member service, once per field (the in-memory cloud's are one).
    pub fn services(&self) -> [&Arc<dyn MemberService>; 4] {
        [&self.databases, &self.groups, &self.services, &self.eks]
    }

    /// The service of a kind (`None` for EC2, which is [`Compute`]).
    pub fn of(&self, kind: MemberKind) -> Option<&Arc<dyn MemberService>> {
        match kind {
            MemberKind::Ec2 => None,
            MemberKind::Rds | MemberKind::Aurora | MemberKind::DocumentDb | MemberKind::Neptune => {
                Some(&self.databases)
            }
            MemberKind::Asg => Some(&self.groups),
            MemberKind::Ecs => Some(&self.services),
            MemberKind::Eks => Some(&self.eks),
        }
    }
}

/// EC2 and SSM + S3 acting where a workload's instances live.
#[derive(Clone)]
pub struct WorkloadPorts {
    /// EC2 instances: discovery, states, stop and start.
    pub compute: Arc<dyn Compute>,
    /// EC2 instance types, EBS optimisation and CPU credits.
    pub instance_types: Arc<dyn InstanceTypes>,
    /// EC2 instance tags (the CLI's overrides).
    pub instance_tags: Arc<dyn InstanceTags>,
    /// EC2 status checks.
    pub status_checks: Arc<dyn StatusChecks>,
    /// SSM Run Command and the S3 reads of its output.
    pub remote: Arc<dyn RemoteCheck>,
    /// SSM Change Calendars.
    pub calendar: Arc<dyn ChangeCalendar>,
    /// EC2 Auto Scaling.
    pub auto_scaling: Arc<dyn AutoScaling>,
    /// The keys of the instances' encrypted volumes (EC2 and KMS).
    pub keys: Arc<dyn Keys>,
    /// RDS, Auto Scaling capacity, ECS and EKS: the tier members that are
    /// not instances.
    pub members: MemberPorts,
    /// Load balancer target groups (`TierLoadBalancing`, `TargetsHealthy`).
    pub load_balancers: Arc<dyn LoadBalancers>,
    /// CloudWatch alarms (`AlarmPrefixes`).
    pub alarms: Arc<dyn Alarms>,
    /// What prices the members a Stop stopped (`orchestrator savings`).
    pub price_facts: Arc<dyn PriceFacts>,
}

/// Storage for the records only the scheduler writes
/// ([`crate::records`]): the run ledger table.
#[async_trait]
pub trait Records: Send + Sync {
    /// Writes `records`, all or none ([`crate::records::RECORDS_PER_WRITE`] at most), each
    /// only if no other workload holds a record under its key.
    async fn put(&self, records: &[Record]) -> Result<(), CloudError>;
    /// Every record of `workload`.
    async fn of_workload(&self, workload: &str) -> Result<Vec<Record>, CloudError>;
    /// Removes `records` (by key), each only if it is still `workload`'s.
    async fn remove(&self, workload: &str, keys: &[String]) -> Result<(), CloudError>;
}

/// Gives the ports for a region; AWS clients are built once per region (and
/// role) and reused.
#[async_trait]
pub trait Cloud: Send + Sync {
    /// The configuration tables in `region`.
    fn config_store(&self, region: &str) -> Arc<dyn ConfigStore>;
    /// SNS in `region` (the scheduler's own account).
    fn notifier(&self, region: &str) -> Arc<dyn Notifier>;
    /// EventBridge in `region` (the scheduler's own account), where a
    /// workload's `EventBusName` takes its events; `None`: this cloud puts
    /// no events (they are logged as not sent).
    fn event_bus(&self, region: &str) -> Option<Arc<dyn EventBus>> {
        let _ = region;
        None
    }
    /// EC2 and SSM + S3 in `region`: in the scheduler's own account, or with
    /// `role`, in the role's account with credentials from `sts:AssumeRole`.
    /// When the role cannot be assumed this fails: it never falls back to
    /// the scheduler's own credentials.
    async fn workload_ports(&self, region: &str, role: Option<&CrossAccount>) -> Result<WorkloadPorts, CloudError>;
    /// The records only the scheduler writes (the run ledger table), when
    /// one is configured: a run that restores anything later needs them.
    fn records(&self) -> Option<Arc<dyn Records>> {
        None
    }
    /// The stopped time kept for good (the run ledger table), when configured.
    fn downtime(&self) -> Option<Arc<dyn Downtime>> {
        None
    }
    /// The Price List and the prices cached in the run ledger table.
    fn prices(&self) -> Option<Prices> {
        None
    }
    /// The customer managed KMS keys the scheduler may create grants on
    /// (the stack's `EbsKmsKeyArns`); an error names a malformed entry.
    fn granted_keys(&self) -> Result<GrantedKeys, GrantedKeysError> {
        Ok(GrantedKeys::default())
    }
}
