//! The house rules, checked from the source itself (no dependency needed):
//!
//! - no import cycle between the top-level modules of `src/` (a module's
//!   edges are the `crate::<module>` paths in its code, comments aside);
//! - no function in `src/` over 80 lines (from its `fn` line to its closing
//!   brace; unit tests aside);
//! - no file of the CLI folder over 250 lines.
//!
//! `make structure` prints the figures (`--nocapture`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 80;
const MAX_CLI_FILE_LINES: usize = 250;
const CLI_DIR: &str = "src/bin/orchestrator";

/// The layers of `src/lib.rs`'s crate map, bottom first: a module may name
/// modules of its own layer or below, never above. A new module must be
/// placed here (and in the crate map) for the tests to pass.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "vocabulary",
        &[
            "action",
            "clock",
            "instance",
            "key",
            "member",
            "table",
            "telemetry",
            "traffic",
            "volume_keys",
            "window",
        ],
    ),
    (
        "core",
        &[
            "config",
            "override_check",
            "override_tag",
            "plan",
            "records",
            "summary",
            "notify",
            "run_events",
            "cron",
            "savings",
        ],
    ),
    ("ports", &["error", "ports"]),
    ("runs", &["run", "ledger", "event", "rds_event", "orchestrator"]),
    ("views", &["history", "timeline", "status", "metrics"]),
    ("service", &["run_service"]),
    ("adapters", &["aws"]),
    ("entry points", &["handler"]),
];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The library's top-level module a file belongs to (`None` for the crate
/// root and the binaries, which sit above every module).
fn top_module(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first {
        "bin" | "main.rs" | "lib.rs" => None,
        file => Some(file.trim_end_matches(".rs").to_string()),
    }
}

/// The file's code without comments and without its `#[cfg(test)] mod`
/// (unit tests may reach anywhere). Line structure is kept.
fn code(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for (n, line) in lines.iter().enumerate() {
        // A test module sits last in its file by this crate's convention.
        let next = lines.get(n + 1).map_or("", |l| l.trim_start());
        if line.trim() == "#[cfg(test)]" && next.starts_with("mod ") {
            break;
        }
        let without_comment = match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        out.push_str(without_comment);
        out.push('\n');
    }
    out
}

/// Module-to-module edges from `crate::<name>` paths.
fn module_graph() -> Graph {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph = Graph::new();
    for path in files {
        let Some(from) = top_module(&path) else { continue };
        if path.file_name().is_some_and(|f| f == "tests.rs") {
            continue;
        }
        let text = code(&std::fs::read_to_string(&path).expect("read source"));
        let edges = graph.entry(from.clone()).or_default();
        for (at, _) in text.match_indices("crate::") {
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // e.g. `ec2_tier_scheduler::` in a doc example
            }
            let name: String = text[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != from {
                edges.insert(name);
            }
        }
    }
    graph
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Search<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Search<'g> {
        fn visit(&mut self, v: &'g str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.stack.contains(&w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !search.index.contains_key(v.as_str()) {
            search.visit(v);
        }
    }
    search.found
}

/// Functions longer than `MAX_FN_LINES`: (lines, file, name, first line).
fn long_functions() -> Vec<(usize, String, String, usize)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut long = Vec::new();
    for path in files.iter().filter(|p| !p.ends_with("tests.rs")) {
        let text = code(&std::fs::read_to_string(path).expect("read source"));
        let lines: Vec<&str> = text.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            let Some(name) = fn_name(line) else { continue };
            if let Some(len) = body_length(&lines[start..]).filter(|len| *len > MAX_FN_LINES) {
                let rel = path.strip_prefix(src().parent().expect("root")).unwrap_or(path);
                long.push((len, rel.display().to_string(), name, start + 1));
            }
        }
    }
    long.sort_by(|a, b| b.cmp(a));
    long
}

/// The name of the function a line declares, if it does.
fn fn_name(line: &str) -> Option<String> {
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        match word {
            "fn" => {
                let name: String = words
                    .next()?
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                return (!name.is_empty()).then_some(name);
            }
            w if w == "pub" || w.starts_with("pub(") || ["async", "const", "unsafe", "extern"].contains(&w) => {}
            _ => return None,
        }
    }
    None
}

/// Lines from a declaration to the brace closing its body (`None` for a
/// declaration without a body). Braces in string and char literals are
/// skipped.
fn body_length(lines: &[&str]) -> Option<usize> {
    let mut depth = 0i64;
    let mut opened = false;
    for (n, line) in lines.iter().enumerate() {
        let mut chars = line.chars();
        let mut in_str = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' if in_str => {
                    chars.next();
                }
                '"' => in_str = !in_str,
                '\'' if !in_str => {
                    // A char literal like '{' (lifetimes have no closing quote soon).
                    let rest: String = chars.clone().take(3).collect();
                    if rest.chars().nth(1) == Some('\'') {
                        chars.next();
                        chars.next();
                    }
                }
                '{' if !in_str => {
                    depth += 1;
                    opened = true;
                }
                '}' if !in_str => depth -= 1,
                ';' if !in_str && !opened && depth == 0 => return None,
                _ => {}
            }
        }
        if opened && depth == 0 {
            return Some(n + 1);
        }
    }
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = module_graph();
    for (module, edges) in &graph {
        println!("{module} -> {}", edges.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles between top-level modules of src/: {found:?}"
    );
}

#[test]
fn no_module_names_a_layer_above_its_own() {
    let layer_of = |module: &str| LAYERS.iter().position(|(_, modules)| modules.contains(&module));
    let graph = module_graph();
    let unplaced: Vec<&String> = graph.keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(unplaced.is_empty(), "modules in no layer of LAYERS: {unplaced:?}");
    let mut upward = Vec::new();
    for (module, edges) in &graph {
        for target in edges {
            let (from, to) = (layer_of(module), layer_of(target));
            if to > from {
                upward.push(format!(
                    "{module} ({}) -> {target} ({})",
                    LAYERS[from.unwrap_or(0)].0,
                    to.map_or("?", |t| LAYERS[t].0)
                ));
            }
        }
    }
    assert!(upward.is_empty(), "lower modules naming higher ones: {upward:?}");
}

#[test]
fn the_cycle_check_would_catch_config_importing_plan_again() {
    let mut graph = module_graph();
    assert!(graph["plan"].contains("config"), "plan reads the configuration");
    graph.get_mut("config").expect("config module").insert("plan".into());
    let found = cycles(&graph);
    assert!(
        found
            .iter()
            .any(|c| c.contains(&"config".to_string()) && c.contains(&"plan".to_string())),
        "{found:?}"
    );
}

#[test]
fn no_function_in_src_is_over_80_lines() {
    let long = long_functions();
    for (len, file, name, line) in &long {
        println!("{len:4} {file}:{line} {name}");
    }
    assert!(
        long.is_empty(),
        "{} function(s) over {MAX_FN_LINES} lines: {long:?}",
        long.len()
    );
}

#[test]
fn the_line_counter_counts_bodies_not_strings() {
    let text = "pub async fn f() {\n    let s = \"{\";\n    let c = '}';\n}\nfn g();\n";
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(fn_name(lines[0]).as_deref(), Some("f"));
    assert_eq!(body_length(&lines), Some(4));
    assert_eq!(body_length(&lines[4..]), None);
    assert_eq!(fn_name("    let x = fn_call();"), None);
}

#[test]
fn no_cli_file_is_over_250_lines() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CLI_DIR);
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(
        files.len() >= 6,
        "the CLI is a folder with a file per command group: {files:?}"
    );
    let mut over = Vec::new();
    for path in &files {
        let lines = std::fs::read_to_string(path).expect("read").lines().count();
        println!("{lines:4} {}", path.display());
        if lines > MAX_CLI_FILE_LINES {
            over.push((path.display().to_string(), lines));
        }
    }
    assert!(over.is_empty(), "CLI files over {MAX_CLI_FILE_LINES} lines: {over:?}");
}

#[test]
fn the_crate_map_in_lib_rs_names_every_module_and_file() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(src()).expect("src").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !["bin", "main.rs", "lib.rs"].contains(&name.as_str()) {
            // `plan.rs` beside its `plan/` folder of submodules is one module.
            on_disk.insert(name.trim_end_matches(".rs").to_string());
        }
    }
    assert_eq!(declared, on_disk, "lib.rs's modules and src/'s files");
    let undocumented: Vec<&String> = declared.iter().filter(|m| !lib.contains(&format!("[`{m}`]"))).collect();
    assert!(
        undocumented.is_empty(),
        "modules missing from lib.rs's crate map: {undocumented:?}"
    );
}

/// The most lines of non-test code in one file of `src/`.
const MAX_SRC_FILE_LINES: usize = 500;

/// The lines of `text` before its test module (`#[cfg(test)]` and what
/// follows it; a `tests.rs` file counts none): what a reader of the design
/// reads.
fn non_test_lines(path: &Path, text: &str) -> usize {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return 0;
    }
    text.lines().take_while(|l| l.trim() != "#[cfg(test)]").count()
}

#[test]
fn no_file_in_src_is_over_500_lines_of_code_tests_aside() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut over = Vec::new();
    for path in &files {
        let lines = non_test_lines(path, &std::fs::read_to_string(path).expect("read"));
        if lines > MAX_SRC_FILE_LINES {
            over.push((path.strip_prefix(src()).unwrap().display().to_string(), lines));
        }
    }
    assert!(
        over.is_empty(),
        "files over {MAX_SRC_FILE_LINES} lines of code: {over:?}"
    );
}

#[test]
fn the_file_counter_leaves_tests_aside() {
    let text = "fn a() {}\nfn b() {}\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n";
    assert_eq!(non_test_lines(Path::new("src/x.rs"), text), 2);
    assert_eq!(non_test_lines(Path::new("src/x/tests.rs"), text), 0);
}
