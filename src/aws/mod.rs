//! AWS adapters: the ports implemented with the SDK clients.
//!
//! Clients are built once per region from one shared `SdkConfig` and reused
//! across invocations. Retries and timeouts are set per client on purpose:
//! EC2 uses adaptive retry (client-side rate limiting for
//! `RequestLimitExceeded`), the others standard retry; every operation has a
//! total and a per-attempt timeout so no call can eat the Lambda deadline.

mod alarms;
mod autoscaling;
mod calendar;
mod downtime;
mod dynamodb;
mod ec2;
mod ecs;
mod eks;
mod error;
mod eventbridge;
mod group_capacity;
mod kms;
mod ledger;
mod load_balancers;
mod metrics;
mod price_facts;
mod pricing;
mod rds;
mod records;
mod scheduler;
mod sns;
mod ssm;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::{Builder as HttpClientBuilder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

pub use alarms::CloudWatchAlarms;
pub use autoscaling::{Ec2AutoScaling, SUSPENDED_TAG};
pub use calendar::SsmCalendar;
pub use dynamodb::{DynamoConfigStore, Tables};
pub use ec2::Ec2Compute;
pub use ecs::EcsServices;
pub use eks::EksNodeGroups;
pub use error::cloud_error;
pub use eventbridge::EventBridgeBus;
pub use group_capacity::GroupCapacity;
pub use kms::KmsKeys;
pub use ledger::{DynamoLedger, RUNS_BY_TIME_INDEX, RUNS_BY_WORKLOAD_INDEX, RUN_KIND};
pub use load_balancers::ElbTargets;
pub use metrics::ApiCounter;
pub use price_facts::AwsPriceFacts;
pub use pricing::{AwsPriceList, PRICE_LIST_REGION};
pub use rds::RdsDatabases;
pub use scheduler::{
    continuation_target, ScheduleReader, SchedulerContinuation, CONTINUATION_MAX_EVENT_AGE_SECS,
    CONTINUATION_RETRY_ATTEMPTS,
};
pub use sns::SnsNotifier;
pub use ssm::SsmRemoteCheck;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use crate::config::CrossAccount;
use crate::error::CloudError;
use crate::ports::{Cloud, ConfigStore, EventBus, MemberPorts, Notifier, WorkloadPorts};
use crate::volume_keys::{GrantedKeys, GrantedKeysError};

/// A resource as a member of the workload when its tags say so (RDS, Auto
/// Scaling, ECS and EKS list tags with the resource): the workload tag with the
/// exact value and a tier tag (its value is the tier); with the override
/// tag and its reason. `tag` reads one tag of the resource.
fn tagged_member(
    query: &crate::instance::Discovery,
    kind: crate::member::MemberKind,
    state: &crate::member::MemberStatus,
    tag: impl Fn(&str) -> Option<String>,
) -> Option<crate::member::Member> {
    let (key, value) = &query.workload_tag;
    if tag(key).as_ref() != Some(value) {
        return None;
    }
    let tier = tag(&query.tier_tag_key)?;
    let reason = tag(crate::override_tag::OVERRIDE_REASON_TAG);
    Some(crate::member::Member {
        override_tag: tag(&query.override_tag_key).map(|t| (t, reason)),
        ..crate::member::Member::new(kind, &state.id, &state.status, state.phase, &tier)
    })
}

/// What the `VpcId` filter keeps of members found with the subnets they
/// run in: with a filter, those in a subnet of its VPC (one DescribeSubnets
/// per 200 subnets); a member with no subnets has no VPC of its own and is
/// kept when `no_subnets_kept` (ECS bridge or host networking).
async fn in_vpc(
    ec2: &Ec2Compute,
    vpc: Option<&String>,
    found: Vec<(Vec<String>, crate::member::Member)>,
    no_subnets_kept: bool,
) -> Result<Vec<crate::member::Member>, CloudError> {
    let Some(vpc) = vpc else {
        return Ok(found.into_iter().map(|(_, m)| m).collect());
    };
    let subnets: Vec<String> = found.iter().flat_map(|(s, _)| s.clone()).collect();
    let vpcs = if subnets.is_empty() {
        HashMap::new()
    } else {
        ec2.subnet_vpcs(&subnets).await?
    };
    Ok(found
        .into_iter()
        .filter(|(s, _)| (s.is_empty() && no_subnets_kept) || s.iter().any(|n| vpcs.get(n) == Some(vpc)))
        .map(|(_, m)| m)
        .collect())
}

/// Session name of the scheduler's AssumeRole sessions (CloudTrail shows it).
pub const ASSUME_ROLE_SESSION: &str = "ec2-tier-scheduler";

/// Builds an SDK client configuration, with the call counter when there is one.
macro_rules! counted {
    ($counter:expr, $builder:expr) => {{
        let mut b = $builder;
        if let Some(c) = &$counter {
            b = b.interceptor(c.clone());
        }
        b.build()
    }};
}

/// Loads the shared SDK configuration from the environment (credentials,
/// `AWS_ENDPOINT_URL` for the emulator, region), with [`https_client`].
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The HTTPS client of every SDK client: the SDK's default one (hyper 1,
/// rustls, the environment's proxy settings, the SDK's connect timeout and
/// sleep), built here because it runs rustls on `ring` instead of the
/// default `aws-lc`, whose C build cost every cold build more than any
/// crate but the largest service crates (BENCHMARKS.md, "Cold make test").
pub fn https_client() -> SharedHttpClient {
    HttpClientBuilder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Retry policy for EC2: adaptive, so a throttled account slows down instead
/// of failing.
pub fn ec2_retry() -> RetryConfig {
    RetryConfig::adaptive()
        .with_max_attempts(6)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(10))
}

/// Retry policy for the other services.
pub fn standard_retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(4)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(5))
}

/// Timeouts for one operation (all attempts) and one attempt.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

#[derive(Clone)]
struct RegionPorts {
    store: Arc<dyn ConfigStore>,
    own: WorkloadPorts,
    notifier: Arc<dyn Notifier>,
    events: Arc<dyn EventBus>,
}

/// Ports acting in another account: (region, role ARN, external id).
type AssumedKey = (String, String, String);

/// The real cloud: SDK clients per region, built on first use.
pub struct AwsCloud {
    base: SdkConfig,
    tables: Tables,
    regions: Mutex<HashMap<String, RegionPorts>>,
    assumed: tokio::sync::Mutex<HashMap<AssumedKey, WorkloadPorts>>,
    account: Arc<OnceLock<(String, String)>>,
    counter: Option<ApiCounter>,
    records: Option<Arc<DynamoLedger>>,
}

impl AwsCloud {
    /// A cloud on `base` with the configuration tables named in `tables`.
    pub fn new(base: SdkConfig, tables: Tables) -> Self {
        Self {
            base,
            tables,
            regions: Mutex::new(HashMap::new()),
            assumed: tokio::sync::Mutex::new(HashMap::new()),
            account: Arc::new(OnceLock::new()),
            counter: None,
            records: None,
        }
    }

    /// Keeps the records only the scheduler writes in the run ledger
    /// `table` (`RUN_LEDGER_TABLE`, the CLI's `--ledger-table`).
    pub fn with_records(mut self, table: Option<&str>) -> Self {
        self.records = table.map(|t| Arc::new(self.ledger(t)));
        self
    }

    /// Counts every call made through this cloud's clients (the records'
    /// too, whichever of the two is set first).
    pub fn with_counter(mut self, counter: ApiCounter) -> Self {
        self.counter = Some(counter);
        if let Some(table) = self.records.as_ref().map(|r| r.table().to_string()) {
            self.records = Some(Arc::new(self.ledger(&table)));
        }
        self
    }

    /// Records the partition and account from the function's ARN
    /// (`arn:aws:lambda:region:account:function:name`), so SNS topic names
    /// become ARNs without a ListTopics call.
    pub fn learn_account_from_arn(&self, arn: &str) {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() >= 5 && parts[0] == "arn" && !parts[4].is_empty() {
            let _ = self.account.set((parts[1].to_string(), parts[4].to_string()));
        }
    }

    /// The region of the shared configuration (the function's region).
    pub fn default_region(&self) -> Option<String> {
        self.base.region().map(|r| r.to_string())
    }

    /// The run ledger in `table`, in the function's own region.
    pub fn ledger(&self, table: &str) -> DynamoLedger {
        let mut b = aws_sdk_dynamodb::config::Builder::from(&self.base)
            .retry_config(standard_retry())
            .timeout_config(timeouts());
        if let Some(c) = &self.counter {
            b = b.interceptor(c.clone());
        }
        DynamoLedger::new(aws_sdk_dynamodb::Client::from_conf(b.build()), table)
    }

    /// The AWS Price List API, always in [`PRICE_LIST_REGION`] (never the
    /// workload's region).
    pub fn price_list(&self) -> AwsPriceList {
        let b = aws_sdk_pricing::config::Builder::from(&self.base)
            .region(Region::new(PRICE_LIST_REGION))
            .retry_config(standard_retry())
            .timeout_config(timeouts());
        AwsPriceList::new(aws_sdk_pricing::Client::from_conf(b.build()))
    }

    /// Continuations through EventBridge Scheduler in the function's region.
    pub fn continuation(&self, function_arn: &str, role_arn: &str) -> SchedulerContinuation {
        let mut b = aws_sdk_scheduler::config::Builder::from(&self.base)
            .retry_config(standard_retry())
            .timeout_config(timeouts());
        if let Some(c) = &self.counter {
            b = b.interceptor(c.clone());
        }
        SchedulerContinuation::new(aws_sdk_scheduler::Client::from_conf(b.build()), function_arn, role_arn)
    }

    /// Reads EventBridge Scheduler schedules in the configured region.
    pub fn schedule_reader(&self) -> ScheduleReader {
        let mut b = aws_sdk_scheduler::config::Builder::from(&self.base)
            .retry_config(standard_retry())
            .timeout_config(timeouts());
        if let Some(c) = &self.counter {
            b = b.interceptor(c.clone());
        }
        ScheduleReader::new(aws_sdk_scheduler::Client::from_conf(b.build()))
    }

    fn ports(&self, region: &str) -> RegionPorts {
        let mut regions = self.regions.lock().unwrap_or_else(|p| p.into_inner());
        regions
            .entry(region.to_string())
            .or_insert_with(|| self.build(region))
            .clone()
    }

    /// EC2, KMS, RDS, ECS, EKS, Auto Scaling and SSM + S3 clients in `region`
    /// on `config`'s credentials: a member account's role acts on its own
    /// resources with every one of them.
    fn workload_clients(&self, config: &SdkConfig, region: &str) -> WorkloadPorts {
        let region = Region::new(region.to_string());
        let counter = self.counter.clone();
        // Every client but EC2 and S3: standard retry, the timeouts.
        macro_rules! standard {
            ($sdk:ident) => {
                $sdk::Client::from_conf(counted!(
                    counter,
                    $sdk::config::Builder::from(config)
                        .region(region.clone())
                        .retry_config(standard_retry())
                        .timeout_config(timeouts())
                ))
            };
        }
        let ec2 = counted!(
            counter,
            aws_sdk_ec2::config::Builder::from(config)
                .region(region.clone())
                .retry_config(ec2_retry())
                .timeout_config(timeouts())
        );
        // Path-style: bucket names with dots and the emulator both need it.
        let s3 = counted!(
            counter,
            aws_sdk_s3::config::Builder::from(config)
                .region(region.clone())
                .force_path_style(true)
                .retry_config(standard_retry())
                .timeout_config(timeouts())
        );
        let ssm = standard!(aws_sdk_ssm);
        let asg = standard!(aws_sdk_autoscaling);
        let ec2 = aws_sdk_ec2::Client::from_conf(ec2);
        let compute = Ec2Compute::new(ec2.clone());
        let groups = GroupCapacity::new(asg.clone(), compute.clone());
        let price_facts = AwsPriceFacts {
            ec2,
            rds: standard!(aws_sdk_rds),
            asg: asg.clone(),
            eks: standard!(aws_sdk_eks),
            ecs: standard!(aws_sdk_ecs),
        };
        WorkloadPorts {
            price_facts: Arc::new(price_facts),
            members: MemberPorts {
                databases: Arc::new(RdsDatabases::new(standard!(aws_sdk_rds))),
                eks: Arc::new(EksNodeGroups::new(
                    standard!(aws_sdk_eks),
                    groups.clone(),
                    compute.clone(),
                )),
                groups: Arc::new(groups),
                services: Arc::new(EcsServices::new(
                    standard!(aws_sdk_ecs),
                    standard!(aws_sdk_applicationautoscaling),
                    compute.clone(),
                )),
            },
            auto_scaling: Arc::new(Ec2AutoScaling::new(asg)),
            load_balancers: Arc::new(ElbTargets::new(standard!(aws_sdk_elasticloadbalancingv2))),
            alarms: Arc::new(CloudWatchAlarms::new(standard!(aws_sdk_cloudwatch))),
            keys: Arc::new(KmsKeys::new(compute.clone(), standard!(aws_sdk_kms))),
            instance_types: Arc::new(compute.clone()),
            instance_tags: Arc::new(compute.clone()),
            status_checks: Arc::new(compute.clone()),
            compute: Arc::new(compute),
            remote: Arc::new(SsmRemoteCheck::new(ssm.clone(), aws_sdk_s3::Client::from_conf(s3))),
            calendar: Arc::new(SsmCalendar::new(ssm)),
        }
    }

    /// Clients in `role`'s account: credentials from sts:AssumeRole, taken
    /// once now (so a role that cannot be assumed refuses the run before any
    /// call) and refreshed by the SDK before they expire on long runs.
    async fn assume(&self, region: &str, role: &CrossAccount) -> Result<WorkloadPorts, CloudError> {
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(role.role_arn.clone())
            .session_name(ASSUME_ROLE_SESSION)
            .external_id(role.external_id.clone());
        if let Some(home) = self.base.region() {
            builder = builder.region(home.clone());
        }
        let provider = builder.configure(&self.base).build().await;
        provider.provide_credentials().await.map_err(|e| {
            CloudError::new(
                "sts",
                "AssumeRole",
                Some("AccessDenied"),
                format!(
                    "cannot assume CrossAccountRole {} (ExternalId as configured): {}",
                    role.role_arn,
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ),
            )
        })?;
        let config = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        Ok(self.workload_clients(&config, region))
    }

    fn build(&self, region: &str) -> RegionPorts {
        let own = self.workload_clients(&self.base, region);
        let region = Region::new(region.to_string());
        let counter = self.counter.clone();
        let sns = counted!(
            counter,
            aws_sdk_sns::config::Builder::from(&self.base)
                .region(region.clone())
                .retry_config(standard_retry())
                .timeout_config(timeouts())
        );
        let events = counted!(
            counter,
            aws_sdk_eventbridge::config::Builder::from(&self.base)
                .region(region.clone())
                .retry_config(standard_retry())
                .timeout_config(timeouts())
        );
        let dynamodb = counted!(
            counter,
            aws_sdk_dynamodb::config::Builder::from(&self.base)
                .region(region)
                .retry_config(standard_retry())
                .timeout_config(timeouts())
        );
        RegionPorts {
            store: Arc::new(DynamoConfigStore::new(
                aws_sdk_dynamodb::Client::from_conf(dynamodb),
                self.tables.clone(),
            )),
            own,
            notifier: Arc::new(SnsNotifier::new(
                aws_sdk_sns::Client::from_conf(sns),
                self.account.clone(),
            )),
            events: Arc::new(EventBridgeBus::new(aws_sdk_eventbridge::Client::from_conf(events))),
        }
    }
}

#[async_trait::async_trait]
impl Cloud for AwsCloud {
    /// From `EBS_KMS_KEY_ARNS`, which the template sets from EbsKmsKeyArns.
    fn granted_keys(&self) -> Result<GrantedKeys, GrantedKeysError> {
        GrantedKeys::from_env()
    }

    fn config_store(&self, region: &str) -> Arc<dyn ConfigStore> {
        self.ports(region).store
    }
    fn records(&self) -> Option<Arc<dyn crate::ports::Records>> {
        self.records.clone().map(|r| r as Arc<dyn crate::ports::Records>)
    }
    fn downtime(&self) -> Option<Arc<dyn crate::ports::Downtime>> {
        self.records.clone().map(|r| r as Arc<dyn crate::ports::Downtime>)
    }
    fn prices(&self) -> Option<crate::ports::Prices> {
        self.records.clone().map(|r| crate::ports::Prices {
            cache: r as Arc<dyn crate::ports::PriceCache>,
            list: Arc::new(self.price_list()),
        })
    }
    fn notifier(&self, region: &str) -> Arc<dyn Notifier> {
        self.ports(region).notifier
    }
    fn event_bus(&self, region: &str) -> Option<Arc<dyn EventBus>> {
        Some(self.ports(region).events)
    }
    async fn workload_ports(&self, region: &str, role: Option<&CrossAccount>) -> Result<WorkloadPorts, CloudError> {
        let Some(role) = role else {
            return Ok(self.ports(region).own);
        };
        let key = (region.to_string(), role.role_arn.clone(), role.external_id.clone());
        // Held across the AssumeRole call so concurrent runs assume once.
        let mut assumed = self.assumed.lock().await;
        if let Some(ports) = assumed.get(&key) {
            return Ok(ports.clone());
        }
        let ports = self.assume(region, role).await?;
        assumed.insert(key, ports.clone());
        Ok(ports)
    }
}
