//! Keys whose parts are data: the run ledger's run keys and the keys of
//! the records only the scheduler writes are made here, each part encoded
//! so that no value can forge another key.

/// A ledger key: its kind and parts joined by `|`, each part encoded so
/// that no value can forge another key (`%` and `|` are percent-encoded:
/// workload `W|a` with run id `b` and workload `W` with run id `a|b` stay
/// two keys). Values in keys are data, never separators.
pub fn key(kind: &str, parts: &[&str]) -> String {
    let mut key = kind.to_string();
    for part in parts {
        key.push('|');
        key.push_str(&part.replace('%', "%25").replace('|', "%7C"));
    }
    key
}
