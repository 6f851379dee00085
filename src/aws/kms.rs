//! KMS adapter: what a Start needs to know of the keys of the workload's
//! encrypted EBS volumes (DescribeKey), with the volumes' keys from EC2.

use async_trait::async_trait;
use aws_sdk_kms::types::KeyManagerType;
use aws_sdk_kms::Client;

use super::{cloud_error, Ec2Compute};
use crate::error::CloudError;
use crate::ports::Keys;
use crate::volume_keys::{KeyFacts, KeyLookup, KeyManager, VolumeKey};

/// [`Keys`] on clients of the workload's account and region: EC2 for the
/// volumes, KMS for the keys.
#[derive(Clone, Debug)]
pub struct KmsKeys {
    ec2: Ec2Compute,
    kms: Client,
}

impl KmsKeys {
    /// Wraps the EC2 adapter and a KMS client of the same account and region.
    pub fn new(ec2: Ec2Compute, kms: Client) -> Self {
        Self { ec2, kms }
    }

    /// DescribeKey of one key; a refusal is the key's answer, not an error.
    async fn describe_one(&self, key_id: &str) -> KeyLookup {
        let answer = self.kms.describe_key().key_id(key_id).send().await;
        let output = match answer {
            Ok(output) => output,
            Err(e) => {
                let e = cloud_error("kms", "DescribeKey", e);
                return KeyLookup::Unreadable {
                    code: e.code.unwrap_or_else(|| "Unknown".into()),
                    message: e.message,
                };
            }
        };
        let Some(meta) = output.key_metadata() else {
            return KeyLookup::Unreadable {
                code: "NoKeyMetadata".into(),
                message: "DescribeKey returned no KeyMetadata".into(),
            };
        };
        KeyLookup::Described {
            arn: meta.arn().unwrap_or(key_id).to_string(),
            // Only the key's own word makes it AWS managed: anything else
            // is judged as a customer managed key.
            manager: match meta.key_manager() {
                Some(KeyManagerType::Aws) => KeyManager::Aws,
                _ => KeyManager::Customer,
            },
            state: meta.key_state().map_or("Unknown", |s| s.as_str()).to_string(),
        }
    }
}

#[async_trait]
impl Keys for KmsKeys {
    async fn volume_keys(&self, instance_ids: &[String]) -> Result<Vec<VolumeKey>, CloudError> {
        self.ec2.volume_keys(instance_ids).await
    }

    async fn describe(&self, key_ids: &[String]) -> Result<Vec<KeyFacts>, CloudError> {
        let mut out = Vec::with_capacity(key_ids.len());
        // One call per distinct key; a workload has few.
        for key_id in key_ids {
            out.push(KeyFacts {
                key_id: key_id.clone(),
                lookup: self.describe_one(key_id).await,
            });
        }
        Ok(out)
    }
}
