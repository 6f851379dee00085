//! Lambda entry point: telemetry, one SDK configuration, clients built once,
//! then the runtime loop.

use std::time::SystemTime;

use ec2_tier_scheduler::aws::{load_sdk_config, AwsCloud, Tables};
use ec2_tier_scheduler::handler::{handle, HandlerError};
use ec2_tier_scheduler::orchestrator::Settings;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ec2_tier_scheduler::telemetry::init_lambda();
    let cloud = AwsCloud::new(load_sdk_config().await, Tables::from_env());
    let region = cloud.default_region();
    let settings = Settings::default();
    let (cloud, region, settings) = (&cloud, region.as_deref(), &settings);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        cloud.learn_account_from_arn(&event.context.invoked_function_arn);
        let time_left = event.context.deadline().duration_since(SystemTime::now()).ok();
        handle(cloud, region, &event.payload, time_left, settings)
            .await
            .map_err(|e: HandlerError| e)
    }))
    .await
}
