//! SNS notifier.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use aws_sdk_sns::Client;

use super::cloud_error;
use crate::error::CloudError;
use crate::ports::Notifier;

/// [`Notifier`] on an SNS client. A topic given by name is turned into an
/// ARN: from the account the function runs in when known (Lambda), otherwise
/// by listing the topics once (CLI).
#[derive(Debug)]
pub struct SnsNotifier {
    client: Client,
    account: Arc<OnceLock<(String, String)>>,
    resolved: Mutex<HashMap<String, String>>,
}

impl SnsNotifier {
    /// Wraps a client for the workload's region. `account` holds
    /// (partition, account id) once the caller knows them.
    pub fn new(client: Client, account: Arc<OnceLock<(String, String)>>) -> Self {
        Self {
            client,
            account,
            resolved: Mutex::new(HashMap::new()),
        }
    }

    async fn topic_arn(&self, topic: &str) -> Result<String, CloudError> {
        if topic.starts_with("arn:") {
            return Ok(topic.to_string());
        }
        if let Some(arn) = self.resolved.lock().unwrap_or_else(|p| p.into_inner()).get(topic) {
            return Ok(arn.clone());
        }
        let region = self.client.config().region().map(|r| r.to_string()).unwrap_or_default();
        if let Some((partition, account)) = self.account.get() {
            return Ok(format!("arn:{partition}:sns:{region}:{account}:{topic}"));
        }
        let mut pages = self.client.list_topics().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("sns", "ListTopics", e))?;
            if let Some(arn) = page
                .topics()
                .iter()
                .filter_map(|t| t.topic_arn())
                .find(|arn| arn.rsplit(':').next() == Some(topic))
            {
                self.resolved
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(topic.to_string(), arn.to_string());
                return Ok(arn.to_string());
            }
        }
        Err(CloudError::new(
            "sns",
            "ListTopics",
            Some("NotFound"),
            format!("no SNS topic named {topic:?} in {region}"),
        ))
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, topic: &str, subject: &str, message: &str) -> Result<(), CloudError> {
        let arn = self.topic_arn(topic).await?;
        self.client
            .publish()
            .topic_arn(arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("sns", "Publish", e))
    }
}
