//! Issue 34 against moto: what the adapter reads to price the members a
//! Stop stopped (src/aws/price_facts.rs): an instance's type, tenancy and
//! UsageOperation, an RDS instance's class, engine and Multi-AZ, a
//! cluster's instances, a group's launch configuration or launch template
//! version, a node group's one type, a Fargate service's task size; ECS on
//! EC2, Spot, several types and what is gone are `unknown` with the reason.

use aws_sdk_ec2::types::{InstanceType, RequestLaunchTemplateData};
use ec2_tier_scheduler::aws::AwsPriceFacts;
use ec2_tier_scheduler::member::MemberKind::{self, *};
use ec2_tier_scheduler::ports::PriceFacts;
use ec2_tier_scheduler::savings::Facts;

use crate::support::moto::Stack;

fn facts_reader(stack: &Stack) -> AwsPriceFacts {
    AwsPriceFacts {
        ec2: stack.ec2.clone(),
        rds: stack.rds.clone(),
        asg: aws_sdk_autoscaling::Client::new(&stack.config),
        eks: aws_sdk_eks::Client::new(&stack.config),
        ecs: aws_sdk_ecs::Client::new(&stack.config),
    }
}

async fn database(stack: &Stack, id: &str, cluster: Option<&str>, multi_az: bool) {
    let engine = if cluster.is_some() {
        "aurora-postgresql"
    } else {
        "postgres"
    };
    stack
        .rds
        .create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.r6g.large")
        .engine(engine)
        .allocated_storage(20)
        .master_username("scheduler")
        .master_user_password("not-a-secret-1")
        .multi_az(multi_az)
        .set_db_cluster_identifier(cluster.map(str::to_string))
        .send()
        .await
        .unwrap();
}

async fn fargate_service(stack: &Stack) {
    use aws_sdk_ecs::types::{
        Compatibility, ContainerDefinition, CpuArchitecture, LaunchType, OsFamily, RuntimePlatform,
    };
    let ecs = aws_sdk_ecs::Client::new(&stack.config);
    ecs.register_task_definition()
        .family("worker")
        .cpu("512")
        .memory("1024")
        .requires_compatibilities(Compatibility::Fargate)
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(CpuArchitecture::Arm64)
                .operating_system_family(OsFamily::Linux)
                .build(),
        )
        .container_definitions(ContainerDefinition::builder().name("worker").image("busybox").build())
        .send()
        .await
        .unwrap();
    ecs.create_service()
        .cluster("prod")
        .service_name("worker")
        .task_definition("worker")
        .launch_type(LaunchType::Fargate)
        .desired_count(2)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_adapter_reads_what_prices_every_kind() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.35.0.0").await;
    let ids = stack.launch(&subnet, &[("Role", "Web")], 1).await;
    database(&stack, "orders-db", None, true).await;
    stack
        .rds
        .create_db_cluster()
        .db_cluster_identifier("orders")
        .engine("aurora-postgresql")
        .master_username("scheduler")
        .master_user_password("not-a-secret-1")
        .send()
        .await
        .unwrap();
    database(&stack, "orders-1", Some("orders"), false).await;
    database(&stack, "orders-2", Some("orders"), false).await;
    // A group on a launch configuration (t2.micro), one on a template.
    stack
        .auto_scaling_group("web", &subnet, (0, 2, 2), &[("Role", "Web")], false)
        .await;
    let template = stack
        .ec2
        .create_launch_template()
        .launch_template_name("api-template")
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id("ami-12c6146b")
                .instance_type(InstanceType::M5Large)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let template_id = template.launch_template().unwrap().launch_template_id().unwrap();
    let asg = aws_sdk_autoscaling::Client::new(&stack.config);
    asg.create_auto_scaling_group()
        .auto_scaling_group_name("api")
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(template_id)
                .version("$Latest")
                .build(),
        )
        .min_size(0)
        .max_size(3)
        .desired_capacity(1)
        .vpc_zone_identifier(&subnet)
        .send()
        .await
        .unwrap();
    // ECS on EC2 (the fixture's task has no size) and on Fargate.
    stack.ecs_service("prod", "api", 1, &[]).await;
    fargate_service(&stack).await;
    // EKS node groups of one type, of two, and on Spot.
    node_group(&stack, &subnet, "workers", &["m5.xlarge"], false).await;
    node_group(&stack, &subnet, "mixed", &["m5.xlarge", "m6i.xlarge"], false).await;
    node_group(&stack, &subnet, "spot", &["m5.xlarge"], true).await;

    let members: Vec<(MemberKind, String)> = [
        (Ec2, ids[0].as_str()),
        (Rds, "orders-db"),
        (Aurora, "orders"),
        (Asg, "web"),
        (Asg, "api"),
        (Ecs, "prod/api"),
        (Ecs, "prod/worker"),
        (Rds, "gone-db"),
        (Ecs, "not-a-service-id"),
        (Eks, "prod/workers"),
        (Eks, "prod/mixed"),
        (Eks, "prod/spot"),
    ]
    .into_iter()
    .map(|(k, id)| (k, id.to_string()))
    .collect();
    let facts = facts_reader(&stack).facts(&members).await;
    assert_eq!(facts.len(), members.len());
    match &facts[0] {
        Facts::Instance {
            instance_type,
            tenancy,
            usage_operation,
            spot,
            storage,
        } => {
            // moto gives each instance its root EBS volume: it still bills.
            assert!(storage.values().sum::<u64>() > 0, "{storage:?}");
            assert_eq!(instance_type, "t2.micro");
            assert_eq!(tenancy, "default");
            assert!(usage_operation.starts_with("RunInstances"), "{usage_operation}");
            assert!(!spot);
        }
        other => panic!("{other:?}"),
    }
    match &facts[1] {
        Facts::Database {
            class,
            engine,
            multi_az,
            storage,
            ..
        } => {
            assert_eq!(
                (class.as_str(), engine.as_str(), *multi_az),
                ("db.r6g.large", "postgres", true)
            );
            assert_eq!(storage.values().sum::<u64>(), 20, "its allocated storage: {storage:?}");
        }
        other => panic!("{other:?}"),
    }
    match &facts[2] {
        Facts::Cluster { engine, classes } => {
            assert_eq!(engine, "aurora-postgresql");
            assert_eq!(classes, &["db.r6g.large", "db.r6g.large"]);
        }
        other => panic!("{other:?}"),
    }
    let group = |t: &str| Facts::Group {
        instance_type: t.into(),
    };
    assert_eq!(facts[3], group("t2.micro"), "the launch configuration's type");
    assert_eq!(facts[4], group("m5.large"), "the launch template version's type");
    assert!(
        matches!(&facts[5], Facts::Unknown { reason } if reason.contains("ECS on EC2")),
        "{:?}",
        facts[5]
    );
    assert_eq!(
        facts[6],
        Facts::Task {
            cpu: 512,
            memory_mib: 1024,
            arm: true
        }
    );
    assert!(
        matches!(&facts[7], Facts::Unknown { reason } if reason.contains("DescribeDBInstances")),
        "{:?}",
        facts[7]
    );
    assert_eq!(facts[8], Facts::unknown("not cluster/service"));
    assert_eq!(facts[9], group("m5.xlarge"), "the node group's one type");
    assert_eq!(facts[10], Facts::unknown("several instance types: no one type"));
    assert_eq!(facts[11], Facts::unknown("Spot: not on-demand"));
}

async fn node_group(stack: &Stack, subnet: &str, name: &str, types: &[&str], spot: bool) {
    use aws_sdk_eks::types::{CapacityTypes, NodegroupScalingConfig, VpcConfigRequest};
    let eks = aws_sdk_eks::Client::new(&stack.config);
    if eks.describe_cluster().name("prod").send().await.is_err() {
        eks.create_cluster()
            .name("prod")
            .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
            .resources_vpc_config(VpcConfigRequest::builder().subnet_ids(subnet).build())
            .send()
            .await
            .unwrap();
    }
    let scaling = NodegroupScalingConfig::builder()
        .min_size(0)
        .desired_size(2)
        .max_size(3)
        .build();
    let capacity = if spot {
        CapacityTypes::Spot
    } else {
        CapacityTypes::OnDemand
    };
    eks.create_nodegroup()
        .cluster_name("prod")
        .nodegroup_name(name)
        .node_role("arn:aws:iam::123456789012:role/eks-node")
        .subnets(subnet)
        .scaling_config(scaling)
        .set_instance_types(Some(types.iter().map(|t| t.to_string()).collect()))
        .capacity_type(capacity)
        .send()
        .await
        .unwrap();
}
