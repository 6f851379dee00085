//! A private moto server per test, and SDK configuration pointing at it.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running moto server, killed on drop.
pub struct Moto {
    child: Child,
    pub port: u16,
    pub endpoint: String,
}

fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var("VENV").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv").to_string());
    PathBuf::from(venv).join("bin").join(name)
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub async fn start() -> Moto {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            // The launcher adds what moto lacks (credit specifications,
            // AssumeRole that can be refused); see its docstring.
            let launcher = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_launcher.py");
            let child = Command::new(venv_bin("python"))
                .arg(launcher)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("python in .venv not found: run `make venv` first");
            let mut moto = Moto {
                child,
                port,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            for _ in 0..200 {
                if moto.http_get("/moto-api/").await.is_ok() {
                    return moto;
                }
                if moto.child.try_wait().ok().flatten().is_some() {
                    break; // port taken: try another
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("moto_server did not start");
    }

    /// SDK configuration for this server in `region`, with dummy keys.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(ec2_tier_scheduler::aws::https_client())
            .endpoint_url(&self.endpoint)
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }

    /// A plain HTTP GET on the server (for `/moto-api/data.json`).
    pub async fn http_get(&self, path: &str) -> std::io::Result<String> {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut body = String::new();
        stream.read_to_string(&mut body).await?;
        Ok(body
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default())
    }

    /// Messages published to SNS, as moto stores them: (topic ARN, subject, message).
    pub async fn sns_messages(&self) -> Vec<(String, String, String)> {
        let text = self.http_get("/moto-api/data.json").await.unwrap();
        let data: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut out = Vec::new();
        let Some(topics) = data["sns"]["Topic"].as_array() else {
            return out;
        };
        for topic in topics {
            let arn = topic["arn"].as_str().unwrap_or_default().to_string();
            if let Some(messages) = topic["sent_notifications"].as_array() {
                for m in messages {
                    // [message_id, message, subject, attributes, group_id]
                    let message = m[1].as_str().unwrap_or_default().to_string();
                    let subject = m[2].as_str().unwrap_or_default().to_string();
                    out.push((arn.clone(), subject, message));
                }
            }
        }
        out
    }

    /// Starts the simulated SSM agent (tests/support/ssm_agent.py) against
    /// this server. `args` are its fixture flags (`--file ID:PATH`, ...).
    pub fn agent(&self, region: &str, args: &[String]) -> Agent {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/ssm_agent.py");
        let child = Command::new(venv_bin("python"))
            .arg(script)
            .args(["--endpoint", &self.endpoint, "--region", region])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python in the virtualenv");
        Agent { child }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The simulated SSM agent process, killed on drop.
pub struct Agent {
    child: Child,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK clients on a moto server, with helpers to build a workload.
pub struct Stack {
    pub moto: Moto,
    pub config: SdkConfig,
    pub ec2: aws_sdk_ec2::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub rds: aws_sdk_rds::Client,
    /// The run ledger table exists ([`Stack::ledger_table`]): the CLI and
    /// [`Stack::cloud`] use it.
    pub ledger: std::sync::atomic::AtomicBool,
}

/// The run ledger table's name in these tests.
pub const LEDGER_TABLE: &str = "SchedulerRunLedger";

impl Stack {
    /// A fresh moto with the two configuration tables in us-west-2.
    pub async fn start() -> Stack {
        let moto = Moto::start().await;
        let config = moto.sdk_config("us-west-2").await;
        let s3_conf = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build();
        let stack = Stack {
            ec2: aws_sdk_ec2::Client::new(&config),
            ddb: aws_sdk_dynamodb::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            sns: aws_sdk_sns::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            rds: aws_sdk_rds::Client::new(&config),
            config,
            moto,
            ledger: Default::default(),
        };
        stack.create_tables().await;
        stack
    }

    /// The product's cloud on this emulator (keeping records in the run
    /// ledger table once it exists).
    pub fn cloud(&self) -> ec2_tier_scheduler::aws::AwsCloud {
        let cloud =
            ec2_tier_scheduler::aws::AwsCloud::new(self.config.clone(), ec2_tier_scheduler::aws::Tables::default());
        let ledger = self.ledger.load(std::sync::atomic::Ordering::SeqCst);
        cloud.with_records(ledger.then_some(LEDGER_TABLE))
    }

    /// The run ledger table as infra/template.yaml defines it: `pk`, and
    /// the two indexes `runs list`, `status` and the records query. From
    /// now on the CLI runs with it (`RUN_LEDGER_TABLE`).
    pub async fn ledger_table(&self) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
            ProjectionType, ScalarAttributeType,
        };
        use ec2_tier_scheduler::aws::{RUNS_BY_TIME_INDEX, RUNS_BY_WORKLOAD_INDEX};
        let attr = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .unwrap()
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .unwrap()
        };
        let index = |name: &str, hash: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash))
                .key_schema(key("startedAt", KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap()
        };
        self.ddb
            .create_table()
            .table_name(LEDGER_TABLE)
            .attribute_definitions(attr("pk", ScalarAttributeType::S))
            .attribute_definitions(attr("workload", ScalarAttributeType::S))
            .attribute_definitions(attr("kind", ScalarAttributeType::S))
            .attribute_definitions(attr("startedAt", ScalarAttributeType::N))
            .key_schema(key("pk", KeyType::Hash))
            .global_secondary_indexes(index(RUNS_BY_WORKLOAD_INDEX, "workload"))
            .global_secondary_indexes(index(RUNS_BY_TIME_INDEX, "kind"))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
        self.ledger.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    async fn create_tables(&self) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap()
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .unwrap()
        };
        self.ddb
            .create_table()
            .table_name("WorkloadSpecification")
            .attribute_definitions(attr("SpecName"))
            .key_schema(key("SpecName", KeyType::Hash))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
        self.ddb
            .create_table()
            .table_name("TierSpecification")
            .attribute_definitions(attr("SpecName"))
            .attribute_definitions(attr("TierTagValue"))
            .key_schema(key("SpecName", KeyType::Hash))
            .key_schema(key("TierTagValue", KeyType::Range))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
        self.ddb
            .create_table()
            .table_name("WorkloadState")
            .attribute_definitions(attr("Workload"))
            .key_schema(key("Workload", KeyType::Hash))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
    }

    /// Environment for the CLI binary against this emulator.
    pub fn cli_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.moto.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-west-2".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
        .into_iter()
        .chain(
            self.ledger
                .load(std::sync::atomic::Ordering::SeqCst)
                .then(|| ("RUN_LEDGER_TABLE", LEDGER_TABLE.to_string())),
        )
        .collect()
    }

    /// Runs the `orchestrator` CLI against this emulator: (exit code, stdout, stderr).
    pub async fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_orchestrator"))
            .args(args)
            .env_remove("AWS_PROFILE")
            .envs(self.cli_env())
            .output()
            .await
            .expect("the orchestrator binary");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs tests/support/member_account.py against this emulator; returns its stdout as JSON.
    pub fn member_account(&self, args: &[&str]) -> serde_json::Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/member_account.py");
        let out = Command::new(venv_bin("python"))
            .arg(script)
            .args(["--endpoint", &self.moto.endpoint])
            .args(args)
            .output()
            .expect("python in the virtualenv");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Runs tests/support/event_queue.py against this emulator (`setup
    /// --bus B --queue Q`: a rule on the bus sending the scheduler's events
    /// to a queue; `read --queue Q`: the events it holds); its stdout as JSON.
    pub fn event_queue(&self, args: &[&str]) -> serde_json::Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/event_queue.py");
        let out = Command::new(venv_bin("python"))
            .arg(script)
            .args(["--endpoint", &self.moto.endpoint, "--region", "us-west-2"])
            .args(args)
            .output()
            .expect("python in the virtualenv");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Writes a workload's items with the product's own store.
    pub async fn put_config(&self, workload: serde_json::Value, tiers: Vec<serde_json::Value>) {
        use ec2_tier_scheduler::config::WorkloadItems;
        use ec2_tier_scheduler::ports::Cloud;
        self.cloud()
            .config_store("us-west-2")
            .save(&WorkloadItems { workload, tiers })
            .await
            .unwrap();
    }

    /// A VPC with one subnet; returns (vpc id, subnet id).
    pub async fn vpc(&self, cidr: &str) -> (String, String) {
        let vpc = self
            .ec2
            .create_vpc()
            .cidr_block(format!("{cidr}/16"))
            .send()
            .await
            .unwrap();
        let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
        let subnet = self
            .ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("{cidr}/24"))
            .send()
            .await
            .unwrap();
        (vpc_id, subnet.subnet().unwrap().subnet_id().unwrap().to_string())
    }

    /// Launches `count` running instances with the given tags in `subnet`.
    pub async fn launch(&self, subnet: &str, tags: &[(&str, &str)], count: i32) -> Vec<String> {
        use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        let out = self
            .ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .min_count(count)
            .max_count(count)
            .instance_type(InstanceType::T2Micro)
            .subnet_id(subnet)
            .tag_specifications(spec.build())
            .send()
            .await
            .unwrap();
        let mut ids: Vec<String> = out
            .instances()
            .iter()
            .map(|i| i.instance_id().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    /// Launches `count` instances of tier `role` of the tests' workload (`Environment=ENV001`).
    pub async fn launch_tier(&self, subnet: &str, role: &str, count: i32) -> Vec<String> {
        self.launch(subnet, &[("Environment", "ENV001"), ("Role", role)], count)
            .await
    }

    /// `orchestrator -w <workload> -r us-west-2 -a <action> --json`: exit 0,
    /// and what it printed.
    pub async fn run_json(&self, workload: &str, action: &str) -> serde_json::Value {
        let (code, out, err) = self
            .cli(&["-w", workload, "-r", "us-west-2", "-a", action, "--json"])
            .await;
        assert_eq!(code, 0, "{out}\n{err}");
        serde_json::from_str(&out).unwrap()
    }

    /// An Auto Scaling group `name` in `subnet` at (min, desired, max),
    /// carrying `tags` (propagated to its instances when `propagate`).
    pub async fn auto_scaling_group(
        &self,
        name: &str,
        subnet: &str,
        (min, desired, max): (i32, i32, i32),
        tags: &[(&str, &str)],
        propagate: bool,
    ) -> aws_sdk_autoscaling::Client {
        use aws_sdk_autoscaling::types::Tag;
        let asg = aws_sdk_autoscaling::Client::new(&self.config);
        let config = format!("{name}-lc");
        asg.create_launch_configuration()
            .launch_configuration_name(&config)
            .image_id("ami-12c6146b")
            .instance_type("t2.micro")
            .send()
            .await
            .unwrap();
        let tags = tags.iter().map(|(k, v)| {
            Tag::builder()
                .key(*k)
                .value(*v)
                .propagate_at_launch(propagate)
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .build()
        });
        asg.create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_configuration_name(&config)
            .min_size(min)
            .desired_capacity(desired)
            .max_size(max)
            .vpc_zone_identifier(subnet)
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .unwrap();
        asg
    }

    /// An ECS service `cluster/name` (cluster created) at `desired`,
    /// carrying `tags`.
    pub async fn ecs_service(
        &self,
        cluster: &str,
        name: &str,
        desired: i32,
        tags: &[(&str, &str)],
    ) -> aws_sdk_ecs::Client {
        use aws_sdk_ecs::types::{ContainerDefinition, Tag};
        let ecs = aws_sdk_ecs::Client::new(&self.config);
        ecs.create_cluster().cluster_name(cluster).send().await.unwrap();
        ecs.register_task_definition()
            .family(name)
            .container_definitions(
                ContainerDefinition::builder()
                    .name(name)
                    .image("nginx")
                    .memory(128)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build());
        ecs.create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition(name)
            .desired_count(desired)
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .unwrap();
        ecs
    }

    /// Current state and type of an instance.
    pub async fn instance(&self, id: &str) -> (String, String) {
        let out = self.ec2.describe_instances().instance_ids(id).send().await.unwrap();
        let i = &out.reservations()[0].instances()[0];
        (
            i.state().unwrap().name().unwrap().as_str().to_string(),
            i.instance_type().unwrap().as_str().to_string(),
        )
    }

    /// Creates the SSM output bucket in `region` and the SNS topic.
    pub async fn bucket_and_topic(&self, bucket: &str, region: &str, topic: &str) {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        // S3 wants the request in the bucket's own region.
        let conf = aws_sdk_s3::config::Builder::from(&self.config)
            .force_path_style(true)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        let mut request = aws_sdk_s3::Client::from_conf(conf).create_bucket().bucket(bucket);
        if region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        request.send().await.unwrap();
        self.sns.create_topic().name(topic).send().await.unwrap();
    }

    /// SendCommand calls moto recorded.
    pub async fn commands(&self) -> Vec<aws_sdk_ssm::types::Command> {
        self.ssm.list_commands().send().await.unwrap().commands().to_vec()
    }
}
