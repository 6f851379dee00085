//! Override checks through SSM + S3 and SNS notifications against moto, with
//! the simulated SSM agent writing the output the real agent would. The
//! checks run through the stack's own command documents, created in moto
//! from `infra/template.yaml` as CloudFormation would; the moto launcher
//! enforces their `allowedPattern` as SSM does.

use std::time::Duration;

use aws_sdk_ssm::types::{DocumentFormat, DocumentType};
use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::aws::ApiCounter;
use ec2_tier_scheduler::error::RunError;
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::override_check::{CheckDocuments, GuestOs, OverrideCheck, PATH_PARAMETER};
use serde_json::{json, Value};

use crate::support::moto::Stack;
use crate::support::{fast_settings, request, run_fast, three_tiers, workload_item};

/// The override-check documents of `infra/template.yaml`: (name with the
/// default prefix, content as JSON) for Linux and Windows.
fn template_documents() -> [(String, Value); 2] {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let prefix = template["Parameters"]["OverrideCheckDocumentPrefix"]["Default"]
        .as_str()
        .unwrap()
        .to_string();
    ["OverrideCheckLinuxDocument", "OverrideCheckWindowsDocument"].map(|id| {
        let props = &template["Resources"][id]["Properties"];
        let serde_yaml::Value::Tagged(name) = &props["Name"] else {
            panic!("{id}: Name is not a !Sub")
        };
        let name = name
            .value
            .as_str()
            .unwrap()
            .replace("${OverrideCheckDocumentPrefix}", &prefix);
        (name, serde_json::to_value(&props["Content"]).unwrap())
    })
}

/// Creates the stack's documents in the emulator (CreateDocument, as the
/// stack does) and returns the settings that name them.
async fn create_documents(stack: &Stack) -> CheckDocuments {
    let [linux, windows] = template_documents();
    for (name, content) in [&linux, &windows] {
        stack
            .ssm
            .create_document()
            .name(name)
            .content(content.to_string())
            .document_type(DocumentType::Command)
            .document_format(DocumentFormat::Json)
            .send()
            .await
            .unwrap();
    }
    CheckDocuments {
        linux: Some(linux.0),
        windows: Some(windows.0),
        allow_aws_run_script: false,
    }
}

/// Web has the override check for `os` at `path`; returns (stack, web ids,
/// app ids, the settings naming the stack's documents, created in moto).
async fn workload(os: &str, path: &str) -> (Stack, Vec<String>, Vec<String>, CheckDocuments) {
    let stack = Stack::start().await;
    let documents = create_documents(&stack).await;
    stack
        .bucket_and_topic("ssm-output", "us-west-2", "SchedulerTesting")
        .await;
    let (_, subnet) = stack.vpc("10.7.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 3).await;
    let app = stack.launch_tier(&subnet, "Role_App", 1).await;
    let mut tiers: Vec<Value> = three_tiers("W", 0);
    tiers[0]["TierStop"]["TierStopOverrideFilename"] = json!(path);
    tiers[0]["TierStop"]["TierStopOverrideOperatingSystem"] = json!(os);
    stack.put_config(workload_item("W"), tiers).await;
    (stack, web, app, documents)
}

fn quick(timeout_secs: u64, documents: &CheckDocuments) -> Settings {
    Settings {
        override_timeout: Duration::from_secs(timeout_secs),
        override_documents: documents.clone(),
        ..fast_settings()
    }
}

#[tokio::test]
async fn linux_tier_bypasses_the_instance_holding_the_file_and_notifies() {
    let (stack, web, app, documents) = workload("Linux", "/tmp/StopOverride").await;
    let _agent = stack.moto.agent(
        "us-west-2",
        &[
            format!("--file={}:/tmp/StopOverride", web[1]),
            format!("--file={}:/tmp/other", web[2]),
        ],
    );
    let counter = ApiCounter::new();
    let cloud = stack.cloud().with_counter(counter.clone());
    let report = orchestrator::run(
        &cloud,
        &request("W", Action::Stop),
        &Budget::unlimited(),
        &quick(30, &documents),
    )
    .await
    .unwrap();
    let web_tier = &report.summary.tiers[0];
    assert_eq!(web_tier.bypassed.len(), 1, "{}", report.summary.to_table());
    assert_eq!(web_tier.bypassed[0].id, web[1]);
    assert!(web_tier.bypassed[0].reason.contains("/tmp/StopOverride present"));
    assert_eq!(web_tier.acted, vec![web[0].clone(), web[2].clone()]);
    assert_eq!(stack.instance(&web[1]).await.0, "running");
    assert_eq!(stack.instance(&web[0]).await.0, "stopped");
    assert_eq!(
        stack.instance(&app[0]).await.0,
        "stopped",
        "the rest of the run goes on"
    );

    // One SendCommand for the tier (3 instances <= 50), the stack's Linux
    // document with the path as its only parameter, output in the bucket.
    assert_eq!(counter.count("SSM", "SendCommand"), 1);
    // Polled by command through the launcher's ListCommandInvocations, with
    // the agent's answer inline: no per-instance polls, no S3 reads.
    assert!(counter.count("SSM", "ListCommandInvocations") >= 1);
    assert_eq!(counter.count("SSM", "GetCommandInvocation"), 0);
    assert_eq!(counter.count("S3", "GetObject"), 0);
    let commands = stack.commands().await;
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].document_name(), documents.linux.as_deref());
    let parameters = commands[0].parameters().unwrap();
    assert_eq!(parameters.len(), 1, "{parameters:?}");
    assert_eq!(parameters[PATH_PARAMETER], ["/tmp/StopOverride"]);
    assert_eq!(commands[0].output_s3_bucket_name(), Some("ssm-output"));
    assert_eq!(commands[0].output_s3_key_prefix(), Some("ssmRemoteComandResults"));

    // SNS: one message per bypass and one summary, read back from the emulator.
    let messages = stack.moto.sns_messages().await;
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let bypass = messages
        .iter()
        .find(|m| m.1.contains("bypassed"))
        .expect("bypass message");
    assert!(bypass.2.contains(&web[1]) && bypass.2.contains("Role_Web"));
    let summary = messages
        .iter()
        .find(|m| m.1.starts_with("EC2 scheduler: Stop W"))
        .expect("summary");
    assert!(summary.1.len() <= 100);
    assert!(
        summary
            .2
            .contains("Tier Role_Web (sequence 0): 2 stopped, 0 skipped, 1 bypassed"),
        "{}",
        summary.2
    );
    assert!(summary.2.contains(&format!("bypassed {}", web[1])));
}

#[tokio::test]
async fn windows_tier_uses_the_windows_document() {
    let (stack, web, _, documents) = workload("Windows", "C:\\ignore.txt").await;
    let _agent = stack
        .moto
        .agent("us-west-2", &[format!("--file={}:C:\\ignore.txt", web[0])]);
    let report = orchestrator::run(
        &stack.cloud(),
        &request("W", Action::Stop),
        &Budget::unlimited(),
        &quick(30, &documents),
    )
    .await
    .unwrap();
    let web_tier = &report.summary.tiers[0];
    assert_eq!(
        web_tier.bypassed.iter().map(|b| b.id.clone()).collect::<Vec<_>>(),
        vec![web[0].clone()]
    );
    assert_eq!(web_tier.acted, vec![web[1].clone(), web[2].clone()]);
    let command = &stack.commands().await[0];
    assert_eq!(command.document_name(), documents.windows.as_deref());
    assert_eq!(command.parameters().unwrap()[PATH_PARAMETER], ["C:\\ignore.txt"]);
}

#[tokio::test]
async fn the_aws_run_shell_script_opt_in_sends_the_quoted_command() {
    let (stack, web, _, _) = workload("Linux", "/tmp/StopOverride").await;
    let _agent = stack
        .moto
        .agent("us-west-2", &[format!("--file={}:/tmp/StopOverride", web[0])]);
    let opt_in =
        CheckDocuments::from_vars(|name| (name == "OVERRIDE_CHECK_ALLOW_RUN_SHELL_SCRIPT").then(|| "true".to_string()));
    let report = orchestrator::run(
        &stack.cloud(),
        &request("W", Action::Stop),
        &Budget::unlimited(),
        &quick(30, &opt_in),
    )
    .await
    .unwrap();
    let web_tier = &report.summary.tiers[0];
    assert_eq!(web_tier.bypassed.len(), 1, "{}", report.summary.to_table());
    assert_eq!(web_tier.bypassed[0].id, web[0]);
    let command = &stack.commands().await[0];
    assert_eq!(command.document_name(), Some("AWS-RunShellScript"));
    let check = OverrideCheck::new("/tmp/StopOverride", GuestOs::Linux).unwrap();
    assert_eq!(command.parameters().unwrap()["commands"], [check.command()]);
}

#[tokio::test]
async fn without_a_document_or_the_opt_in_the_run_is_refused_before_any_action() {
    let (stack, web, app, _) = workload("Linux", "/tmp/StopOverride").await;
    let err = orchestrator::run(
        &stack.cloud(),
        &request("W", Action::Stop),
        &Budget::unlimited(),
        &quick(4, &CheckDocuments::from_vars(|_| None)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RunError::Precondition { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("Role_Web")
            && text.contains("OVERRIDE_CHECK_DOCUMENT_LINUX")
            && text.contains("OVERRIDE_CHECK_ALLOW_RUN_SHELL_SCRIPT"),
        "{text}"
    );
    assert!(stack.commands().await.is_empty());
    for id in web.iter().chain(&app) {
        assert_eq!(stack.instance(id).await.0, "running", "{id}");
    }
}

/// SSM itself (here: the launcher, which applies the document's
/// allowedPattern as SSM does) accepts exactly the paths the project's
/// allow-list accepts, so a path that slipped past the Rust check could
/// still not reach a shell. Length limits are Rust's alone.
#[tokio::test]
async fn the_stack_documents_refuse_what_the_allow_list_refuses() {
    let stack = Stack::start().await;
    let documents = create_documents(&stack).await;
    let (_, subnet) = stack.vpc("10.6.0.0").await;
    let target = stack.launch_tier(&subnet, "Role_Web", 1).await;
    let linux = [
        "/tmp/StopOverride",
        "/",
        "//x",
        "/var/run/my app/hold-1.flag",
        "/a/./b",
        "/.hidden",
        "/a./b",
        "/...",
        "/a..b",
        "/..a",
        "/a/..x/c",
        "/x+y=z,@w:v",
        "/tmp/../etc/passwd",
        "/..",
        "/a/..",
        "/a/../",
        "/tmp/x'; reboot; '",
        "/tmp/$(reboot)",
        "/tmp/`id`",
        "/tmp/a\nb",
        "/tmp/a\\b",
        "/tmp/(x)",
        "/tmp/*",
        "relative/path",
        "",
        "C:\\ignore.txt",
    ];
    let windows = [
        "C:\\ignore.txt",
        "c:\\",
        "C:\\Program Files (x86)\\app\\hold.flag",
        "C:\\.x\\x.\\...",
        "C:\\a\\..",
        "C:\\..\\Windows",
        "C:\\a:b",
        "C:/ignore.txt",
        "C:\\it's",
        "C:\\$(Stop-Computer)",
        "C:\\a`b",
        "C:\\x & calc",
        "\\\\server\\share\\x",
        "ignore.txt",
        "/tmp/StopOverride",
    ];
    let cases = linux
        .iter()
        .map(|p| (GuestOs::Linux, documents.linux.clone().unwrap(), *p))
        .chain(
            windows
                .iter()
                .map(|p| (GuestOs::Windows, documents.windows.clone().unwrap(), *p)),
        );
    for (os, document, path) in cases {
        let rust = OverrideCheck::new(path, os).is_ok();
        let sent = stack
            .ssm
            .send_command()
            .document_name(&document)
            .instance_ids(&target[0])
            .parameters(PATH_PARAMETER, vec![path.to_string()])
            .send()
            .await;
        let refused = sent.as_ref().err().map(|e| {
            aws_smithy_types::error::metadata::ProvideErrorMetadata::code(e)
                .unwrap_or_default()
                .to_string()
        });
        assert_eq!(
            sent.is_ok(),
            rust,
            "{os} {path:?}: allow-list says {rust}, the document's allowedPattern says {refused:?}"
        );
        if let Some(code) = refused {
            assert_eq!(code, "InvalidParameters", "{path:?}");
        }
    }
    // Only the declared parameter, and only the stack's documents exist.
    let extra = stack
        .ssm
        .send_command()
        .document_name(documents.linux.as_deref().unwrap())
        .instance_ids(&target[0])
        .parameters(PATH_PARAMETER, vec!["/tmp/x".to_string()])
        .parameters("commands", vec!["reboot".to_string()])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&extra),
        Some("InvalidParameters")
    );
}

#[tokio::test]
async fn no_output_within_the_timeout_keeps_the_instance_running() {
    let (stack, web, _, documents) = workload("Linux", "/tmp/StopOverride").await;
    let _agent = stack.moto.agent(
        "us-west-2",
        &[format!("--silent={}", web[0]), format!("--garbage={}", web[1])],
    );
    let report = orchestrator::run(
        &stack.cloud(),
        &request("W", Action::Stop),
        &Budget::unlimited(),
        &quick(4, &documents),
    )
    .await
    .unwrap();
    let web_tier = &report.summary.tiers[0];
    let reasons: Vec<(&str, &str)> = web_tier
        .bypassed
        .iter()
        .map(|b| (b.id.as_str(), b.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].1.contains("no answer within 4s"), "{reasons:?}");
    assert!(reasons[1].1.contains("no clear answer"), "{reasons:?}");
    assert_eq!(web_tier.acted, vec![web[2].clone()]);
    assert_eq!(stack.instance(&web[0]).await.0, "running");
}

#[tokio::test]
async fn bucket_in_another_region_is_refused_before_any_action() {
    let stack = Stack::start().await;
    stack
        .bucket_and_topic("ssm-output", "eu-central-1", "SchedulerTesting")
        .await;
    let (_, subnet) = stack.vpc("10.8.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 1).await;
    let mut tiers = three_tiers("W", 0);
    tiers[0]["TierStop"]["TierStopOverrideFilename"] = json!("/tmp/StopOverride");
    tiers[0]["TierStop"]["TierStopOverrideOperatingSystem"] = json!("Linux");
    stack.put_config(workload_item("W"), tiers).await;
    let documents = create_documents(&stack).await;
    let err = orchestrator::run(
        &stack.cloud(),
        &request("W", Action::Stop),
        &Budget::unlimited(),
        &quick(4, &documents),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RunError::Precondition { .. }));
    assert!(err.to_string().contains("is in eu-central-1"), "{err}");
    assert!(stack.commands().await.is_empty());
    assert_eq!(stack.instance(&web[0]).await.0, "running");
}

#[tokio::test]
async fn dry_run_sends_no_command_and_no_notification() {
    let (stack, web, _, documents) = workload("Linux", "/tmp/StopOverride").await;
    let counter = ApiCounter::new();
    let cloud = stack.cloud().with_counter(counter.clone());
    let mut req = request("W", Action::Stop);
    req.dry_run = true;
    let report = orchestrator::run(&cloud, &req, &Budget::unlimited(), &quick(4, &documents))
        .await
        .unwrap();
    assert!(report.plan.groups[0].tiers[0]
        .instances
        .iter()
        .all(|i| i.check_override));
    let mutating = [
        "StopInstances",
        "StartInstances",
        "ModifyInstanceAttribute",
        "SendCommand",
        "Publish",
    ];
    for ((_, op), n) in counter.calls() {
        assert!(!mutating.contains(&op.as_str()), "dry run called {op} {n} times");
    }
    assert!(stack.commands().await.is_empty());
    assert!(stack.moto.sns_messages().await.is_empty());
    assert_eq!(stack.instance(&web[0]).await.0, "running");
}

#[tokio::test]
async fn missing_topic_is_reported_but_never_aborts() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.9.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 1).await;
    let mut workload = workload_item("W");
    workload["SNSTopicName"] = json!("NoSuchTopic");
    stack.put_config(workload, three_tiers("W", 0)).await;
    let report = run_fast(&stack.cloud(), &request("W", Action::Stop)).await;
    assert_eq!(report.summary.tiers[0].acted, web);
    assert_eq!(report.summary.notification_errors.len(), 1);
    assert!(report.summary.notification_errors[0].contains("NoSuchTopic"));
}
