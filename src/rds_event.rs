//! RDS's automatic start of a stopped database, as EventBridge delivers it:
//! seven days after a stop, RDS starts a DB instance (`RDS-EVENT-0154`, "RDS
//! DB Instance Event") or a DB cluster (`RDS-EVENT-0153`, "RDS DB Cluster
//! Event") by itself. [`RestartEvent`] is such an event, validated field by
//! field; its `id` is the same on every delivery of one event (EventBridge
//! delivers at least once), so it keys the re-stop run.

use serde_json::{Map, Value};

use crate::event::EventError;
use crate::member::MemberKind;

/// RDS's event id of a DB instance started after seven days stopped.
pub const INSTANCE_RESTART: &str = "RDS-EVENT-0154";
/// RDS's event id of a DB cluster started after seven days stopped.
pub const CLUSTER_RESTART: &str = "RDS-EVENT-0153";
/// The event source of RDS's events on EventBridge.
pub const SOURCE: &str = "aws.rds";

/// RDS started a stopped database by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartEvent {
    /// The EventBridge event id: the same on every delivery of the event.
    pub id: String,
    /// The database's account.
    pub account: String,
    /// The database's region.
    pub region: String,
    /// A DB cluster (else a DB instance).
    pub cluster: bool,
    /// `DBInstanceIdentifier` or `DBClusterIdentifier`.
    pub identifier: String,
}

impl RestartEvent {
    /// Whether `value` is an event RDS sent (`source: aws.rds`), which only
    /// [`RestartEvent::from_value`] reads.
    pub fn is_rds(value: &Value) -> bool {
        value.get("source").and_then(Value::as_str) == Some(SOURCE)
    }

    /// Reads an RDS event: refused unless it is one of the two automatic
    /// starts, with an id, an account, a region and an identifier that read.
    pub fn from_value(value: &Value) -> Result<Self, EventError> {
        let map = value
            .as_object()
            .ok_or_else(|| EventError("an RDS event must be a JSON object".into()))?;
        let detail = map
            .get("detail")
            .and_then(Value::as_object)
            .ok_or_else(|| EventError("the RDS event has no detail".into()))?;
        let event_id = text(detail, "EventID", 32)?;
        let cluster = match event_id.as_str() {
            INSTANCE_RESTART => false,
            CLUSTER_RESTART => true,
            other => {
                return Err(EventError(format!(
                    "RDS event {other} is not an automatic start ({INSTANCE_RESTART}, {CLUSTER_RESTART}): \
                     the stack's rule sends only those"
                )))
            }
        };
        let identifier = text(detail, "SourceIdentifier", 255)?;
        if identifier.is_empty() || !identifier.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(EventError(format!(
                "the RDS event's SourceIdentifier {identifier:?} is not a DB identifier"
            )));
        }
        let account = text(map, "account", 12)?;
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(EventError(format!(
                "the RDS event's account {account:?} is not an account id"
            )));
        }
        let region = text(map, "region", 32)?;
        if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(EventError(format!("the RDS event's region {region:?} is not a region")));
        }
        Ok(Self {
            id: text(map, "id", 256)?,
            account,
            region,
            cluster,
            identifier,
        })
    }

    /// The member kinds the database may be: a DB instance is `RDS`; a
    /// cluster is one of the DB cluster kinds (Aurora, DocumentDB, Neptune).
    pub fn kinds(&self) -> Vec<MemberKind> {
        match self.cluster {
            false => vec![MemberKind::Rds],
            true => MemberKind::ALL.into_iter().filter(|k| k.is_db_cluster()).collect(),
        }
    }
}

/// A required string field of at most `max` characters, without control
/// characters.
fn text(map: &Map<String, Value>, key: &str, max: usize) -> Result<String, EventError> {
    match map.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control) => {
            Ok(s.trim().to_string())
        }
        _ => Err(EventError(format!(
            "the RDS event's {key} must be a string of 1 to {max} characters"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(event_id: &str, source_type: &str, identifier: &str) -> Value {
        json!({
            "version": "0",
            "id": "5b1b3b9c-1111-2222-3333-444455556666",
            "detail-type": if source_type == "CLUSTER" { "RDS DB Cluster Event" } else { "RDS DB Instance Event" },
            "source": "aws.rds",
            "account": "123456789012",
            "time": "2026-12-13T08:00:00Z",
            "region": "eu-west-1",
            "resources": [format!("arn:aws:rds:eu-west-1:123456789012:db:{identifier}")],
            "detail": {
                "EventCategories": ["notification"],
                "SourceType": source_type,
                "SourceArn": format!("arn:aws:rds:eu-west-1:123456789012:db:{identifier}"),
                "Date": "2026-12-13T08:00:00.000Z",
                "Message": "DB instance is being started due to it exceeding the maximum allowed time being stopped.",
                "SourceIdentifier": identifier,
                "EventID": event_id
            }
        })
    }

    #[test]
    fn the_two_automatic_starts_read_and_nothing_else() {
        let instance = event(INSTANCE_RESTART, "DB_INSTANCE", "orders-db");
        assert!(RestartEvent::is_rds(&instance));
        let read = RestartEvent::from_value(&instance).unwrap();
        assert_eq!(read.identifier, "orders-db");
        assert_eq!((read.cluster, read.kinds()), (false, vec![MemberKind::Rds]));
        assert_eq!(
            (read.account.as_str(), read.region.as_str()),
            ("123456789012", "eu-west-1")
        );
        let cluster = RestartEvent::from_value(&event(CLUSTER_RESTART, "CLUSTER", "ledger")).unwrap();
        assert!(cluster.cluster);
        assert!(cluster.kinds().contains(&MemberKind::Neptune) && !cluster.kinds().contains(&MemberKind::Rds));
        let other = RestartEvent::from_value(&event("RDS-EVENT-0088", "DB_INSTANCE", "orders-db"));
        assert!(other.unwrap_err().0.contains("not an automatic start"));
        for bad in ["orders db", "x;rm -rf", ""] {
            let refused = RestartEvent::from_value(&event(INSTANCE_RESTART, "DB_INSTANCE", bad));
            assert!(refused.is_err(), "{bad:?}");
        }
        let mut forged = event(INSTANCE_RESTART, "DB_INSTANCE", "orders-db");
        forged["account"] = json!("12345");
        assert!(RestartEvent::from_value(&forged).is_err());
        assert!(!RestartEvent::is_rds(
            &json!({"workloadIdentifier": "W", "action": "Stop"})
        ));
    }
}
