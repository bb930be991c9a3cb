//! Tidy checks: architecture invariants read from the source text, as rust-analyzer's `tidy.rs` does. Each runs as a
//! `#[test]` (so `cargo test` enforces it) and from `cargo xtask tidy`. Each check returns what it found wrong, one
//! line each, naming the file and the remedy; a test beside each feeds it a small broken tree to show it can fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// backup-core's layers, bottom up: a file may import only from its own layer and those below. A top-level module not
/// listed here is refused, so that a new module is placed on purpose.
pub const LAYERS: &[(&str, &[&str])] = &[
    (
        "ground",
        &[
            "cloud",
            "config",
            "credential",
            "error",
            "layout",
            "manifest",
            "names",
            "progress",
            "retention",
            "retry",
            "rule",
            "server_texts",
            "urls",
        ],
    ),
    ("service", &["service"]),
    ("facts and rules", &["preflight"]),
    ("operations", &["ops"]),
];

/// Crates that may print to the terminal: the CLI, the contributor tasks, and the simulators' binaries.
const MAY_PRINT: &[&str] = &["backup-cli/", "xtask/", "test-fixtures/src/bin/"];

/// The longest a function outside tests may be.
pub const MAX_FN_LINES: usize = 100;

/// Every check, over the repository at `root`; the problems found.
pub fn run(root: &Path) -> Result<Vec<String>> {
    let mut problems = layers(&root.join("backup-core/src"))?;
    problems.extend(printing(root)?);
    problems.extend(unix_only(root)?);
    problems.extend(long_functions(root)?);
    problems.extend(unused_dependencies(root)?);
    problems.extend(boundaries(root)?);
    Ok(problems)
}

/// A source file, its path relative to the tree read, and its text.
struct Source {
    rel: String,
    text: String,
}

fn rust_files(root: &Path, skip_dirs: &[&str]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if path.is_dir() {
                if !name.starts_with('.') && !skip_dirs.contains(&name.as_str()) {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                let rel = path.strip_prefix(root)?.to_string_lossy().replace('\\', "/");
                let text = fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                out.push(Source { rel, text });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// The text of a file without its tests (from the first `#[cfg(test)]` module on) and without comments.
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t == "#[cfg(test)]"
            && lines.get(i + 1).is_some_and(|n| n.trim_start().starts_with("mod "))
        {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push((i + 1, *line));
    }
    out
}

/// The module path of a file under `src/`: `lib.rs` is the root, `a/mod.rs` and `a.rs` are `a`.
fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// Every `crate::…`, `super::…` and `self::…` path a line names, with `use` groups (`a::{b, c::d}`) expanded.
fn paths_in(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !line.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &line[i..];
        let starts = ["crate::", "super::", "self::"].iter().find(|p| rest.starts_with(**p));
        let boundary = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':');
        match starts {
            Some(_) if boundary => {
                let (paths, used) = parse_tree(rest);
                out.extend(paths);
                i += used.max(1);
            }
            _ => i += 1,
        }
    }
    out
}

/// Parses a use tree at the start of `s`: `a::b::{c, d::e}`. Returns the paths and the bytes read.
fn parse_tree(s: &str) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut i = 0;
    let b = s.as_bytes();
    loop {
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i > start {
            prefix.push(s[start..i].to_owned());
        }
        if s[i..].starts_with("::{") {
            i += 3;
            let mut all = Vec::new();
            loop {
                while i < b.len() && (b[i] == b' ' || b[i] == b',') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'}' {
                    i += 1;
                    break;
                }
                let (inner, used) = parse_tree(&s[i..]);
                for p in inner {
                    let mut full = prefix.clone();
                    full.extend(p);
                    all.push(full);
                }
                i += used.max(1);
            }
            return (all, i);
        }
        if s[i..].starts_with("::") {
            i += 2;
            continue;
        }
        return (vec![prefix], i);
    }
}

/// The file a path names, as the module path of the deepest module file it reaches; `None` outside the tree.
fn resolve(
    from: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut at: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("super") => {
            let mut m = from.to_vec();
            m.pop();
            m
        }
        Some("self") => from.to_vec(),
        _ => return None,
    };
    let mut segs = path[1..].iter().peekable();
    while let Some(seg) = segs.peek() {
        if *seg == "super" {
            at.pop();
            segs.next();
            continue;
        }
        let mut next = at.clone();
        next.push((*seg).clone());
        if modules.contains(&next) {
            at = next;
            segs.next();
        } else {
            break;
        }
    }
    Some(at)
}

/// What the crate root re-exports (`pub use a::b::{C, d}`): each name and the module it comes from, so that
/// `crate::C` counts as an import of `a::b`.
fn root_reexports(lib: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let text: String =
        lib.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join(" ");
    for stmt in text.split(';') {
        let Some(tree) = stmt.trim().strip_prefix("pub use ") else { continue };
        let (paths, _) = parse_tree(&tree.split_whitespace().collect::<Vec<_>>().join(" "));
        for path in paths {
            if let Some((name, module)) = path.split_last() {
                let module: Vec<String> =
                    module.iter().filter(|s| *s != "crate").cloned().collect();
                let mut full = module.clone();
                full.push(name.clone());
                // `pub use service::powerbi;` re-exports a module: the name stands for the module itself.
                out.insert(name.clone(), if module.is_empty() { full } else { module });
            }
        }
    }
    out
}

fn layer_of(module: &[String]) -> Option<usize> {
    let top = module.first()?;
    LAYERS.iter().position(|(_, mods)| mods.contains(&top.as_str()))
}

/// backup-core's layers: no import runs up a layer, none goes through the crate root's re-exports, no top-level
/// module is left out of [`LAYERS`], and no circle of files is longer than two.
pub fn layers(src: &Path) -> Result<Vec<String>> {
    let files = rust_files(src, &[])?;
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&f.rel)).collect();
    let reexports = files
        .iter()
        .find(|f| f.rel == "lib.rs")
        .map(|f| root_reexports(&f.text))
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let me = module_of(&file.rel);
        if me.is_empty() {
            continue;
        }
        let Some(my_layer) = layer_of(&me) else {
            problems.push(format!(
                "backup-core/src/{}: module '{}' is in no layer; add it to LAYERS in xtask/src/tidy.rs",
                file.rel, me[0]
            ));
            continue;
        };
        for (line_no, line) in code_lines(&file.text) {
            for path in paths_in(line) {
                let Some(target) = resolve(&me, &path, &modules) else { continue };
                let target = if target.is_empty() {
                    match path.get(1).and_then(|name| reexports.get(name)) {
                        Some(m) => m.clone(),
                        None => continue,
                    }
                } else {
                    target
                };
                if target == me {
                    continue;
                }
                let their_layer = layer_of(&target).unwrap_or(0);
                if their_layer > my_layer {
                    problems.push(format!(
                        "backup-core/src/{}:{line_no}: the {} layer imports '{}' from the {} layer above it; move what both need down",
                        file.rel,
                        LAYERS[my_layer].0,
                        path.join("::"),
                        LAYERS[their_layer].0
                    ));
                }
                edges.entry(me.clone()).or_default().insert(target);
            }
        }
    }
    for circle in circles(&edges) {
        if circle.len() > 2 {
            let names: Vec<String> = circle.iter().map(|m| m.join("::")).collect();
            problems.push(format!(
                "backup-core: {} modules import each other in a circle ({}); break it by moving what they share down",
                circle.len(),
                names.join(", ")
            ));
        }
    }
    Ok(problems)
}

/// The strongly connected groups of more than one module (Tarjan's algorithm, iteratively small enough to recurse).
fn circles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Vec<String>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(targets) = s.edges.get(v) {
            for w in targets {
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(w.clone());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.out.push(group);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// The macros that write to the terminal.
const PRINTING_MACROS: &[&str] = &["println", "eprintln", "print", "eprint", "dbg"];

/// Whether `line` invokes the macro `name` (not one whose name ends with it).
fn calls_macro(line: &str, name: &str) -> bool {
    let call = format!("{name}!(");
    line.match_indices(&call).any(|(i, _)| {
        let before = line.as_bytes().get(i.wrapping_sub(1));
        before.is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'_')
    })
}

/// Library crates do not print: only the CLI decides what reaches the terminal.
pub fn printing(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for file in rust_files(root, &["target", "tests", "examples", "benches", "fuzz"])? {
        if MAY_PRINT.iter().any(|p| file.rel.starts_with(p)) {
            continue;
        }
        for (line_no, line) in code_lines(&file.text) {
            if PRINTING_MACROS.iter().any(|name| calls_macro(line, name)) {
                problems.push(format!(
                    "{}:{line_no}: prints to the terminal; return the text to backup-cli, or log it with tracing",
                    file.rel
                ));
            }
        }
    }
    Ok(problems)
}

/// `std::os::unix` only under `cfg(unix)`, so that the tool builds on Windows: the item that uses it (or the line
/// before it) carries the `cfg`.
pub fn unix_only(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for file in rust_files(root, &["target"])? {
        let lines: Vec<&str> = file.text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(at) = line.find("std::os::unix") else { continue };
            if line.trim_start().starts_with("//") || line[..at].matches('"').count() % 2 == 1 {
                continue;
            }
            let guarded = lines[..=i].iter().rev().take(4).any(|l| l.contains("cfg(unix)"))
                || enclosing_cfg_unix(&lines, i);
            if !guarded {
                problems.push(format!(
                    "{}:{}: std::os::unix outside cfg(unix); guard it with #[cfg(unix)] and give other systems a path",
                    file.rel,
                    i + 1
                ));
            }
        }
    }
    Ok(problems)
}

/// Whether line `i` is inside an item (a function or module) whose attributes say `cfg(unix)`.
fn enclosing_cfg_unix(lines: &[&str], i: usize) -> bool {
    let indent = lines[i].len() - lines[i].trim_start().len();
    for j in (0..i).rev() {
        let l = lines[j];
        let lead = l.len() - l.trim_start().len();
        if lead < indent && !l.trim().is_empty() && !l.trim_start().starts_with("#[") {
            return lines[..j]
                .iter()
                .rev()
                .take_while(|a| a.trim_start().starts_with("#["))
                .any(|a| a.contains("cfg(unix)"));
        }
    }
    false
}

/// No function outside tests longer than [`MAX_FN_LINES`] (a reading of rustfmt-formatted text).
pub fn long_functions(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for file in rust_files(root, &["target", "tests", "benches", "fuzz", "examples"])? {
        for (name, line, n) in function_lengths(&file.text) {
            if n > MAX_FN_LINES {
                problems.push(format!(
                    "{}:{line}: function '{name}' is {n} lines, over {MAX_FN_LINES}; split it by what its parts do",
                    file.rel
                ));
            }
        }
    }
    Ok(problems)
}

/// Each function before the tests: its name, first line and length in lines.
fn function_lengths(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .enumerate()
        .position(|(i, l)| {
            l.trim() == "#[cfg(test)]"
                && lines.get(i + 1).is_some_and(|n| n.trim_start().starts_with("mod "))
        })
        .unwrap_or(lines.len());
    let mut out = Vec::new();
    let mut i = 0;
    while i < end {
        let Some((indent, name)) = fn_start(lines[i]) else {
            i += 1;
            continue;
        };
        if lines[i].trim_end().ends_with(';') {
            i += 1;
            continue;
        }
        let close = format!("{indent}}}");
        let j = (i..end).find(|&j| lines[j] == close).unwrap_or(end - 1);
        out.push((name, i + 1, j - i + 1));
        i = j + 1;
    }
    out
}

/// The indentation and name of a line that starts a function.
fn fn_start(line: &str) -> Option<(String, String)> {
    let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
    let mut rest = line.trim_start();
    if let Some(r) = rest.strip_prefix("pub") {
        rest = r.trim_start();
        if rest.starts_with('(') {
            rest = rest[rest.find(')')? + 1..].trim_start();
        }
    }
    for word in ["const ", "async ", "unsafe "] {
        if let Some(r) = rest.strip_prefix(word) {
            rest = r;
        }
    }
    let rest = rest.strip_prefix("fn ")?;
    let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some((indent, name))
}

/// Dependencies a crate declares but never names (what cargo-machete looks for): each must appear in the crate's
/// sources (`src/` for `[dependencies]`) as `name::` or `use name` (with `-` as `_`), or be listed in [`USED_WITHOUT_NAMING`].
pub fn unused_dependencies(root: &Path) -> Result<Vec<String>> {
    let manifest = fs::read_to_string(root.join("Cargo.toml"))?;
    let members = workspace_members(&manifest)?;
    let mut problems = Vec::new();
    let mut member_manifests = String::new();
    for member in &members {
        member_manifests.push_str(&fs::read_to_string(root.join(member).join("Cargo.toml"))?);
    }
    for (_, dep) in declared(&manifest) {
        let used = member_manifests
            .lines()
            .any(|l| l.trim().split(['.', '=', ' ']).next() == Some(dep.as_str()));
        if !used {
            problems.push(format!(
                "Cargo.toml: [workspace.dependencies] {dep} is declared but no crate uses it; remove it"
            ));
        }
    }
    for member in members {
        let dir = root.join(&member);
        let toml = fs::read_to_string(dir.join("Cargo.toml"))?;
        let all: String =
            rust_files(&dir, &["target", "fuzz"])?.into_iter().map(|f| f.text).collect();
        let src: String = rust_files(&dir.join("src"), &[])?.into_iter().map(|f| f.text).collect();
        for (section, dep) in declared(&toml) {
            // What the library or binary depends on must be used there; tests and examples use dev-dependencies.
            let sources = if section == "dependencies" { &src } else { &all };
            if USED_WITHOUT_NAMING.iter().any(|(c, d, _)| *c == member && *d == dep) {
                continue;
            }
            let ident = lib_name(&dep);
            let named = [
                format!("{ident}::"),
                format!("use {ident}"),
                format!("extern crate {ident}"),
                format!("{ident} as "),
            ]
            .iter()
            .any(|p| sources.contains(p.as_str()));
            if !named {
                problems.push(format!(
                    "{member}/Cargo.toml: [{section}] {dep} is declared but not used; remove it (or say in USED_WITHOUT_NAMING why it stays)"
                ));
            }
        }
    }
    Ok(problems)
}

/// Dependencies used without being named in the code, and why.
const USED_WITHOUT_NAMING: &[(&str, &str, &str)] = &[("abf-format", "rusqlite", "named")];

fn lib_name(dep: &str) -> String {
    match dep {
        "md-5" => "md5".to_owned(),
        other => other.replace('-', "_"),
    }
}

fn workspace_members(manifest: &str) -> Result<Vec<String>> {
    let start = manifest.find("members = [").context("no workspace members in Cargo.toml")?;
    let end = start + manifest[start..].find(']').context("unclosed members list")?;
    Ok(manifest[start..end].split('"').skip(1).step_by(2).map(str::to_owned).collect())
}

/// The dependencies a crate's manifest declares, with their section.
fn declared(toml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    for line in toml.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').to_owned();
            continue;
        }
        if !section.ends_with("dependencies") || t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some((name, _)) = t.split_once('=') {
            let name = name.trim().split('.').next().unwrap_or_default().trim().to_owned();
            out.push((section.clone(), name));
        }
    }
    out
}

/// Library crates that must know nothing of the terminal.
const LIBRARIES: &[&str] = &["xmla-proto", "abf-format", "adls-store", "backup-core"];

/// The boundaries between crates and inside backup-core that are not import layers:
/// - the service layer knows no rule: nothing under `backup-core/src/service/` names `crate::rule` or
///   `crate::server_texts`;
/// - a severity is decided in `preflight::severity` alone: no other file of backup-core names `Severity::`;
/// - xmla-proto does no I/O: it never names `std::fs`, `std::net`, tokio or reqwest;
/// - every HTTP client backup-core builds is made in `service/http.rs`;
/// - backup-cli picks no exit code: its sources never name `exit_codes` (a report or an error decides);
/// - no library depends on clap, indicatif or tracing-subscriber (only backup-cli knows the terminal);
/// - test-fixtures is a dev-dependency of every crate that uses it, and does not depend on xmla-proto (the
///   simulators share no wire code with the client).
pub fn boundaries(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let core = root.join("backup-core/src");
    if core.is_dir() {
        for file in rust_files(&core, &[])? {
            for (line_no, line) in code_lines(&file.text) {
                if file.rel.starts_with("service/")
                    && (line.contains("crate::rule") || line.contains("crate::server_texts"))
                {
                    problems.push(format!(
                        "backup-core/src/{}:{line_no}: the service layer names a rule; let the preflight or the operations judge what the service said",
                        file.rel
                    ));
                }
                if !["preflight/mod.rs", "rule.rs"].contains(&file.rel.as_str())
                    && line.contains("Severity::")
                {
                    problems.push(format!(
                        "backup-core/src/{}:{line_no}: a severity decided outside preflight::severity; report a status and let severity weigh it",
                        file.rel
                    ));
                }
                if file.rel != "service/http.rs" && line.contains("Client::builder") {
                    problems.push(format!(
                        "backup-core/src/{}:{line_no}: an HTTP client built outside service/http.rs; use http::client",
                        file.rel
                    ));
                }
            }
        }
    }
    let proto = root.join("xmla-proto/src");
    if proto.is_dir() {
        for file in rust_files(&proto, &[])? {
            for (line_no, line) in code_lines(&file.text) {
                if ["std::fs", "std::net", "tokio", "reqwest"].iter().any(|io| line.contains(io)) {
                    problems.push(format!(
                        "xmla-proto/src/{}:{line_no}: I/O in the message crate; it takes bytes and returns values",
                        file.rel
                    ));
                }
            }
        }
    }
    let cli = root.join("backup-cli/src");
    if cli.is_dir() {
        for file in rust_files(&cli, &[])? {
            for (line_no, line) in code_lines(&file.text) {
                if line.contains("exit_codes") {
                    problems.push(format!(
                        "backup-cli/src/{}:{line_no}: the CLI picks an exit code; let the report (CommandOutput::exit_code) or the error decide",
                        file.rel
                    ));
                }
            }
        }
    }
    for member in workspace_members(&fs::read_to_string(root.join("Cargo.toml"))?)? {
        let toml = fs::read_to_string(root.join(&member).join("Cargo.toml"))?;
        for (section, dep) in declared(&toml) {
            let library = LIBRARIES.contains(&member.as_str()) && section == "dependencies";
            if library && ["clap", "indicatif", "tracing-subscriber"].contains(&dep.as_str()) {
                problems.push(format!(
                    "{member}/Cargo.toml: a library depends on {dep}; only backup-cli knows the terminal"
                ));
            }
            if dep == "test-fixtures" && section != "dev-dependencies" {
                problems.push(format!(
                    "{member}/Cargo.toml: test-fixtures in [{section}]; the simulators are a dev-dependency only"
                ));
            }
            if member == "test-fixtures" && dep == "xmla-proto" && section != "dev-dependencies" {
                problems.push(
                    "test-fixtures/Cargo.toml: the simulators depend on xmla-proto; they must share no wire code with the client"
                        .to_owned(),
                );
            }
        }
    }
    Ok(problems)
}

/// `cargo xtask tidy`: every check; fails listing what it found.
pub fn task(root: &Path) -> Result<()> {
    let problems = run(root)?;
    for p in &problems {
        eprintln!("{p}");
    }
    if !problems.is_empty() {
        bail!("tidy found {} problem(s)", problems.len());
    }
    println!(
        "tidy: layers, boundaries, printing, std::os::unix, function lengths and dependencies are in order"
    );
    Ok(())
}

#[allow(dead_code, reason = "used by the tests")]
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits one level below the root")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile_dir::Dir {
        let dir = tempfile_dir::Dir::new();
        for (path, text) in files {
            let p = dir.path().join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        dir
    }

    /// A scratch folder removed on drop (xtask keeps its dependencies few: no tempfile).
    mod tempfile_dir {
        use std::path::{Path, PathBuf};

        pub struct Dir(PathBuf);

        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "xtask-tidy-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                let _ = std::fs::remove_dir_all(&p);
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }

            pub fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn backup_core_keeps_its_layers() {
        let problems = layers(&repo_root().join("backup-core/src")).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_layer_check_fails_on_an_import_up_a_layer_a_circle_and_a_stray_module() {
        let dir = tree(&[
            ("lib.rs", "pub mod error;\npub mod service;\npub mod ops;\npub use ops::Report;\n"),
            ("error.rs", "use crate::service::http::client;\n"),
            ("service/mod.rs", "pub mod http;\npub mod auth;\npub mod powerbi;\n"),
            ("service/http.rs", "use super::auth::Token;\n"),
            ("service/auth.rs", "use crate::service::{powerbi::Api, http};\n"),
            ("service/powerbi.rs", "use crate::service::http::client;\nuse crate::Report;\n"),
            ("ops/mod.rs", "use crate::{error::Error, service::powerbi::Api};\n"),
            ("stray.rs", "\n"),
        ]);
        let problems = layers(dir.path()).unwrap();
        let text = problems.join("\n");
        assert!(
            text.contains("error.rs:1: the ground layer imports 'crate::service::http::client'"),
            "{text}"
        );
        assert!(
            text.contains("5 modules import each other in a circle (error, ops, service::auth, service::http, service::powerbi)"),
            "{text}"
        );
        assert!(
            text.contains("service/powerbi.rs:2: the service layer imports 'crate::Report'"),
            "{text}"
        );
        assert!(text.contains("module 'stray' is in no layer"), "{text}");
        assert!(!text.contains("ops/mod.rs"), "ops may import from below: {text}");
        assert_eq!(problems.len(), 4, "{text}");
    }

    #[test]
    fn the_boundaries_fail_when_crossed() {
        let dir = tree(&[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\n    \"backup-core\",\n    \"backup-cli\",\n    \"test-fixtures\",\n]\n",
            ),
            (
                "backup-core/Cargo.toml",
                "[dependencies]\nindicatif.workspace = true\ntest-fixtures.workspace = true\n",
            ),
            ("backup-core/src/service/xmla.rs", "use crate::server_texts::failure_rule;\n"),
            (
                "backup-core/src/ops/run.rs",
                "let c = reqwest::Client::builder();\nlet s = Severity::Block;\n",
            ),
            ("xmla-proto/src/lib.rs", "use std::net::TcpStream;\n"),
            ("backup-cli/Cargo.toml", "[dev-dependencies]\ntest-fixtures.workspace = true\n"),
            (
                "backup-cli/src/main.rs",
                "// exit_codes in a comment is fine\nreturn exit(exit_codes::USAGE);\n",
            ),
            ("test-fixtures/Cargo.toml", "[dependencies]\nxmla-proto.workspace = true\n"),
        ]);
        let problems = boundaries(dir.path()).unwrap();
        let text = problems.join("\n");
        for expected in [
            "backup-core/src/service/xmla.rs:1: the service layer names a rule",
            "backup-core/src/ops/run.rs:1: an HTTP client built outside service/http.rs",
            "backup-core/src/ops/run.rs:2: a severity decided outside preflight::severity",
            "xmla-proto/src/lib.rs:1: I/O in the message crate",
            "backup-cli/src/main.rs:2: the CLI picks an exit code",
            "backup-core/Cargo.toml: a library depends on indicatif",
            "backup-core/Cargo.toml: test-fixtures in [dependencies]",
            "test-fixtures/Cargo.toml: the simulators depend on xmla-proto",
        ] {
            assert!(text.contains(expected), "{expected} not found in:\n{text}");
        }
        assert_eq!(problems.len(), 8, "{text}");
    }

    #[test]
    fn use_groups_expand_to_every_path() {
        assert_eq!(
            paths_in("use crate::{error::{Error, Result}, ops::Context};"),
            vec![
                vec!["crate", "error", "Error"],
                vec!["crate", "error", "Result"],
                vec!["crate", "ops", "Context"],
            ]
        );
        assert_eq!(paths_in("x = super::super::a::b(y);"), vec![vec!["super", "super", "a", "b"]]);
        assert!(paths_in("let my_crate::x = 1; backup_core::ops").is_empty());
    }

    #[test]
    fn the_repository_passes_every_other_check() {
        let root = repo_root();
        let mut problems = printing(&root).unwrap();
        problems.extend(unix_only(&root).unwrap());
        problems.extend(long_functions(&root).unwrap());
        problems.extend(unused_dependencies(&root).unwrap());
        problems.extend(boundaries(&root).unwrap());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_other_checks_fail_on_broken_code() {
        let long_body = "    x();\n".repeat(MAX_FN_LINES);
        let dir = tree(&[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\n    \"lib\",\n]\n\n[workspace.dependencies]\nserde = \"1\"\njiff = \"0.2\"\n",
            ),
            (
                "lib/Cargo.toml",
                "[package]\nname = \"lib\"\n\n[dependencies]\nserde.workspace = true\nhex = \"0.4\"\n\n[dev-dependencies]\nmd-5 = \"0.10\"\n",
            ),
            (
                "lib/src/lib.rs",
                &format!(
                    "use serde::Serialize;\nuse std::os::unix::fs::FileExt;\n#[cfg(unix)]\nuse std::os::unix::fs::PermissionsExt;\npub fn f() {{\n    println!(\"hi\");\n}}\npub fn long() {{\n{long_body}}}\n"
                ),
            ),
            ("lib/tests/t.rs", "use md5::Digest;\nuse hex::encode;\n"),
        ]);
        let root = dir.path();
        let p = printing(root).unwrap();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("lib/src/lib.rs:6: prints"), "{p:?}");
        let u = unix_only(root).unwrap();
        assert_eq!(u.len(), 1, "{u:?}");
        assert!(u[0].starts_with("lib/src/lib.rs:2:"), "{u:?}");
        let l = long_functions(root).unwrap();
        assert_eq!(l.len(), 1, "{l:?}");
        assert!(l[0].contains("'long' is 102 lines"), "{l:?}");
        let d = unused_dependencies(root).unwrap();
        assert_eq!(
            d,
            vec![
                "Cargo.toml: [workspace.dependencies] jiff is declared but no crate uses it; remove it",
                "lib/Cargo.toml: [dependencies] hex is declared but not used; remove it (or say in USED_WITHOUT_NAMING why it stays)",
            ]
        );
    }
}
