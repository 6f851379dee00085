//! Lambda entry point: telemetry, one SDK configuration, clients built once,
//! then the runtime loop.
//!
//! Environment: `WORKLOAD_SPEC_TABLE` / `TIER_SPEC_TABLE` (configuration),
//! `RUN_LEDGER_TABLE` (idempotency, locks, checkpoints; optional) and
//! `CONTINUATION_ROLE_ARN` (the EventBridge Scheduler role that lets a run
//! continue in a fresh invocation; optional, needs the ledger),
//! `OVERRIDE_CHECK_TIMEOUT_SECS` (how long a tier's override checks may take; 120),
//! `SCHEDULE_GROUP_NAME` (the stack's EventBridge Scheduler group: a
//! `scheduleArn` must be a schedule of this account in it; continuations are
//! created in it), `SCHEDULE_DEAD_LETTER_QUEUE_ARN` (where a continuation
//! EventBridge Scheduler cannot deliver goes), `ALLOWED_INSTANCE_TYPES` and
//! `MAX_RESTORED_CAPACITY` (the bounds of a type change and of a restored
//! capacity), `METRICS_NAMESPACE` (the CloudWatch namespace of the
//! Embedded Metric Format line each run prints; `Ec2TierScheduler`).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use ec2_tier_scheduler::aws::{load_sdk_config, ApiCounter, AwsCloud, DynamoLedger, SchedulerContinuation, Tables};
use ec2_tier_scheduler::clock;
use ec2_tier_scheduler::event::ScheduleOrigin;
use ec2_tier_scheduler::handler::{handle_delivery, HandlerError, Services};
use ec2_tier_scheduler::ledger::{Continuation, Ledger};
use ec2_tier_scheduler::metrics;
use ec2_tier_scheduler::orchestrator::Settings;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

/// What every invocation works with, built once per process.
struct App {
    /// The AWS ports, counting throttled responses.
    cloud: AwsCloud,
    /// The function's region.
    region: Option<String>,
    /// The run ledger (`RUN_LEDGER_TABLE`).
    ledger: Option<DynamoLedger>,
    /// The EventBridge Scheduler role for continuations (`CONTINUATION_ROLE_ARN`; needs the ledger).
    role: Option<String>,
    /// The stack's schedule group (`SCHEDULE_GROUP_NAME`).
    group: Option<String>,
    /// The stack's schedule dead-letter queue (`SCHEDULE_DEAD_LETTER_QUEUE_ARN`).
    dead_letter: Option<String>,
    /// Continuations, made at the first invocation (they need the function's ARN).
    continuation: OnceLock<SchedulerContinuation>,
    /// How runs are carried out.
    settings: Settings,
    /// Counts throttled responses for the Throttles metric.
    counter: ApiCounter,
    /// The CloudWatch namespace of the metrics line.
    namespace: String,
}

impl App {
    /// The SDK configuration, clients and settings from the environment.
    async fn from_env() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let counter = ApiCounter::new();
        let cloud = AwsCloud::new(load_sdk_config().await, Tables::from_env()).with_counter(counter.clone());
        let cloud = cloud.with_records(env("RUN_LEDGER_TABLE").as_deref());
        let ledger = env("RUN_LEDGER_TABLE").map(|t| cloud.ledger(&t));
        let role = env("CONTINUATION_ROLE_ARN").filter(|_| ledger.is_some());
        let settings = Settings {
            // With continuations, long inter-tier delays are not slept through.
            offload_delays_over: role.as_ref().map(|_| Duration::from_secs(120)),
            ..Settings::from_env()
        };
        Self {
            region: cloud.default_region(),
            cloud,
            ledger,
            role,
            group: env("SCHEDULE_GROUP_NAME"),
            dead_letter: env("SCHEDULE_DEAD_LETTER_QUEUE_ARN"),
            continuation: OnceLock::new(),
            settings,
            counter,
            namespace: metrics::namespace_from_env(),
        }
    }

    /// Handles one invocation and prints its metrics line.
    async fn invoke(&self, event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
        let arn = &event.context.invoked_function_arn;
        let services = self.services(arn);
        let time_left = event.context.deadline().duration_since(SystemTime::now()).ok();
        // One invocation at a time per process: the difference is this one's.
        let throttles_before = self.counter.throttles();
        let handled = handle_delivery(services, &event.payload, time_left, &self.settings).await?;
        let throttles = self.counter.throttles().saturating_sub(throttles_before);
        if let Some(line) = handled
            .outcome
            .metrics_line(&self.namespace, throttles, clock::now_ms())
        {
            println!("{line}");
        }
        for line in handled.outcome.member_lines(&self.namespace, clock::now_ms()) {
            println!("{line}");
        }
        Ok(handled.response)
    }

    /// The handler's services for an invocation of the function `arn`.
    fn services<'a>(&'a self, arn: &'a str) -> Services<'a> {
        self.cloud.learn_account_from_arn(arn);
        let group = self.group.as_deref();
        let continuation = self.role.as_deref().map(|role| {
            self.continuation.get_or_init(|| {
                self.cloud
                    .continuation(arn, role)
                    .in_group(group.map(str::to_string))
                    .with_dead_letter(self.dead_letter.clone())
            }) as &dyn Continuation
        });
        // arn:aws:lambda:region:ACCOUNT:function:name
        let account = arn.split(':').nth(4).filter(|a| !a.is_empty());
        Services {
            cloud: &self.cloud,
            function_region: self.region.as_deref(),
            ledger: self.ledger.as_ref().map(|l| l as &dyn Ledger),
            continuation,
            schedule_origin: ScheduleOrigin { account, group },
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ec2_tier_scheduler::telemetry::init_lambda();
    let app = App::from_env().await;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| app.invoke(event))).await
}
