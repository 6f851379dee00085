//! The override file: a file on the guest that, when present, keeps the
//! instance from being stopped.
//!
//! The path comes from DynamoDB and ends up in a shell command on production
//! hosts, so it is data that must never become code. It is checked against a
//! strict allow-list when the configuration is loaded (a bad path is a config
//! error before any action) and then single-quoted for the target shell. With
//! no quote characters and no metacharacters allowed, single quoting is exact
//! in both `sh` and PowerShell.
//!
//! The check runs through one of the stack's own SSM command documents
//! (`infra/template.yaml`): their only parameter is the path, and its
//! `allowedPattern` ([`GuestOs::path_pattern`]) is this allow-list, so SSM
//! itself refuses anything else before an agent sees it. AWS-RunShellScript /
//! AWS-RunPowerShellScript, which run any command line, are used only with the
//! explicit opt-in ([`CheckDocuments`]).

use std::fmt;

use serde::Serialize;

/// Printed by the check when the override file exists.
pub const TOKEN_PRESENT: &str = "EC2TS_OVERRIDE=PRESENT";
/// Printed by the check when the override file does not exist.
pub const TOKEN_ABSENT: &str = "EC2TS_OVERRIDE=ABSENT";

/// Longest path accepted (Linux `PATH_MAX` is 4096; Windows' classic limit is 260).
const MAX_LINUX_PATH: usize = 1024;
const MAX_WINDOWS_PATH: usize = 260;

/// The only parameter of the stack's override-check documents.
pub const PATH_PARAMETER: &str = "overridePath";

/// Environment variable naming the stack's Linux override-check document.
pub const LINUX_DOCUMENT_VAR: &str = "OVERRIDE_CHECK_DOCUMENT_LINUX";
/// Environment variable naming the stack's Windows override-check document.
pub const WINDOWS_DOCUMENT_VAR: &str = "OVERRIDE_CHECK_DOCUMENT_WINDOWS";
/// Environment variable that, set to `true`, allows AWS-RunShellScript /
/// AWS-RunPowerShellScript where no document of the stack is configured.
pub const ALLOW_RUN_SHELL_SCRIPT_VAR: &str = "OVERRIDE_CHECK_ALLOW_RUN_SHELL_SCRIPT";

/// The guest operating system of a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum GuestOs {
    /// Checked with the stack's Linux document (or, opted in, `AWS-RunShellScript`).
    Linux,
    /// Checked with the stack's Windows document (or, opted in, `AWS-RunPowerShellScript`).
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

    /// The AWS-owned SSM document that runs the check with the opt-in
    /// ([`CheckDocument::AwsRunScript`]).
    pub fn document(self) -> &'static str {
        match self {
            Self::Linux => "AWS-RunShellScript",
            Self::Windows => "AWS-RunPowerShellScript",
        }
    }

    /// The `allowedPattern` of the path parameter of the stack's document for
    /// this system: the allow-list of [`OverrideCheck::new`] (characters, an
    /// absolute path, no `..` segment) as a regular expression without
    /// look-around. Each segment is empty, one character, two characters other
    /// than `..`, or three or more. The length limits stay in Rust only: a long
    /// path is no injection risk.
    pub fn path_pattern(self) -> &'static str {
        match self {
            Self::Linux => LINUX_PATH_PATTERN,
            Self::Windows => WINDOWS_PATH_PATTERN,
        }
    }

    /// The environment variable naming the stack's document for this system.
    pub fn document_var(self) -> &'static str {
        match self {
            Self::Linux => LINUX_DOCUMENT_VAR,
            Self::Windows => WINDOWS_DOCUMENT_VAR,
        }
    }

    /// The plugin directory the SSM agent writes output under, as a key
    /// segment. Newer agents drop the colon (`awsrunShellScript`), older ones
    /// kept it (`aws:runShellScript`); readers list the prefix instead of
    /// guessing (see the `RemoteCheck` port).
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

const LINUX_PATH_PATTERN: &str = r"^(/([A-Za-z0-9 ._+=,@:-]?|[A-Za-z0-9 _+=,@:-][A-Za-z0-9 ._+=,@:-]|\.[A-Za-z0-9 _+=,@:-]|[A-Za-z0-9 ._+=,@:-]{3,}))+$";
const WINDOWS_PATH_PATTERN: &str = r"^[A-Za-z]:(\\([A-Za-z0-9 ._+=,@()-]?|[A-Za-z0-9 _+=,@()-][A-Za-z0-9 ._+=,@()-]|\.[A-Za-z0-9 _+=,@()-]|[A-Za-z0-9 ._+=,@()-]{3,}))+$";

/// The SSM document a check is sent with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CheckDocument {
    /// A command document of the stack, by name: its only parameter is the
    /// path ([`PATH_PARAMETER`]), constrained by [`GuestOs::path_pattern`].
    Stack(String),
    /// AWS-RunShellScript / AWS-RunPowerShellScript with the quoted command
    /// line of [`OverrideCheck::command`]. To IAM this is "run any command":
    /// only with the opt-in.
    AwsRunScript,
}

/// Which documents the override checks may use: the function's (or the
/// CLI's) configuration, never the workload's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckDocuments {
    /// The stack's Linux document ([`LINUX_DOCUMENT_VAR`]).
    pub linux: Option<String>,
    /// The stack's Windows document ([`WINDOWS_DOCUMENT_VAR`]).
    pub windows: Option<String>,
    /// AWS-RunShellScript / AWS-RunPowerShellScript where no document is
    /// named ([`ALLOW_RUN_SHELL_SCRIPT_VAR`] = `true`).
    pub allow_aws_run_script: bool,
}

impl CheckDocuments {
    /// Only the AWS-owned documents, as before the stack had its own: the
    /// library's default (tests, embedding). The binaries read
    /// [`CheckDocuments::from_env`] instead.
    pub fn aws_run_script() -> Self {
        Self {
            allow_aws_run_script: true,
            ..Self::default()
        }
    }

    /// Reads [`LINUX_DOCUMENT_VAR`], [`WINDOWS_DOCUMENT_VAR`] and
    /// [`ALLOW_RUN_SHELL_SCRIPT_VAR`] through `var`; blank values are unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Self {
            linux: get(LINUX_DOCUMENT_VAR),
            windows: get(WINDOWS_DOCUMENT_VAR),
            allow_aws_run_script: get(ALLOW_RUN_SHELL_SCRIPT_VAR)
                .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
        }
    }

    /// [`CheckDocuments::from_vars`] on the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The document that checks a tier on `os`, or why there is none (naming
    /// the settings that would provide one).
    pub fn resolve(&self, os: GuestOs) -> Result<CheckDocument, NoDocument> {
        let named = match os {
            GuestOs::Linux => &self.linux,
            GuestOs::Windows => &self.windows,
        };
        match (named, self.allow_aws_run_script) {
            (Some(name), _) => Ok(CheckDocument::Stack(name.clone())),
            (None, true) => Ok(CheckDocument::AwsRunScript),
            (None, false) => Err(NoDocument { os }),
        }
    }
}

/// Why no document can check a tier on `os` ([`CheckDocuments::resolve`]):
/// the message names the settings that would provide one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no SSM document is configured for {os} override checks: set {var} to the stack's \
     override-check document (infra/template.yaml sets it), or {allow}=true \
     to use {document} (the opt-in for accounts that cannot create documents)",
    var = .os.document_var(),
    allow = ALLOW_RUN_SHELL_SCRIPT_VAR,
    document = .os.document()
)]
pub struct NoDocument {
    /// The guest OS of the tier.
    pub os: GuestOs,
}

/// Why an override file path is refused ([`OverrideCheck::new`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Nothing to check.
    #[error("the path is empty")]
    Empty,
    /// A control character (a newline would end the command).
    #[error("control character {0:?} is not allowed")]
    Control(char),
    /// A character outside the allow-list.
    #[error("character {found:?} is not allowed (letters, digits, spaces and {allowed} only)")]
    Character {
        /// The character refused.
        found: char,
        /// The characters allowed besides letters, digits and spaces.
        allowed: String,
    },
    /// A Linux path that is not absolute.
    #[error("must be an absolute path starting with '/'")]
    NotAbsolute,
    /// A Windows path without its drive letter.
    #[error("must be an absolute path with a drive letter such as 'C:\\ignore.txt'")]
    NoDrive,
    /// A Windows `:` past the drive letter.
    #[error("':' is only allowed after the drive letter")]
    Colon,
    /// Longer than the guest's limit (characters).
    #[error("longer than {0} characters")]
    TooLong(usize),
    /// A `..` segment.
    #[error("'..' segments are not allowed")]
    DotDot,
    /// A leading `-`, which a command could read as an option.
    #[error("must not start with '-'")]
    Dash,
}

/// A validated override file check for one tier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct OverrideCheck {
    path: String,
    os: GuestOs,
    /// Chosen by the orchestrator from its settings just before sending.
    #[serde(skip)]
    document: Option<CheckDocument>,
}

impl OverrideCheck {
    /// Validates `path` for `os`; the error says why it was refused.
    pub fn new(path: &str, os: GuestOs) -> Result<Self, PathError> {
        validate(path, os)?;
        Ok(Self {
            path: path.to_string(),
            os,
            document: None,
        })
    }

    /// This check, sent with `document`.
    pub fn with_document(&self, document: CheckDocument) -> Self {
        Self {
            document: Some(document),
            ..self.clone()
        }
    }

    /// The document to send the check with; `None` until the orchestrator
    /// chose one ([`CheckDocuments::resolve`]).
    pub fn document(&self) -> Option<&CheckDocument> {
        self.document.as_ref()
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
    /// [`TOKEN_PRESENT`] / [`TOKEN_ABSENT`]. The stack's documents run the
    /// same line with the path substituted for `{{ overridePath }}`.
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

fn validate(path: &str, os: GuestOs) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return Err(PathError::Control(c));
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
        return Err(PathError::Character {
            found: c,
            allowed: allowed_extra.iter().filter(|c| **c != ' ').collect(),
        });
    }
    match os {
        GuestOs::Linux => {
            if !path.starts_with('/') {
                return Err(PathError::NotAbsolute);
            }
            if path.len() > MAX_LINUX_PATH {
                return Err(PathError::TooLong(MAX_LINUX_PATH));
            }
            if path.split('/').any(|seg| seg == "..") {
                return Err(PathError::DotDot);
            }
        }
        GuestOs::Windows => {
            let bytes = path.as_bytes();
            let drive = bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'\\';
            if !drive {
                return Err(PathError::NoDrive);
            }
            if path[2..].contains(':') {
                return Err(PathError::Colon);
            }
            if path.len() > MAX_WINDOWS_PATH {
                return Err(PathError::TooLong(MAX_WINDOWS_PATH));
            }
            if path.split('\\').any(|seg| seg == "..") {
                return Err(PathError::DotDot);
            }
        }
    }
    if path.starts_with('-') {
        return Err(PathError::Dash);
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
    fn documents_come_from_the_settings_and_the_opt_in_is_explicit() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            CheckDocuments::from_vars(move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
        };
        let none = vars(&[]);
        for os in [GuestOs::Linux, GuestOs::Windows] {
            let why = none.resolve(os).unwrap_err().to_string();
            assert!(
                why.contains(os.document_var()) && why.contains(ALLOW_RUN_SHELL_SCRIPT_VAR),
                "{why}"
            );
        }
        let stack = vars(&[
            (LINUX_DOCUMENT_VAR, " ec2ts-linux "),
            (ALLOW_RUN_SHELL_SCRIPT_VAR, "TRUE"),
        ]);
        assert_eq!(
            stack.resolve(GuestOs::Linux),
            Ok(CheckDocument::Stack("ec2ts-linux".into()))
        );
        assert_eq!(stack.resolve(GuestOs::Windows), Ok(CheckDocument::AwsRunScript));
        // Anything but true/1 is not the opt-in; blank names are unset.
        let blank = vars(&[(WINDOWS_DOCUMENT_VAR, "  "), (ALLOW_RUN_SHELL_SCRIPT_VAR, "yes")]);
        assert!(blank.resolve(GuestOs::Windows).is_err());
        assert_eq!(
            CheckDocuments::aws_run_script().resolve(GuestOs::Linux),
            Ok(CheckDocument::AwsRunScript)
        );
        // The bound document travels with the check, not in its serialised form.
        let check = OverrideCheck::new("/tmp/x", GuestOs::Linux).unwrap();
        let bound = check.with_document(CheckDocument::Stack("d".into()));
        assert_eq!(check.document(), None);
        assert_eq!(bound.document(), Some(&CheckDocument::Stack("d".into())));
        assert_eq!(
            serde_json::to_value(&bound).unwrap(),
            serde_json::to_value(&check).unwrap()
        );
    }

    #[test]
    fn refusals_say_why_in_words() {
        let why = |p: &str, os| OverrideCheck::new(p, os).unwrap_err().to_string();
        assert_eq!(
            why("/tmp/a;b", GuestOs::Linux),
            "character ';' is not allowed (letters, digits, spaces and /._-+=,@: only)"
        );
        assert_eq!(
            why("/tmp/a\nb", GuestOs::Linux),
            "control character '\\n' is not allowed"
        );
        assert_eq!(
            why("ignore.txt", GuestOs::Windows),
            "must be an absolute path with a drive letter such as 'C:\\ignore.txt'"
        );
        assert_eq!(
            why(&format!("/{}", "a".repeat(1100)), GuestOs::Linux),
            "longer than 1024 characters"
        );
        assert_eq!(why("/tmp/../x", GuestOs::Linux), "'..' segments are not allowed");
        assert_eq!(
            CheckDocuments::default()
                .resolve(GuestOs::Linux)
                .unwrap_err()
                .to_string(),
            "no SSM document is configured for Linux override checks: set OVERRIDE_CHECK_DOCUMENT_LINUX to the \
             stack's override-check document (infra/template.yaml sets it), or \
             OVERRIDE_CHECK_ALLOW_RUN_SHELL_SCRIPT=true to use AWS-RunShellScript (the opt-in for accounts \
             that cannot create documents)"
        );
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
