//! The two orchestrated actions, Stop and Start: below the configuration
//! (which names them in its attributes) and the plan.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::instance::InstanceState;

/// The two orchestrated actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Stop the workload, tier by tier.
    Stop,
    /// Start the workload, tier by tier.
    Start,
}

impl Action {
    /// The verb in lower case, for tables and messages.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Start => "start",
        }
    }

    /// Past participle: "stopped" / "started".
    pub fn done(self) -> &'static str {
        match self {
            Self::Stop => "stopped",
            Self::Start => "started",
        }
    }

    /// Present participle: "stopping" / "starting".
    pub fn doing(self) -> &'static str {
        match self {
            Self::Stop => "stopping",
            Self::Start => "starting",
        }
    }

    /// The state an instance is in once this action is done.
    pub fn target_state(self) -> InstanceState {
        match self {
            Self::Stop => InstanceState::Stopped,
            Self::Start => InstanceState::Running,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stop => "Stop",
            Self::Start => "Start",
        })
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stop" => Ok(Self::Stop),
            "start" => Ok(Self::Start),
            _ => Err(format!("{s:?} is not \"Stop\" or \"Start\"")),
        }
    }
}
