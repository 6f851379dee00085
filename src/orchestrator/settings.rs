//! Tunables of a run ([`Settings`]): poll pacing, timeouts, the override-check
//! documents and the bounds on what a Start restores, with production
//! defaults and their overrides from the environment.

use std::time::Duration;

use crate::override_check::CheckDocuments;
use crate::plan::Plan;

/// Tunables with production defaults; tests shorten them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// First pause between polls.
    pub poll_initial: Duration,
    /// Longest pause between polls (backoff doubles up to this).
    pub poll_max: Duration,
    /// Longest a tier's override checks may take in all.
    pub override_timeout: Duration,
    /// Longest wait for one instance to reach a state (sync tiers, transitions).
    pub state_timeout: Duration,
    /// Concurrent GetCommandInvocation / S3 reads while polling checks.
    pub poll_concurrency: usize,
    /// Inter-tier delays longer than this are not slept through: the run
    /// checkpoints and a continuation resumes it when the delay is over
    /// (Lambda with continuation configured). `None`: always sleep.
    pub offload_delays_over: Option<Duration>,
    /// Called with the plan before the first action (the CLI prints it).
    pub on_plan: Option<fn(&Plan)>,
    /// The SSM documents override checks may use. The default allows only
    /// AWS-RunShellScript / AWS-RunPowerShellScript (tests, embedding);
    /// [`Settings::from_env`] reads the stack's documents and the opt-in.
    pub override_documents: CheckDocuments,
    /// The instance types a type change may set (`ALLOWED_INSTANCE_TYPES`,
    /// the stack's `AllowedInstanceTypes`: IAM `StringLike` patterns);
    /// empty: any. A profile's type, a fallback type and a recorded
    /// original type are all held to it.
    pub allowed_instance_types: Vec<String>,
    /// The largest capacity a Start restores (`MAX_RESTORED_CAPACITY`, the
    /// stack's `MaxRestoredCapacity`), at most [`crate::records::MAX_RESTORED`].
    pub max_restored_capacity: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            poll_initial: Duration::from_secs(2),
            poll_max: Duration::from_secs(15),
            override_timeout: Duration::from_secs(120),
            state_timeout: Duration::from_secs(600),
            poll_concurrency: 16,
            offload_delays_over: None,
            on_plan: None,
            override_documents: CheckDocuments::aws_run_script(),
            allowed_instance_types: Vec::new(),
            max_restored_capacity: crate::records::MAX_RESTORED,
        }
    }
}

impl Settings {
    /// Defaults, with the override-check timeout from
    /// `OVERRIDE_CHECK_TIMEOUT_SECS` when set (whole seconds, 30 to 3600),
    /// and the override-check documents from `OVERRIDE_CHECK_DOCUMENT_LINUX`,
    /// `OVERRIDE_CHECK_DOCUMENT_WINDOWS` and
    /// `OVERRIDE_CHECK_ALLOW_RUN_SHELL_SCRIPT` (without them, a tier with an
    /// override check is refused before any action).
    pub fn from_env() -> Self {
        let mut settings = Self {
            override_documents: CheckDocuments::from_env(),
            ..Self::default()
        };
        if let Some(secs) = std::env::var("OVERRIDE_CHECK_TIMEOUT_SECS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            settings.override_timeout = Duration::from_secs(secs.clamp(30, 3600));
        }
        if let Ok(types) = std::env::var("ALLOWED_INSTANCE_TYPES") {
            settings.allowed_instance_types = types
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty() && *t != "*")
                .map(str::to_string)
                .collect();
        }
        if let Some(n) = std::env::var("MAX_RESTORED_CAPACITY")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
        {
            settings.max_restored_capacity = n.min(crate::records::MAX_RESTORED);
        }
        settings
    }

    /// Whether a type change to `instance_type` is allowed.
    pub fn allows_type(&self, instance_type: &str) -> bool {
        self.allowed_instance_types.is_empty()
            || self
                .allowed_instance_types
                .iter()
                .any(|p| wildmatch::WildMatch::new(p).matches(instance_type))
    }
}
