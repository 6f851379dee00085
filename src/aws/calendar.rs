//! SSM Change Calendar adapter (GetCalendarState).

use async_trait::async_trait;
use aws_sdk_ssm::types::CalendarState as SsmState;
use aws_sdk_ssm::Client;

use super::cloud_error;
use crate::error::CloudError;
use crate::ports::{CalendarState, ChangeCalendar};

/// [`ChangeCalendar`] on an SSM client of the workload's account and region.
#[derive(Clone, Debug)]
pub struct SsmCalendar {
    client: Client,
}

impl SsmCalendar {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl ChangeCalendar for SsmCalendar {
    async fn state(&self, calendars: &[String]) -> Result<CalendarState, CloudError> {
        let out = self
            .client
            .get_calendar_state()
            .set_calendar_names(Some(calendars.to_vec()))
            .send()
            .await
            .map_err(|e| cloud_error("ssm", "GetCalendarState", e))?;
        Ok(CalendarState {
            open: out.state() == Some(&SsmState::Open),
            next_transition: out.next_transition_time().map(str::to_string),
        })
    }
}
