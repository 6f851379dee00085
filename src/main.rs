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
//! created in it).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use ec2_tier_scheduler::aws::{load_sdk_config, AwsCloud, SchedulerContinuation, Tables};
use ec2_tier_scheduler::event::ScheduleOrigin;
use ec2_tier_scheduler::handler::{handle_with, HandlerError, Services};
use ec2_tier_scheduler::ledger::{Continuation, Ledger};
use ec2_tier_scheduler::orchestrator::Settings;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ec2_tier_scheduler::telemetry::init_lambda();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let cloud = AwsCloud::new(load_sdk_config().await, Tables::from_env());
    let region = cloud.default_region();
    let ledger = env("RUN_LEDGER_TABLE").map(|t| cloud.ledger(&t));
    let role = env("CONTINUATION_ROLE_ARN").filter(|_| ledger.is_some());
    let group = env("SCHEDULE_GROUP_NAME");
    let continuation: OnceLock<SchedulerContinuation> = OnceLock::new();
    let settings = Settings {
        // With continuations, long inter-tier delays are not slept through.
        offload_delays_over: role.as_ref().map(|_| Duration::from_secs(120)),
        ..Settings::from_env()
    };
    let (cloud, region, ledger, role, continuation, settings, group) = (
        &cloud,
        region.as_deref(),
        ledger.as_ref(),
        role.as_deref(),
        &continuation,
        &settings,
        group.as_deref(),
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let arn = &event.context.invoked_function_arn;
        cloud.learn_account_from_arn(arn);
        let continuation = role.map(|role| {
            continuation.get_or_init(|| cloud.continuation(arn, role).in_group(group.map(str::to_string)))
                as &dyn Continuation
        });
        // arn:aws:lambda:region:ACCOUNT:function:name
        let account = arn.split(':').nth(4).filter(|a| !a.is_empty());
        let services = Services {
            cloud,
            function_region: region,
            ledger: ledger.map(|l| l as &dyn Ledger),
            continuation,
            schedule_origin: ScheduleOrigin { account, group },
        };
        let time_left = event.context.deadline().duration_since(SystemTime::now()).ok();
        handle_with(services, &event.payload, time_left, settings)
            .await
            .map_err(|e: HandlerError| e)
    }))
    .await
}
