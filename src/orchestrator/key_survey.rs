//! The KMS readiness of a Start plan: the keys of the volumes of the
//! instances it starts, read through the [`Keys`] port and judged by
//! [`crate::plan::keys`]. Read-only calls only.

use crate::plan::keys::{self, KeySurvey};
use crate::plan::Plan;
use crate::ports::{Cloud, Keys};
use crate::volume_keys::GrantedKeys;

/// Notes the KMS readiness on a Start plan, against the keys `cloud` says
/// the scheduler may create grants on; a malformed list of them becomes a
/// plan warning, like any check that cannot look.
pub(super) async fn survey(cloud: &dyn Cloud, keys: &dyn Keys, plan: &mut Plan) {
    match cloud.granted_keys() {
        Ok(granted) => check_keys(keys, plan, &granted).await,
        Err(e) => plan.key_survey_failed(&e.to_string()),
    }
}

/// The KMS readiness of a Start plan (nothing for a Stop): the volume
/// keys of the instances it starts and the facts of each distinct key,
/// noted on the plan. A check that cannot look becomes a plan warning;
/// it never refuses the run.
pub(super) async fn check_keys(keys: &dyn Keys, plan: &mut Plan, granted: &GrantedKeys) {
    let ids = keys::instances_to_check(plan);
    if ids.is_empty() {
        return;
    }
    let volumes = match keys.volume_keys(&ids).await {
        Ok(v) => v,
        Err(e) => return plan.key_survey_failed(&e.to_string()),
    };
    let distinct = keys::distinct_keys(&volumes);
    let facts = if distinct.is_empty() {
        Vec::new()
    } else {
        match keys.describe(&distinct).await {
            Ok(f) => f,
            Err(e) => return plan.key_survey_failed(&e.to_string()),
        }
    };
    plan.apply_key_survey(&KeySurvey { volumes, facts }, granted);
}
