//! A maintenance window's run (issue 33): its Start opens a workload only
//! while the scheduler has it stopped and the window has not moved; its
//! Stop closes it only while no regular Start ran since (the run service
//! checks before it that the window's Start opened it). Neither writes a
//! WorkloadState row, and a window Start leaves the alarms muted and
//! waits for the SSM agent of the instances it starts (patching needs it).

use std::time::Duration;

use crate::action::Action;
use crate::config::{Readiness, ReadinessCheck, ReadinessOnTimeout, WorkloadConfig};
use crate::error::CloudError;
use crate::plan::Plan;
use crate::ports::{Cloud, RemoteCheck};
use crate::window::{WindowOutlook, WindowRun};

use super::workload_state::not_stopped;
use super::RunRequest;

/// Why the window's run does nothing, or `None`: it acts.
pub(super) async fn window_skip(
    cloud: &dyn Cloud,
    request: &RunRequest,
    config: &WorkloadConfig,
    window: &WindowRun,
) -> Result<Option<String>, CloudError> {
    let left = match window.edge {
        Action::Start => format!("{} does not open it", window.describe()),
        Action::Stop => format!("{} leaves it running", window.describe()),
    };
    if let Some(why) = not_stopped(cloud, request, &left).await? {
        return Ok(Some(why));
    }
    if window.edge == Action::Stop {
        return Ok(None);
    }
    let w = &config.workload;
    if !w.windows.ids.contains(&window.id) {
        return Ok(Some(format!(
            "{} is no longer in MaintenanceWindows: nothing was done",
            window.id
        )));
    }
    let ports = cloud.workload_ports(&w.region, w.cross_account.as_ref()).await?;
    let now = ports.remote.maintenance_window(&window.id).await?;
    Ok(match now.next_execution {
        Some(at) if at == window.execution => None,
        at => Some(format!(
            "{} moved: its next execution is {}, not {} UTC; nothing was done",
            window.id,
            at.map_or("none".to_string(), |at| format!(
                "{} UTC",
                crate::clock::utc_timestamp(at)
            )),
            crate::clock::utc_timestamp(window.execution)
        )),
    })
}

/// What each window the workload configures holds ahead (`plan`,
/// `status`), in the order configured; a window not read says why.
pub async fn windows_ahead(remote: &dyn RemoteCheck, config: &WorkloadConfig) -> Vec<WindowOutlook> {
    let windows = &config.workload.windows;
    let mut out = Vec::new();
    for id in &windows.ids {
        out.push(match remote.maintenance_window(id).await {
            Ok(window) => WindowOutlook::of(&window, windows.lead_minutes),
            Err(e) => WindowOutlook::unread(id, &e.to_string()),
        });
    }
    out
}

/// [`windows_ahead`] of `workload`, its configuration loaded from the
/// tables in `dynamodb_region`: none when it configures no window.
pub async fn workload_windows(
    cloud: &dyn Cloud,
    workload: &str,
    dynamodb_region: &str,
) -> Result<Vec<WindowOutlook>, crate::error::RunError> {
    let config = super::load_config(cloud, workload, dynamodb_region).await?;
    if config.workload.windows.ids.is_empty() {
        return Ok(Vec::new());
    }
    let w = &config.workload;
    let ports = cloud
        .workload_ports(&w.region, w.cross_account.as_ref())
        .await
        .map_err(|e| super::cloud_error_of(workload, e))?;
    Ok(windows_ahead(ports.remote.as_ref(), &config).await)
}

/// What a window run's summary says of WorkloadState.
pub(super) const NOT_RECORDED: &str = "not recorded: a maintenance window's run is not an action of the workload";

/// How long a window Start waits for the SSM agents of a tier that names
/// no gate of its own (`TierReadinessTimeout`'s default).
const AGENT_WAIT: Duration = Duration::from_secs(600);

/// A window Start waits for `SsmOnline` on the EC2 instances of each tier:
/// a tier with no readiness gate, or only `State`, gets `SsmOnline` (600
/// seconds, then it goes on); a tier's own `StatusChecks` or
/// `TargetsHealthy` gate is kept (one gate per tier). Not with
/// `MaintenanceWaitForAgents` false: the tiers keep their own gates.
pub(super) fn await_agents(request: &RunRequest, config: &WorkloadConfig, plan: &mut Plan) {
    let opening = matches!(&request.maintenance_window, Some(w) if w.edge == Action::Start);
    if !opening || !config.workload.windows.wait_for_agents {
        return;
    }
    let agents = Readiness {
        check: ReadinessCheck::SsmOnline,
        timeout: AGENT_WAIT,
        on_timeout: ReadinessOnTimeout::Continue,
    };
    for tier in plan.groups.iter_mut().flat_map(|g| &mut g.tiers) {
        match &mut tier.readiness {
            _ if tier.instances.is_empty() => {}
            Some(r) if r.check == ReadinessCheck::State => r.check = ReadinessCheck::SsmOnline,
            Some(_) => {}
            None => tier.readiness = Some(agents.clone()),
        }
    }
}
