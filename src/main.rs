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
//! created in it), `METRICS_NAMESPACE` (the CloudWatch namespace of the
//! Embedded Metric Format line each run prints; `Ec2TierScheduler`).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use ec2_tier_scheduler::aws::{load_sdk_config, ApiCounter, AwsCloud, SchedulerContinuation, Tables};
use ec2_tier_scheduler::event::ScheduleOrigin;
use ec2_tier_scheduler::handler::{handle_delivery, HandlerError, Services};
use ec2_tier_scheduler::ledger::{epoch_now_ms, Continuation, Ledger};
use ec2_tier_scheduler::metrics;
use ec2_tier_scheduler::orchestrator::Settings;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ec2_tier_scheduler::telemetry::init_lambda();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    // Counts throttled responses for the Throttles metric.
    let counter = ApiCounter::new();
    let cloud = AwsCloud::new(load_sdk_config().await, Tables::from_env()).with_counter(counter.clone());
    let namespace = metrics::namespace_from_env();
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
    let (cloud, region, ledger, role, continuation, settings, group, counter, namespace) = (
        &cloud,
        region.as_deref(),
        ledger.as_ref(),
        role.as_deref(),
        &continuation,
        &settings,
        group.as_deref(),
        &counter,
        namespace.as_str(),
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
        // One invocation at a time per process: the difference is this one's.
        let throttles_before = counter.throttles();
        let handled = handle_delivery(services, &event.payload, time_left, settings)
            .await
            .map_err(|e: HandlerError| e)?;
        let throttles = counter.throttles().saturating_sub(throttles_before);
        if let Some(line) = metrics::for_outcome(namespace, &handled.outcome, throttles, epoch_now_ms()) {
            println!("{line}");
        }
        Ok::<_, HandlerError>(handled.response)
    }))
    .await
}
