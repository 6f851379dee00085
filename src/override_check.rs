//! The override file: a file on the guest that, when present, keeps the
//! instance from being stopped.
//!
//! The path comes from DynamoDB and ends up in a shell command on production
//! hosts, so it is data that must never become code. It is checked against a
//! strict allow-list when the configuration is loaded (a bad path is a config
//! error before any action) and then single-quoted for the target shell. With
//! no quote characters and no metacharacters allowed, single quoting is exact
//! in both `sh` and PowerShell.

use std::fmt;

use serde::Serialize;

/// Printed by the check when the override file exists.
pub const TOKEN_PRESENT: &str = "EC2TS_OVERRIDE=PRESENT";
/// Printed by the check when the override file does not exist.
pub const TOKEN_ABSENT: &str = "EC2TS_OVERRIDE=ABSENT";

/// Longest path accepted (Linux `PATH_MAX` is 4096; Windows' classic limit is 260).
const MAX_LINUX_PATH: usize = 1024;
const MAX_WINDOWS_PATH: usize = 260;

/// The guest operating system of a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum GuestOs {
    /// Checked with `AWS-RunShellScript`.
    Linux,
    /// Checked with `AWS-RunPowerShellScript`.
    Windows,
}

impl GuestOs {
    /// Parses `TierStopOverrideOperatingSystem` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "linux" => Some(Self::Linux),
            "windows" => Some(Self::Windows),
            _ => None,
        }
    }

    /// The AWS-owned SSM document that runs the check.
    pub fn document(self) -> &'static str {
        match self {
            Self::Linux => "AWS-RunShellScript",
            Self::Windows => "AWS-RunPowerShellScript",
        }
    }

    /// The plugin directory the SSM agent writes output under, as a key
    /// segment. Newer agents drop the colon (`awsrunShellScript`), older ones
    /// kept it (`aws:runShellScript`); readers list the prefix instead of
    /// guessing (see [`crate::ports::RemoteCheck`]).
    pub fn plugin_name(self) -> &'static str {
        match self {
            Self::Linux => "awsrunShellScript",
            Self::Windows => "awsrunPowerShellScript",
        }
    }
}

impl fmt::Display for GuestOs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Linux => "Linux",
            Self::Windows => "Windows",
        })
    }
}

/// A validated override file check for one tier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct OverrideCheck {
    path: String,
    os: GuestOs,
}

impl OverrideCheck {
    /// Validates `path` for `os`; the error says why it was refused.
    pub fn new(path: &str, os: GuestOs) -> Result<Self, String> {
        validate(path, os)?;
        Ok(Self {
            path: path.to_string(),
            os,
        })
    }

    /// The file checked for.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The guest OS.
    pub fn os(&self) -> GuestOs {
        self.os
    }

    /// The single command line run on the guest. It prints exactly one of
    /// [`TOKEN_PRESENT`] / [`TOKEN_ABSENT`].
    pub fn command(&self) -> String {
        // `validate` guarantees there is no quote in the path, so wrapping it in
        // single quotes yields a literal in both shells.
        match self.os {
            GuestOs::Linux => format!(
                "if [ -e '{}' ]; then echo {TOKEN_PRESENT}; else echo {TOKEN_ABSENT}; fi",
                self.path
            ),
            GuestOs::Windows => format!(
                "if (Test-Path -LiteralPath '{}') {{ Write-Output '{TOKEN_PRESENT}' }} else {{ Write-Output '{TOKEN_ABSENT}' }}",
                self.path
            ),
        }
    }
}

/// What a check's standard output says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The override file exists: do not stop.
    Present,
    /// The override file does not exist: stop as usual.
    Absent,
    /// The output holds neither token, or both: treated as present.
    Unclear,
}

/// Reads a check's standard output. Only a line that is exactly one token
/// counts, so a banner or an error message that mentions a token does not.
pub fn read_verdict(stdout: &str) -> Verdict {
    let mut present = false;
    let mut absent = false;
    for line in stdout.lines().map(str::trim) {
        present |= line == TOKEN_PRESENT;
        absent |= line == TOKEN_ABSENT;
    }
    match (present, absent) {
        (true, false) => Verdict::Present,
        (false, true) => Verdict::Absent,
        _ => Verdict::Unclear,
    }
}

fn validate(path: &str, os: GuestOs) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return Err(format!("control character {:?} is not allowed", c));
    }
    // Allow-list: anything outside it (quotes, `$`, `;`, `&`, `|`, backticks,
    // redirections, globs, non-ASCII look-alike quotes) is refused.
    let allowed_extra: &[char] = match os {
        GuestOs::Linux => &['/', '.', '_', '-', ' ', '+', '=', ',', '@', ':'],
        GuestOs::Windows => &['\\', '.', '_', '-', ' ', '+', '=', ',', '@', ':', '(', ')'],
    };
    if let Some(c) = path
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !allowed_extra.contains(c))
    {
        return Err(format!(
            "character {c:?} is not allowed (letters, digits, spaces and {} only)",
            allowed_extra.iter().filter(|c| **c != ' ').collect::<String>()
        ));
    }
    match os {
        GuestOs::Linux => {
            if !path.starts_with('/') {
                return Err("must be an absolute path starting with '/'".into());
            }
            if path.len() > MAX_LINUX_PATH {
                return Err(format!("longer than {MAX_LINUX_PATH} characters"));
            }
            if path.split('/').any(|seg| seg == "..") {
                return Err("'..' segments are not allowed".into());
            }
        }
        GuestOs::Windows => {
            let bytes = path.as_bytes();
            let drive = bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'\\';
            if !drive {
                return Err("must be an absolute path with a drive letter such as 'C:\\ignore.txt'".into());
            }
            if path[2..].contains(':') {
                return Err("':' is only allowed after the drive letter".into());
            }
            if path.len() > MAX_WINDOWS_PATH {
                return Err(format!("longer than {MAX_WINDOWS_PATH} characters"));
            }
            if path.split('\\').any(|seg| seg == "..") {
                return Err("'..' segments are not allowed".into());
            }
        }
    }
    if path.starts_with('-') {
        return Err("must not start with '-'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_paths_are_accepted_and_quoted() {
        let linux = OverrideCheck::new("/tmp/StopOverride", GuestOs::Linux).unwrap();
        assert_eq!(
            linux.command(),
            "if [ -e '/tmp/StopOverride' ]; then echo EC2TS_OVERRIDE=PRESENT; else echo EC2TS_OVERRIDE=ABSENT; fi"
        );
        let windows = OverrideCheck::new("C:\\ignore.txt", GuestOs::Windows).unwrap();
        assert!(windows.command().contains("Test-Path -LiteralPath 'C:\\ignore.txt'"));
        assert!(OverrideCheck::new("C:\\Program Files (x86)\\app\\hold.flag", GuestOs::Windows).is_ok());
        assert!(OverrideCheck::new("/var/run/my app/hold-1.flag", GuestOs::Linux).is_ok());
    }

    #[test]
    fn hostile_paths_are_rejected() {
        let linux = [
            "/tmp/x; rm -rf /",
            "/tmp/$(reboot)",
            "/tmp/`id`",
            "/tmp/it's",
            "/tmp/\"q\"",
            "/tmp/a\nb",
            "/tmp/a\rb",
            "/tmp/a|b",
            "/tmp/a&b",
            "/tmp/a>b",
            "/tmp/*",
            "/tmp/${HOME}",
            "/tmp/\u{2019}x",
            "relative/path",
            "/tmp/../etc/passwd",
            "",
        ];
        for p in linux {
            assert!(OverrideCheck::new(p, GuestOs::Linux).is_err(), "accepted {p:?}");
        }
        let windows = [
            "C:\\x; Remove-Item C:\\ -Recurse",
            "C:\\x & calc",
            "C:\\$(Stop-Computer)",
            "C:\\it's",
            "C:\\a`b",
            "C:\\a\u{2018}b",
            "C:\\a\nb",
            "\\\\server\\share\\x",
            "ignore.txt",
            "C:\\a|b",
            "C:\\a:b",
        ];
        for p in windows {
            assert!(OverrideCheck::new(p, GuestOs::Windows).is_err(), "accepted {p:?}");
        }
    }

    #[test]
    fn verdicts_need_an_exact_token_line() {
        assert_eq!(read_verdict("EC2TS_OVERRIDE=PRESENT\n"), Verdict::Present);
        assert_eq!(read_verdict("\r\nEC2TS_OVERRIDE=ABSENT\r\n"), Verdict::Absent);
        assert_eq!(read_verdict(""), Verdict::Unclear);
        assert_eq!(read_verdict("error: EC2TS_OVERRIDE=ABSENT maybe"), Verdict::Unclear);
        assert_eq!(
            read_verdict("EC2TS_OVERRIDE=ABSENT\nEC2TS_OVERRIDE=PRESENT"),
            Verdict::Unclear
        );
    }
}
