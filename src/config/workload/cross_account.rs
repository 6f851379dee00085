//! `CrossAccountRole` and `CrossAccountRoleExternalId`: the workload's
//! instances in another account, reached through `sts:AssumeRole`.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::fields::{opt_string, Issues};

/// The ExternalId the original passes to AssumeRole when
/// `CrossAccountRoleExternalId` is absent.
pub const DEFAULT_EXTERNAL_ID: &str = "externalID";

/// `CrossAccountRole`: the workload's instances live in another account,
/// reached with credentials from `sts:AssumeRole` on this role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossAccount {
    /// The role ARN.
    pub role_arn: String,
    /// `CrossAccountRoleExternalId`, or the original's default.
    #[serde(skip_serializing)]
    pub external_id: String,
    /// The account the role belongs to (from its ARN).
    pub account_id: String,
}

/// `arn:aws:iam::111122223333:role/path/name` -> `111122223333`.
pub(crate) fn role_account(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && matches!(parts[1], "aws" | "aws-cn" | "aws-us-gov")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5].strip_prefix("role/").is_some_and(|name| {
            !name.is_empty()
                && name.len() <= 512
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
        });
    ok.then(|| parts[4])
}

/// `CrossAccountRole` and `CrossAccountRoleExternalId`.
pub(super) fn parse_cross_account(map: &Map<String, Value>, issues: &mut Issues) -> Option<CrossAccount> {
    let role = opt_string(map, "CrossAccountRole", issues);
    let external_id = opt_string(map, "CrossAccountRoleExternalId", issues);
    let Some(role) = role else {
        if external_id.is_some() {
            issues.push("CrossAccountRoleExternalId", "has no effect without CrossAccountRole");
        }
        return None;
    };
    let Some(account) = role_account(&role) else {
        issues.push(
            "CrossAccountRole",
            format!("{role:?} is not an IAM role ARN such as \"arn:aws:iam::111122223333:role/Scheduler\""),
        );
        return None;
    };
    let external_id = external_id.unwrap_or_else(|| DEFAULT_EXTERNAL_ID.to_string());
    if !is_external_id(&external_id) {
        issues.push(
            "CrossAccountRoleExternalId",
            "must be 2 to 1224 characters of letters, digits and +=,.@:/-_ (STS's rule)",
        );
    }
    Some(CrossAccount {
        account_id: account.to_string(),
        role_arn: role,
        external_id,
    })
}

/// STS's rule for an ExternalId.
fn is_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c))
}
