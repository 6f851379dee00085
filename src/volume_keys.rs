//! The keys of encrypted EBS volumes as EC2 and KMS describe them, and the
//! stack's list of keys the scheduler may create grants on: plain facts the
//! adapters produce and the ports carry. What they mean for a Start is
//! judged in [`crate::plan::keys`].

use serde::Serialize;

/// The environment variable with the stack's `EbsKmsKeyArns` (comma
/// separated key ARNs; set by the template, read by the CLI too).
pub const GRANTED_KEYS_ENV: &str = "EBS_KMS_KEY_ARNS";

/// A key of an encrypted EBS volume attached to an instance (DescribeVolumes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeKey {
    /// The instance the volume is attached to.
    pub instance_id: String,
    /// `vol-...`
    pub volume_id: String,
    /// The volume's `KmsKeyId` (a key ARN).
    pub key_id: String,
}

/// Who manages a key (`KeyManager`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KeyManager {
    /// An AWS managed key such as `aws/ebs`: EC2 may always use it.
    #[serde(rename = "AWS")]
    Aws,
    /// A customer managed key: EC2 uses it through a grant the caller creates.
    #[serde(rename = "CUSTOMER")]
    Customer,
}

/// What KMS said of one key (DescribeKey).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    /// The key as asked (the volume's `KmsKeyId`).
    pub key_id: String,
    /// The answer, or why there is none.
    pub lookup: KeyLookup,
}

/// DescribeKey's answer for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookup {
    /// The key's metadata.
    Described {
        /// The key's ARN.
        arn: String,
        /// AWS or customer managed.
        manager: KeyManager,
        /// `KeyState`: `Enabled`, `Disabled`, `PendingDeletion`, ...
        state: String,
    },
    /// The key could not be described (`AccessDeniedException`, ...).
    Unreadable {
        /// KMS's error code.
        code: String,
        /// KMS's message.
        message: String,
    },
}

/// A malformed entry of the list of keys the scheduler may create grants on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {entry:?} is not a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>)")]
pub struct GrantedKeysError {
    /// Where the list came from (the variable or the flag).
    pub origin: String,
    /// The entry that is not a key ARN.
    pub entry: String,
}

/// The keys the scheduler may create grants on (`EbsKmsKeyArns`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantedKeys(Vec<String>);

impl GrantedKeys {
    /// Parses a comma separated list of KMS key ARNs; `source` names where it
    /// came from (the variable or the flag) in the error.
    pub fn parse(source: &str, text: &str) -> Result<Self, GrantedKeysError> {
        let mut keys = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if !is_key_arn(entry) {
                return Err(GrantedKeysError {
                    origin: source.to_string(),
                    entry: entry.to_string(),
                });
            }
            keys.push(entry.to_string());
        }
        Ok(Self(keys))
    }

    /// The stack's list from [`GRANTED_KEYS_ENV`] (none when unset).
    pub fn from_env() -> Result<Self, GrantedKeysError> {
        match std::env::var(GRANTED_KEYS_ENV) {
            Ok(text) => Self::parse(GRANTED_KEYS_ENV, &text),
            Err(_) => Ok(Self::default()),
        }
    }

    /// True when `key` (an ARN, or a bare key id) is listed.
    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|k| k == key || key_id_of(k) == key)
    }
}

/// `arn:<partition>:kms:<region>:<account>:key/<id>`.
fn is_key_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "kms", region, account, resource]
        if !partition.is_empty() && !region.is_empty()
            && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("key/").is_some_and(|id| !id.is_empty() && !id.contains('*')))
}

/// The key id at the end of a key ARN (the text itself otherwise).
fn key_id_of(key: &str) -> &str {
    key.rsplit_once(":key/").map_or(key, |(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUSTOMER: &str = "arn:aws:kms:us-west-2:111122223333:key/1111aaaa-0000-0000-0000-000000000001";
    const DISABLED: &str = "arn:aws:kms:us-west-2:111122223333:key/2222bbbb-0000-0000-0000-000000000002";

    #[test]
    fn the_granted_list_takes_key_arns_only_and_names_its_source() {
        let granted = GrantedKeys::parse("EbsKmsKeyArns", &format!(" {CUSTOMER} ,,")).unwrap();
        assert!(granted.contains(CUSTOMER));
        assert!(
            granted.contains("1111aaaa-0000-0000-0000-000000000001"),
            "a bare key id"
        );
        assert!(!granted.contains(DISABLED));
        assert_eq!(GrantedKeys::parse("EbsKmsKeyArns", "").unwrap(), GrantedKeys::default());
        for bad in [
            "alias/aws/ebs",
            "arn:aws:kms:us-west-2:111122223333:alias/mine",
            "arn:aws:kms:us-west-2:1111:key/abc",
            "arn:aws:kms:us-west-2:111122223333:key/*",
            "1111aaaa-0000-0000-0000-000000000001",
        ] {
            let err = GrantedKeys::parse("EBS_KMS_KEY_ARNS", bad).unwrap_err();
            assert_eq!(err.entry, bad);
            let err = err.to_string();
            assert!(err.starts_with("EBS_KMS_KEY_ARNS: ") && err.contains(bad), "{err}");
            assert!(
                err.ends_with(" is not a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>)"),
                "{err}"
            );
        }
    }
}
