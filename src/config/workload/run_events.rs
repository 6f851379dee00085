//! `EventBusName` and `ChatTopicName`: where a run's EventBridge events
//! and its chat message (AWS Chatbot's custom format, through SNS) go.

use serde_json::{Map, Value};

use crate::config::fields::{opt_string, Issues};

/// `EventBusName` (a name or an ARN) and `ChatTopicName` (an SNS topic
/// name or ARN), each checked; a bad value is an issue naming the field.
pub(super) fn parse_run_events(map: &Map<String, Value>, issues: &mut Issues) -> (Option<String>, Option<String>) {
    let bus = opt_string(map, "EventBusName", issues);
    if let Some(b) = &bus {
        if !is_event_bus(b) {
            issues.push(
                "EventBusName",
                format!(
                    "{b:?} is not an event bus name (letters, digits and . - _ /, at most 256) \
                     or ARN such as \"arn:aws:events:us-west-2:111122223333:event-bus/ops\""
                ),
            );
        }
    }
    let chat = opt_string(map, "ChatTopicName", issues);
    if let Some(t) = &chat {
        if !is_topic(t) {
            issues.push(
                "ChatTopicName",
                format!(
                    "{t:?} is not a standard SNS topic name (letters, digits, - and _, at most 256) \
                     or ARN such as \"arn:aws:sns:us-west-2:111122223333:ops-chat\""
                ),
            );
        }
    }
    (bus, chat)
}

/// `arn:<partition>:<service>:<region>:<account>:<resource>` with a known
/// partition, the service, a region and a 12-digit account: the resource.
fn arn_resource<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && matches!(parts[1], "aws" | "aws-cn" | "aws-us-gov")
        && parts[2] == service
        && super::is_region(parts[3])
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit());
    ok.then(|| parts[5])
}

/// An event bus name as EventBridge allows it, or its ARN.
pub(crate) fn is_event_bus(bus: &str) -> bool {
    let name = match bus.strip_prefix("arn:") {
        Some(_) => match arn_resource(bus, "events").and_then(|r| r.strip_prefix("event-bus/")) {
            Some(name) => name,
            None => return false,
        },
        None => bus,
    };
    (1..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
}

/// A standard SNS topic name (Chatbot takes no FIFO topic), or its ARN.
pub(crate) fn is_topic(topic: &str) -> bool {
    let name = match topic.strip_prefix("arn:") {
        Some(_) => match arn_resource(topic, "sns") {
            Some(name) => name,
            None => return false,
        },
        None => topic,
    };
    (1..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buses_and_topics_are_names_or_arns() {
        for ok in [
            "default",
            "ops-events",
            "a/b.c_d",
            "arn:aws:events:us-west-2:111122223333:event-bus/ops",
            "arn:aws-us-gov:events:us-gov-west-1:111122223333:event-bus/default",
        ] {
            assert!(is_event_bus(ok), "{ok}");
        }
        for bad in [
            "",
            "my bus",
            "bus|x",
            "arn:aws:events:us-west-2:111122223333:rule/x",
            "arn:aws:sns:us-west-2:111122223333:event-bus/x",
            "arn:aws:events:us-west-2:1234:event-bus/x",
            "arn:aws:events:mars:111122223333:event-bus/x",
            &"b".repeat(257),
        ] {
            assert!(!is_event_bus(bad), "{bad}");
        }
        for ok in ["ops-chat", "Chat_1", "arn:aws:sns:eu-west-1:111122223333:ops-chat"] {
            assert!(is_topic(ok), "{ok}");
        }
        for bad in [
            "",
            "chat.fifo",
            "my topic",
            "arn:aws:sns:eu-west-1:111122223333:",
            "arn:aws:sqs:eu-west-1:111122223333:q",
        ] {
            assert!(!is_topic(bad), "{bad}");
        }
    }
}
