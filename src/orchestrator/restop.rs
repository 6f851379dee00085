//! Re-stops: a database RDS started by itself (seven days after a stop)
//! while its workload is stopped. Which configured workload it belongs to
//! (the first, by name, in the event's region and account whose tier lists
//! its kind and whose own discovery finds it by its tags), and the wait,
//! holding no lock, until RDS says it is up (RDS refuses a stop while a
//! database starts). The stop itself is a run of the workload restricted
//! to the database ([`RunRequest::restop`](crate::run::RunRequest::restop)),
//! which takes the lock only then.

use super::budget::{Budget, Pacer};
use super::prepare::{discover_members, load_config};
use super::Settings;
use crate::error::CloudError;
use crate::member::{Phase, Restop};
use crate::ports::Cloud;
use crate::rds_event::RestartEvent;

/// The workload and the member `event` is about, or `None` when the
/// database is no member of a configured workload (a database the
/// scheduler does not run, or a tier that does not list its kind). A
/// workload whose configuration does not read is passed over (logged).
pub async fn restarted_member(
    cloud: &dyn Cloud,
    dynamodb_region: &str,
    event: &RestartEvent,
) -> Result<Option<(String, Restop)>, CloudError> {
    for name in cloud.config_store(dynamodb_region).workloads().await? {
        let config = match load_config(cloud, &name, dynamodb_region).await {
            Ok(config) => config,
            Err(e) => {
                tracing::warn!(workload = %name, error = %e, "passed over: its configuration does not read");
                continue;
            }
        };
        let w = &config.workload;
        let account = w.cross_account.as_ref().map(|c| c.account_id.as_str());
        if w.region != event.region || account.is_some_and(|a| a != event.account) {
            continue;
        }
        let kinds: Vec<_> = config
            .member_kinds()
            .into_iter()
            .filter(|k| event.kinds().contains(k))
            .collect();
        if kinds.is_empty() {
            continue;
        }
        let ports = cloud.workload_ports(&w.region, w.cross_account.as_ref()).await?;
        let members = discover_members(&ports.members, &w.discovery(), &kinds).await?;
        if let Some(m) = members.into_iter().find(|m| m.id == event.identifier) {
            return Ok(Some((name, Restop { kind: m.kind, id: m.id })));
        }
    }
    Ok(None)
}

/// Waits, holding no lock, while `restop`'s database is on its way up,
/// within the budget (RDS refuses a stop while it starts). Whether it is
/// still starting when the wait ends.
pub async fn await_started(
    cloud: &dyn Cloud,
    dynamodb_region: &str,
    workload: &str,
    restop: &Restop,
    budget: &Budget,
    settings: &Settings,
) -> Result<bool, CloudError> {
    let config = load_config(cloud, workload, dynamodb_region)
        .await
        .map_err(|e| CloudError::new("scheduler", "LoadConfig", None, e.to_string()))?;
    let w = &config.workload;
    let ports = cloud.workload_ports(&w.region, w.cross_account.as_ref()).await?;
    let Some(service) = ports.members.of(restop.kind) else {
        return Ok(false);
    };
    let (limit, _) = budget.cap(settings.state_timeout);
    let mut pace = Pacer::new(limit, settings.poll_initial, settings.poll_max);
    loop {
        let seen = service.statuses(restop.kind, std::slice::from_ref(&restop.id)).await?;
        let Some(status) = seen.into_iter().next() else {
            return Ok(false);
        };
        if status.phase != Phase::Starting {
            return Ok(false);
        }
        if !pace.wait().await {
            return Ok(true);
        }
    }
}
