//! EC2 adapter.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, AttributeValue, EbsOptimizedSupport, Filter, Instance as Ec2Instance,
    InstanceCreditSpecificationRequest, InstanceType, SummaryStatus,
};
use aws_sdk_ec2::Client;

use super::cloud_error;
use crate::error::CloudError;
use crate::instance::{Discovery, Instance, InstanceState, InstanceStatus, StateReason};
use crate::ports::{Compute, InstanceTags, InstanceTypes, StatusChecks, TypeFacts};
use crate::volume_keys::VolumeKey;

/// EC2 allows up to 200 values in one filter.
const FILTER_VALUES: usize = 200;
/// States worth discovering: terminated instances are ignored.
const LIVE_STATES: [&str; 5] = ["pending", "running", "stopping", "stopped", "shutting-down"];

/// [`Compute`], [`InstanceTypes`], [`InstanceTags`] and [`StatusChecks`] on
/// an EC2 client.
#[derive(Clone, Debug)]
pub struct Ec2Compute {
    client: Client,
}

impl Ec2Compute {
    /// Wraps a client for the workload's region.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// DescribeVolumes of the volumes attached to the instances (the
    /// `attachment.instance-id` filter, 200 ids a call, every page): the key
    /// of each encrypted one, per instance it is attached to.
    pub async fn volume_keys(&self, instance_ids: &[String]) -> Result<Vec<VolumeKey>, CloudError> {
        let mut out = Vec::new();
        for chunk in instance_ids.chunks(FILTER_VALUES) {
            let mut pages = self
                .client
                .describe_volumes()
                .filters(filter("attachment.instance-id", chunk.iter().map(String::as_str)))
                .max_results(500)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("ec2", "DescribeVolumes", e))?;
                for volume in page.volumes() {
                    let (Some(volume_id), Some(key_id)) = (volume.volume_id(), volume.kms_key_id()) else {
                        continue;
                    };
                    for attached in volume.attachments().iter().filter_map(|a| a.instance_id()) {
                        if chunk.iter().any(|id| id == attached) {
                            out.push(VolumeKey {
                                instance_id: attached.to_string(),
                                volume_id: volume_id.to_string(),
                                key_id: key_id.to_string(),
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// DescribeSubnets of `subnet_ids` (200 a call): the VPC of each, for
    /// the VPC filter of members that name subnets (Auto Scaling groups,
    /// ECS services with awsvpc networking).
    pub async fn subnet_vpcs(&self, subnet_ids: &[String]) -> Result<HashMap<String, String>, CloudError> {
        let mut out = HashMap::new();
        for chunk in subnet_ids.chunks(FILTER_VALUES) {
            let mut pages = self
                .client
                .describe_subnets()
                .filters(filter("subnet-id", chunk.iter().map(String::as_str)))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("ec2", "DescribeSubnets", e))?;
                out.extend(
                    page.subnets()
                        .iter()
                        .filter_map(|s| Some((s.subnet_id()?.to_string(), s.vpc_id()?.to_string()))),
                );
            }
        }
        Ok(out)
    }
}

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    let mut b = Filter::builder().name(name);
    for v in values {
        b = b.values(v);
    }
    b.build()
}

fn state_of(i: &Ec2Instance) -> Option<InstanceState> {
    i.state()
        .and_then(|s| s.name())
        .and_then(|n| InstanceState::parse(n.as_str()))
}

#[async_trait]
impl Compute for Ec2Compute {
    async fn discover(&self, query: &Discovery) -> Result<Vec<Instance>, CloudError> {
        let (tag_key, tag_value) = &query.workload_tag;
        let mut request = self
            .client
            .describe_instances()
            .filters(filter(&format!("tag:{tag_key}"), [tag_value.as_str()]))
            .filters(filter("tag-key", [query.tier_tag_key.as_str()]))
            .filters(filter("instance-state-name", LIVE_STATES));
        if let Some(vpc) = &query.vpc_id {
            request = request.filters(filter("vpc-id", [vpc.as_str()]));
        }
        let mut pages = request.max_results(1000).into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("ec2", "DescribeInstances", e))?;
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                let (Some(id), Some(state)) = (instance.instance_id(), state_of(instance)) else {
                    continue;
                };
                if state == InstanceState::Terminated {
                    continue;
                }
                let tag = |key: &str| {
                    instance
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some(key))
                        .and_then(|t| t.value())
                        .map(str::to_string)
                };
                let tier = tag(&query.tier_tag_key).unwrap_or_default();
                let override_tag =
                    tag(&query.override_tag_key).map(|value| (value, tag(crate::override_tag::OVERRIDE_REASON_TAG)));
                let type_tags = crate::instance::TypeTags {
                    original: tag(crate::instance::ORIGINAL_TYPE_TAG),
                    preferred: tag(&query.preferred_types_tag_key),
                };
                found.push(Instance {
                    type_tags,
                    id: id.to_string(),
                    state,
                    instance_type: instance
                        .instance_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    tier,
                    ebs_optimized: instance.ebs_optimized().unwrap_or(false),
                    auto_scaling_group: tag(crate::instance::AUTO_SCALING_GROUP_TAG),
                    hibernation_configured: instance
                        .hibernation_options()
                        .and_then(|h| h.configured())
                        .unwrap_or(false),
                    spot: instance.instance_lifecycle() == Some(&aws_sdk_ec2::types::InstanceLifecycleType::Spot),
                    override_tag,
                    vpc_id: instance.vpc_id().map(str::to_string),
                    registrations: crate::traffic::Registrations::from_tags(
                        instance.tags().iter().filter_map(|t| Some((t.key()?, t.value()?))),
                    ),
                });
            }
        }
        Ok(found)
    }

    async fn states(&self, ids: &[String]) -> Result<Vec<InstanceStatus>, CloudError> {
        let mut out = Vec::with_capacity(ids.len());
        // The instance-id filter (not InstanceIds) so one vanished instance
        // does not fail the whole call with InvalidInstanceID.NotFound.
        for chunk in ids.chunks(FILTER_VALUES) {
            let mut pages = self
                .client
                .describe_instances()
                .filters(filter("instance-id", chunk.iter().map(String::as_str)))
                .max_results(1000)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("ec2", "DescribeInstances", e))?;
                for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                    if let (Some(id), Some(state)) = (instance.instance_id(), state_of(instance)) {
                        let reason = instance.state_reason().map(|r| StateReason {
                            code: r.code().unwrap_or_default().to_string(),
                            message: r.message().unwrap_or_default().to_string(),
                        });
                        out.push(InstanceStatus {
                            id: id.to_string(),
                            state,
                            reason,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    async fn stop(&self, ids: &[String]) -> Result<(), CloudError> {
        self.client
            .stop_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("ec2", "StopInstances", e))
    }

    async fn hibernate(&self, ids: &[String]) -> Result<(), CloudError> {
        self.client
            .stop_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .hibernate(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("ec2", "StopInstances", e))
    }

    async fn start(&self, ids: &[String]) -> Result<(), CloudError> {
        self.client
            .start_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("ec2", "StartInstances", e))
    }
}

#[async_trait]
impl InstanceTypes for Ec2Compute {
    async fn set_instance_type(&self, id: &str, instance_type: &str) -> Result<(), CloudError> {
        self.client
            .modify_instance_attribute()
            .instance_id(id)
            .instance_type(AttributeValue::builder().value(instance_type).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("ec2", "ModifyInstanceAttribute", e))
    }

    async fn set_ebs_optimized(&self, id: &str, on: bool) -> Result<(), CloudError> {
        self.client
            .modify_instance_attribute()
            .instance_id(id)
            .ebs_optimized(AttributeBooleanValue::builder().value(on).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("ec2", "ModifyInstanceAttribute", e))
    }

    async fn type_facts(&self, types: &[String]) -> Result<Vec<TypeFacts>, CloudError> {
        let mut out = Vec::with_capacity(types.len());
        // DescribeInstanceTypes takes at most 100 types per call.
        for chunk in types.chunks(100) {
            let mut pages = self
                .client
                .describe_instance_types()
                .set_instance_types(Some(chunk.iter().map(|t| InstanceType::from(t.as_str())).collect()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("ec2", "DescribeInstanceTypes", e))?;
                for info in page.instance_types() {
                    let Some(name) = info.instance_type() else { continue };
                    out.push(TypeFacts {
                        instance_type: name.as_str().to_string(),
                        ebs_optimizable: info.ebs_info().and_then(|e| e.ebs_optimized_support())
                            != Some(&EbsOptimizedSupport::Unsupported),
                        burstable: info.burstable_performance_supported().unwrap_or(false),
                        architectures: info
                            .processor_info()
                            .map(|p| {
                                p.supported_architectures()
                                    .iter()
                                    .map(|a| a.as_str().to_string())
                                    .collect()
                            })
                            .unwrap_or_default(),
                    });
                }
            }
        }
        Ok(out)
    }

    async fn cpu_credits(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let mut pages = self
                .client
                .describe_instance_credit_specifications()
                .set_instance_ids(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error("ec2", "DescribeInstanceCreditSpecifications", e))?;
                for spec in page.instance_credit_specifications() {
                    if let Some(id) = spec.instance_id() {
                        out.push((id.to_string(), spec.cpu_credits() == Some("unlimited")));
                    }
                }
            }
        }
        Ok(out)
    }

    async fn set_cpu_credits(&self, changes: &[(String, bool)]) -> Result<Vec<(String, String)>, CloudError> {
        let mut refused = Vec::new();
        for chunk in changes.chunks(100) {
            let specs = chunk
                .iter()
                .map(|(id, unlimited)| {
                    InstanceCreditSpecificationRequest::builder()
                        .instance_id(id)
                        .cpu_credits(if *unlimited { "unlimited" } else { "standard" })
                        .build()
                })
                .collect();
            let output = self
                .client
                .modify_instance_credit_specification()
                .set_instance_credit_specifications(Some(specs))
                .send()
                .await
                .map_err(|e| cloud_error("ec2", "ModifyInstanceCreditSpecification", e))?;
            for item in output.unsuccessful_instance_credit_specifications() {
                let error = item.error();
                refused.push((
                    item.instance_id().unwrap_or_default().to_string(),
                    format!(
                        "{}: {}",
                        error.and_then(|e| e.code()).map(|c| c.as_str()).unwrap_or("Unknown"),
                        error.and_then(|e| e.message()).unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(refused)
    }
}

#[async_trait]
impl InstanceTags for Ec2Compute {
    async fn tag(&self, ids: &[String], tags: &[(String, String)]) -> Result<(), CloudError> {
        let mut request = self.client.create_tags().set_resources(Some(ids.to_vec()));
        for (k, v) in tags {
            request = request.tags(aws_sdk_ec2::types::Tag::builder().key(k).value(v).build());
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("ec2", "CreateTags", e))
    }

    async fn untag(&self, ids: &[String], keys: &[String]) -> Result<(), CloudError> {
        let mut request = self.client.delete_tags().set_resources(Some(ids.to_vec()));
        for k in keys {
            request = request.tags(aws_sdk_ec2::types::Tag::builder().key(k).build());
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("ec2", "DeleteTags", e))
    }
}

#[async_trait]
impl StatusChecks for Ec2Compute {
    async fn status_checks_ok(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        let mut out: Vec<(String, bool)> = ids.iter().map(|id| (id.clone(), false)).collect();
        let output = self
            .client
            .describe_instance_status()
            .set_instance_ids(Some(ids.to_vec()))
            .include_all_instances(true)
            .send()
            .await
            .map_err(|e| cloud_error("ec2", "DescribeInstanceStatus", e))?;
        for status in output.instance_statuses() {
            let ok = |s: Option<&SummaryStatus>| s == Some(&SummaryStatus::Ok);
            let instance_ok = ok(status.instance_status().and_then(|s| s.status()));
            let system_ok = ok(status.system_status().and_then(|s| s.status()));
            if let Some(entry) = out.iter_mut().find(|(id, _)| Some(id.as_str()) == status.instance_id()) {
                entry.1 = instance_ok && system_ok;
            }
        }
        Ok(out)
    }
}
