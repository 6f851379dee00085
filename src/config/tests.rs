use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::override_check::GuestOs;

/// The WorkloadSpecification item exactly as in the seed README.
pub(crate) fn spec_workload() -> Value {
    json!({
      "DisableAllSchedulingActions": "0",
      "WorkloadFilterTagName": "Environment",
      "WorkloadFilterTagValue": "ENV001",
      "WorkloadRegion": "us-west-2",
      "SpecName": "BotoTestCase1",
      "SNSTopicName": "SchedulerTesting",
      "SSMS3BucketName": "myBucketName",
      "SSMS3KeyPrefixName": "ssmRemoteComandResults",
      "TierFilterTagName": "Role",
      "VPC_ID": "vpc-xyz"
    })
}

/// The Linux TierSpecification item exactly as in the seed README.
pub(crate) fn spec_linux_tier() -> Value {
    json!({
      "SpecName": "BotoTestCase1",
      "TierStart": {
        "TierSequence": "2",
        "TierSynchronization": "False"
      },
      "TierStop": {
        "TierSequence": "0",
        "TierStopOverrideFilename": "/tmp/StopOverride",
        "TierStopOverrideOperatingSystem": "Linux",
        "TierSynchronization": "False",
        "InterTierOrchestrationDelay": "10"
      },
      "TierScaling": {
        "default": "t2.nano",
        "profileB": "t2.medium",
        "profileC": "t2.large",
        "profileD": "c4.large"
      },
      "TierTagValue": "Role_Web"
    })
}

/// The Windows TierSpecification item exactly as in the seed README.
pub(crate) fn spec_windows_tier() -> Value {
    json!({
      "SpecName": "BotoTestCase1",
      "TierStart": {
        "TierSequence": "2",
        "TierSynchronization": "False"
      },
      "TierStop": {
        "TierSequence": "0",
        "TierStopOverrideFilename": "C:\\ignore.txt",
        "TierStopOverrideOperatingSystem": "Windows",
        "TierSynchronization": "False"
      },
      "TierScaling": {
        "default": "t2.nano",
        "profileB": "t2.medium",
        "profileC": "t2.large",
        "profileD": "c4.large"
      },
      "TierTagValue": "Role_Web"
    })
}

fn load(workload: Value, tiers: Vec<Value>) -> Result<WorkloadConfig, ConfigError> {
    WorkloadConfig::from_items("BotoTestCase1", &workload, &tiers, ItemNaming::Table)
}

fn issues(workload: Value, tiers: Vec<Value>) -> Vec<String> {
    load(workload, tiers)
        .unwrap_err()
        .issues
        .iter()
        .map(|i| i.to_string())
        .collect()
}

fn with(mut base: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut base
    } else {
        base.pointer_mut(parent).unwrap()
    };
    if value.is_null() {
        target.as_object_mut().unwrap().remove(key);
    } else {
        target[key] = value;
    }
    base
}

#[test]
fn seed_linux_item_loads_verbatim() {
    let config = load(spec_workload(), vec![spec_linux_tier()]).unwrap();
    let w = &config.workload;
    assert_eq!(w.spec_name, "BotoTestCase1");
    assert_eq!(
        (w.filter_tag_name.as_str(), w.filter_tag_value.as_str()),
        ("Environment", "ENV001")
    );
    assert_eq!(w.region, "us-west-2");
    assert_eq!(w.tier_tag_name, "Role");
    assert_eq!(w.vpc_id.as_deref(), Some("vpc-xyz"));
    assert!(!w.scheduling_disabled, "\"0\" must not disable scheduling");
    assert_eq!(w.sns_topic.as_deref(), Some("SchedulerTesting"));
    assert_eq!(w.ssm_bucket.as_deref(), Some("myBucketName"));
    assert_eq!(w.ssm_key_prefix.as_deref(), Some("ssmRemoteComandResults"));

    let tier = &config.tiers[0];
    assert_eq!(tier.name, "Role_Web");
    let start = tier.start.as_ref().unwrap();
    assert_eq!((start.sequence, start.synchronous), (2, false));
    assert_eq!(start.inter_tier_delay.as_secs(), DEFAULT_INTER_TIER_DELAY_SECS);
    let stop = tier.stop.as_ref().unwrap();
    assert_eq!((stop.sequence, stop.synchronous), (0, false));
    assert_eq!(stop.inter_tier_delay.as_secs(), 10);
    let check = stop.override_check.as_ref().unwrap();
    assert_eq!((check.path(), check.os()), ("/tmp/StopOverride", GuestOs::Linux));
    assert_eq!(
        tier.scaling.get("default").and_then(|t| t.instance_type.as_deref()),
        Some("t2.nano")
    );
    assert_eq!(
        tier.scaling.get("profileD").and_then(|t| t.instance_type.as_deref()),
        Some("c4.large")
    );
    assert_eq!(tier.scaling.len(), 4);
}

#[test]
fn seed_windows_item_loads_verbatim() {
    let config = load(spec_workload(), vec![spec_windows_tier()]).unwrap();
    let stop = config.tiers[0].stop.as_ref().unwrap();
    let check = stop.override_check.as_ref().unwrap();
    assert_eq!((check.path(), check.os()), ("C:\\ignore.txt", GuestOs::Windows));
    assert_eq!(stop.inter_tier_delay.as_secs(), 5, "absent delay means the seed's 5 s");
}

#[test]
fn booleans_any_case_and_native_types_are_accepted() {
    for (text, expected) in [
        ("True", true),
        ("TRUE", true),
        ("true", true),
        ("False", false),
        ("fAlSe", false),
    ] {
        let tier = with(spec_linux_tier(), "/TierStart/TierSynchronization", json!(text));
        let config = load(spec_workload(), vec![tier]).unwrap();
        assert_eq!(config.tiers[0].start.as_ref().unwrap().synchronous, expected, "{text}");
    }
    let tier = with(spec_linux_tier(), "/TierStart/TierSequence", json!(7));
    let tier = with(tier, "/TierStop/TierSynchronization", json!(true));
    let config = load(spec_workload(), vec![tier]).unwrap();
    assert_eq!(config.tiers[0].start.as_ref().unwrap().sequence, 7);
    assert!(config.tiers[0].stop.as_ref().unwrap().synchronous);
}

#[test]
fn kill_switch_is_one_as_a_string_or_a_native_number() {
    // The original reads the item with the low-level client: a number 1
    // counts like "1". Other strings are ignored, as in the seed.
    for (value, disabled) in [
        (json!("1"), true),
        (json!(1), true),
        (json!(1.0), true),
        (json!(true), true),
        (json!("0"), false),
        (json!(0), false),
        (json!("yes"), false),
        (json!("True"), false),
    ] {
        let w = with(spec_workload(), "/DisableAllSchedulingActions", value.clone());
        assert_eq!(
            load(w, vec![spec_linux_tier()]).unwrap().workload.scheduling_disabled,
            disabled,
            "{value}"
        );
    }
}

#[test]
fn each_invalid_field_is_named_with_workload_and_tier() {
    let cases: Vec<(Value, Value, &str)> = vec![
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStop/TierSequence", json!("two")),
            "TierSpecification[Role_Web].TierStop.TierSequence: \"two\" is not a number",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStop/TierSequence", json!("-1")),
            "TierStop.TierSequence: \"-1\" is not a number",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStop/TierSequence", json!("1.5")),
            "TierStop.TierSequence",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStop/TierSequence", Value::Null),
            "TierStop.TierSequence: is required",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStop/TierSequence", json!({"S": "1"})),
            "TierStop.TierSequence: expected a number stored as a string, found a map",
        ),
        (
            spec_workload(),
            with(
                spec_linux_tier(),
                "/TierStop/TierStopOverrideOperatingSystem",
                json!("BeOS"),
            ),
            "TierStop.TierStopOverrideOperatingSystem: \"BeOS\" is not \"Linux\" or \"Windows\"",
        ),
        (
            spec_workload(),
            with(
                spec_linux_tier(),
                "/TierStop/TierStopOverrideOperatingSystem",
                Value::Null,
            ),
            "TierStopOverrideOperatingSystem: is required when TierStopOverrideFilename is set",
        ),
        (
            spec_workload(),
            with(
                spec_linux_tier(),
                "/TierStop/TierStopOverrideFilename",
                json!("/tmp/x; rm -rf /"),
            ),
            "TierStop.TierStopOverrideFilename",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStop/TierSynchronization", json!("maybe")),
            "TierStop.TierSynchronization: \"maybe\" is not a boolean",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStop/InterTierOrchestrationDelay", json!("ten")),
            "InterTierOrchestrationDelay: \"ten\" is not a number of seconds",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStop/TierSequnce", json!("1")),
            "TierStop.TierSequnce: unknown key",
        ),
        (
            spec_workload(),
            with(
                spec_linux_tier(),
                "/TierStart/TierStopOverrideFilename",
                json!("/tmp/x"),
            ),
            "TierStart.TierStopOverrideFilename: is only valid in TierStop",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStart", json!("2")),
            "TierSpecification[Role_Web].TierStart: expected a map",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierScaling/profileB", json!("huge")),
            "TierScaling.profileB: \"huge\" is not an instance type",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierScaling/profileB", json!(["t2.micro"])),
            "TierScaling.profileB: expected an instance type string",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/SpecName", json!("Other")),
            "TierSpecification[Role_Web].SpecName",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierTagValue", Value::Null),
            "TierTagValue: is required",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStart/TierReadiness", json!("Vibes")),
            "TierStart.TierReadiness: \"Vibes\" is not one of",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStart/TierReadinessTimeout", json!("soon")),
            "TierStart.TierReadinessTimeout: \"soon\" is not a number",
        ),
        (
            spec_workload(),
            with(
                with(spec_linux_tier(), "/TierStart/TierReadiness", json!("StatusChecks")),
                "/TierStart/TierReadinessOnTimeout",
                json!("Panic"),
            ),
            "TierReadinessOnTimeout: \"Panic\" is not \"Continue\" or \"Abort\"",
        ),
        (
            spec_workload(),
            with(
                with(spec_windows_tier(), "/TierStop", Value::Null),
                "/TierStart/TierReadiness",
                json!("SsmOnline"),
            ),
            "TierStart.TierReadiness: \"SsmOnline\" needs SSM-managed instances",
        ),
        (
            with(spec_workload(), "/WorkloadRegion", json!("mars-1")),
            spec_linux_tier(),
            "WorkloadSpecification.WorkloadRegion: \"mars-1\" is not an AWS region",
        ),
        (
            with(spec_workload(), "/WorkloadFilterTagName", json!(5)),
            spec_linux_tier(),
            "WorkloadSpecification.WorkloadFilterTagName: expected a string, found 5",
        ),
        (
            with(spec_workload(), "/TierFilterTagName", json!("Environment")),
            spec_linux_tier(),
            "TierFilterTagName: must differ",
        ),
        (
            with(spec_workload(), "/VPC_ID", json!("subnet-1")),
            spec_linux_tier(),
            "WorkloadSpecification.VPC_ID",
        ),
        (
            with(spec_workload(), "/SSMS3BucketName", Value::Null),
            spec_linux_tier(),
            "WorkloadSpecification.SSMS3BucketName: is required because a tier checks",
        ),
        (
            with(spec_workload(), "/SpecName", json!("Other")),
            spec_linux_tier(),
            "WorkloadSpecification.SpecName",
        ),
    ];
    for (workload, tier, needle) in cases {
        let found = issues(workload, vec![tier]);
        assert!(
            found.iter().any(|i| i.contains(needle)),
            "expected {needle:?} in {found:#?}"
        );
    }
}

#[test]
fn all_problems_are_reported_at_once_and_name_the_workload() {
    let tier_a = with(spec_linux_tier(), "/TierStop/TierSequence", json!("two"));
    let tier_b = with(
        with(spec_windows_tier(), "/TierTagValue", json!("Role_DB")),
        "/TierStart/TierSynchronization",
        json!("nope"),
    );
    let err = load(
        with(spec_workload(), "/WorkloadRegion", json!("nowhere")),
        vec![tier_a, tier_b],
    )
    .unwrap_err();
    assert_eq!(err.workload, "BotoTestCase1");
    assert_eq!(err.issues.len(), 3, "{err}");
    let text = err.to_string();
    assert!(text.starts_with("invalid configuration for workload \"BotoTestCase1\" (3 problems)"));
    assert!(text.contains("TierSpecification[Role_DB].TierStart.TierSynchronization"));
}

#[test]
fn duplicate_and_missing_tiers_are_errors() {
    let found = issues(spec_workload(), vec![spec_linux_tier(), spec_linux_tier()]);
    assert!(found.iter().any(|i| i.contains("defined twice")), "{found:?}");
    let found = issues(spec_workload(), vec![]);
    assert!(found.iter().any(|i| i.contains("no tier items found")), "{found:?}");
}

#[test]
fn document_paths_use_list_indexes() {
    let tier = with(spec_linux_tier(), "/TierStop/TierSequence", json!("two"));
    let err = WorkloadConfig::from_items(
        "BotoTestCase1",
        &spec_workload(),
        &[spec_windows_tier(), tier],
        ItemNaming::Document,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("tiers[1].TierStop.TierSequence: \"two\" is not a number"),
        "{text}"
    );
}

#[test]
fn strtobool_values_of_the_original_are_accepted() {
    for (text, expected) in [
        ("yes", true),
        ("Y", true),
        ("t", true),
        ("On", true),
        ("1", true),
        ("no", false),
        ("N", false),
        ("f", false),
        ("OFF", false),
        ("0", false),
    ] {
        let tier = with(spec_linux_tier(), "/TierStop/TierSynchronization", json!(text));
        let config = load(spec_workload(), vec![tier]).unwrap();
        assert_eq!(config.tiers[0].stop.as_ref().unwrap().synchronous, expected, "{text}");
    }
}

#[test]
fn delays_may_be_fractional_and_native_numbers() {
    let tier = with(spec_linux_tier(), "/TierStop/InterTierOrchestrationDelay", json!("2.5"));
    let tier = with(tier, "/TierStart/InterTierOrchestrationDelay", json!(15));
    let config = load(with(spec_workload(), "/ScaleInstanceDelay", json!("0.5")), vec![tier]).unwrap();
    let t = &config.tiers[0];
    assert_eq!(t.stop.as_ref().unwrap().inter_tier_delay, Duration::from_millis(2500));
    assert_eq!(t.start.as_ref().unwrap().inter_tier_delay, Duration::from_secs(15));
    assert_eq!(config.workload.scale_instance_delay, Duration::from_millis(500));
    // Absent: the original's 4 s.
    let config = load(spec_workload(), vec![spec_linux_tier()]).unwrap();
    assert_eq!(config.workload.scale_instance_delay, Duration::from_secs(4));
    for bad in [json!("-1"), json!("soon"), json!("NaN")] {
        let tier = with(spec_linux_tier(), "/TierStop/InterTierOrchestrationDelay", bad.clone());
        let found = issues(spec_workload(), vec![tier]);
        assert!(
            found.iter().any(|i| i.contains("InterTierOrchestrationDelay")),
            "{bad}: {found:?}"
        );
    }
}

#[test]
fn tier_scaling_map_form_fleet_subset_and_unlimited_credits() {
    let tier = with(
        spec_linux_tier(),
        "/TierScaling",
        json!({
            "DevMode": {"InstanceType": "t2.nano", "FleetSubset": "1"},
            "ProdMode": {"InstanceType": "t3.medium.u", "FleetSubset": "100%"},
            "Half": {"FleetSubset": 50},
            "Plain": "t3.large.u",
        }),
    );
    let config = load(spec_workload(), vec![tier]).unwrap();
    let s = &config.tiers[0].scaling;
    assert_eq!(
        s["DevMode"],
        ScalingTarget {
            instance_type: Some("t2.nano".into()),
            unlimited_credits: false,
            fleet_subset: Some(FleetSubset::Count(1)),
        }
    );
    assert_eq!(s["ProdMode"].instance_type.as_deref(), Some("t3.medium"));
    assert!(s["ProdMode"].unlimited_credits);
    assert_eq!(s["ProdMode"].fleet_subset, Some(FleetSubset::Percent(100)));
    assert_eq!(s["Half"].instance_type, None);
    assert_eq!(s["Half"].fleet_subset, Some(FleetSubset::Count(50)));
    assert!(s["Plain"].unlimited_credits);

    for (value, needle) in [
        (
            json!({"InstanceType": "t2.nano", "FleetSize": "1"}),
            "FleetSize: unknown key",
        ),
        (json!({"InstanceType": "t2.nano", "FleetSubset": "half"}), "FleetSubset"),
        (json!({"InstanceType": "huge"}), "InstanceType"),
        (json!({}), "needs InstanceType, FleetSubset or both"),
        (json!(["t2.nano"]), "found a list"),
    ] {
        let tier = with(spec_linux_tier(), "/TierScaling/DevMode", value.clone());
        let found = issues(spec_workload(), vec![tier]);
        assert!(
            found
                .iter()
                .any(|i| i.contains("TierScaling.DevMode") && i.contains(needle)),
            "{value}: {found:?}"
        );
    }
}

#[test]
fn fleet_subset_rounds_like_python_and_out_of_range_percent_means_all() {
    assert_eq!(FleetSubset::Count(2).wanted(5), 2);
    assert_eq!(FleetSubset::Percent(50).wanted(4), 2);
    assert_eq!(FleetSubset::Percent(50).wanted(3), 2, "1.5 rounds to 2");
    assert_eq!(FleetSubset::Percent(50).wanted(5), 2, "2.5 rounds half to even");
    assert_eq!(FleetSubset::Percent(10).wanted(3), 0);
    assert_eq!(FleetSubset::Percent(0).wanted(3), 3);
    assert_eq!(FleetSubset::Percent(150).wanted(3), 3);
}

#[test]
fn ignore_stop_is_read_in_tier_stop_only() {
    let tier = with(spec_linux_tier(), "/TierStop/IgnoreStop", json!("True"));
    let config = load(spec_workload(), vec![tier]).unwrap();
    assert!(config.tiers[0].stop.as_ref().unwrap().ignore);
    let tier = with(spec_linux_tier(), "/TierStart/IgnoreStop", json!("True"));
    let found = issues(spec_workload(), vec![tier]);
    assert!(
        found
            .iter()
            .any(|i| i.contains("TierStart.IgnoreStop: is only valid in TierStop")),
        "{found:?}"
    );
}

#[test]
fn missing_region_is_the_originals_us_west_2_with_a_warning() {
    let mut w = spec_workload();
    w.as_object_mut().unwrap().remove("WorkloadRegion");
    let config = load(w, vec![spec_linux_tier()]).unwrap();
    assert_eq!(config.workload.region, "us-west-2");
    assert!(config
        .warnings
        .iter()
        .any(|w| w.to_string().contains("WorkloadRegion: is missing")));
}

#[test]
fn unknown_item_attributes_are_warnings_not_errors() {
    let w = with(spec_workload(), "/Owner", json!("team-a"));
    let t = with(spec_linux_tier(), "/Comment", json!("web tier"));
    let config = load(w, vec![t]).unwrap();
    let warnings: Vec<String> = config.warnings.iter().map(|w| w.to_string()).collect();
    assert!(warnings.contains(&"WorkloadSpecification.Owner: unknown attribute, ignored".to_string()));
    assert!(warnings.contains(&"TierSpecification[Role_Web].Comment: unknown attribute, ignored".to_string()));
}

#[test]
fn cross_account_role_names_the_account_and_defaults_the_external_id() {
    let w = with(
        spec_workload(),
        "/CrossAccountRole",
        json!("arn:aws:iam::222233334444:role/Scheduler"),
    );
    let config = load(w.clone(), vec![spec_linux_tier()]).unwrap();
    let c = config.workload.cross_account.unwrap();
    assert_eq!(c.account_id, "222233334444");
    assert_eq!(c.external_id, "externalID");
    let config = load(
        with(w, "/CrossAccountRoleExternalId", json!("s3cret-1")),
        vec![spec_linux_tier()],
    )
    .unwrap();
    assert_eq!(config.workload.cross_account.unwrap().external_id, "s3cret-1");
    for bad in [
        "arn:aws:iam::2222:role/x",
        "Scheduler",
        "arn:aws:iam::222233334444:user/x",
    ] {
        let found = issues(
            with(spec_workload(), "/CrossAccountRole", json!(bad)),
            vec![spec_linux_tier()],
        );
        assert!(found.iter().any(|i| i.contains("CrossAccountRole")), "{bad}: {found:?}");
    }
    let found = issues(
        with(spec_workload(), "/CrossAccountRoleExternalId", json!("x1")),
        vec![spec_linux_tier()],
    );
    assert!(found
        .iter()
        .any(|i| i.contains("has no effect without CrossAccountRole")));
}

#[test]
fn safety_attributes_of_issue_15_are_read_and_checked() {
    let w = with(
        spec_workload(),
        "/ChangeCalendarNames",
        json!("holidays, arn:aws:ssm:us-west-2:111122223333:document/freeze"),
    );
    let w = with(w, "/ChangeCalendarActions", json!("Stop"));
    let w = with(w, "/OverrideTagName", json!("KeepMe"));
    let t = with(spec_linux_tier(), "/TierStop/TierHibernate", json!("True"));
    let t = with(t, "/TierStop/TierAutoScalingGroups", json!("Suspend"));
    let config = load(w, vec![t]).unwrap();
    assert_eq!(config.workload.change_calendars.len(), 2);
    assert_eq!(
        config.workload.calendar_actions,
        CalendarActions {
            start: false,
            stop: true
        }
    );
    assert_eq!(config.workload.override_tag, "KeepMe");
    let stop = config.tiers[0].stop.as_ref().unwrap();
    assert!(stop.hibernate);
    assert_eq!(stop.auto_scaling, AutoScalingMode::Suspend);
    let start = config.tiers[0].start.as_ref().unwrap();
    assert_eq!(
        start.auto_scaling,
        AutoScalingMode::Skip,
        "members are left alone by default"
    );
    // Defaults.
    let config = load(spec_workload(), vec![spec_linux_tier()]).unwrap();
    assert_eq!(config.workload.override_tag, "SchedulerOverride");
    assert!(config.workload.change_calendars.is_empty());

    for (workload, tier, needle) in [
        (
            with(spec_workload(), "/ChangeCalendarNames", json!("a b")),
            spec_linux_tier(),
            "ChangeCalendarNames: \"a b\"",
        ),
        (
            with(spec_workload(), "/ChangeCalendarActions", json!("Both")),
            spec_linux_tier(),
            "has no effect without ChangeCalendarNames",
        ),
        (
            with(spec_workload(), "/OverrideTagName", json!("aws:x")),
            spec_linux_tier(),
            "OverrideTagName",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStart/TierHibernate", json!("True")),
            "TierStart.TierHibernate: is only valid in TierStop",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStop/TierAutoScalingGroups", json!("Detach")),
            "TierAutoScalingGroups: \"detach\" is not",
        ),
        (
            spec_workload(),
            with(spec_linux_tier(), "/TierStop/TierHibernate", json!("maybe")),
            "TierHibernate",
        ),
    ] {
        let found = issues(workload, vec![tier]);
        assert!(found.iter().any(|i| i.contains(needle)), "{needle}: {found:?}");
    }
}
