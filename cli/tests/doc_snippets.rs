//! The code blocks of README.md and docs/*.md, compiled or run, so that they
//! stay right as the code changes. Every fenced block names its language, and
//! each language is checked:
//!
//! - ```` ```rust ````: README's are doctests of the `shmlane` crate (its
//!   `ReadmeExample`); other docs hold none (this test says so if one appears).
//! - ```` ```go ````: compiled and vetted, whole programs run, by
//!   `bindings-go/docs_test.go`.
//! - ```` ```c ````: compiled against `bindings-c/include` with
//!   `-Wall -Wextra -Werror`, every status-returning function redeclared
//!   `warn_unused_result` so that a snippet cannot ignore a status, and linked
//!   with `libshmlane`. A block without `main` is the body of `main` (its
//!   `#include` lines go first). A block that creates its ring is run, and must
//!   exit 0.
//! - ```` ```sh ````: a block that runs the `shmlane` tool is run with the
//!   built tool first on the PATH, in a scratch directory, the blocks of one
//!   document in order in one `bash -euo pipefail` (a later block may use the
//!   rings of an earlier one). The rings a document creates are renamed for
//!   the run (a suffix for names, the scratch directory for `--path` files), so
//!   that runs never meet, and removed after; a run that takes over two
//!   minutes fails (a `--watch` without `--count` never ends). Any other block (building,
//!   installing, benchmarking) is not run: it must parse (`bash -n`), and the
//!   packages, binaries, benches, make targets and files it names must exist.
//! - ```` ```json ````: must parse, and hold the same keys as the output of
//!   the command it shows (`stat --json`, `bench --json`).
//! - ```` ```python ````: run by the Python binding's tests
//!   (`bindings-python/tests/test_docs.py`).
//! - ```` ```text ````: output, grammar and other illustration; not checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_shmlane");

/// One fenced block of a Markdown file.
#[derive(Debug, Clone)]
struct Block {
    doc: PathBuf,
    /// Line of the block's first line of code.
    line: usize,
    language: String,
    code: String,
}

impl Block {
    fn at(&self) -> String {
        format!("{}:{}", self.doc.display(), self.line)
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ is in the workspace")
        .to_owned()
}

/// README.md and docs/*.md.
fn docs() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

fn blocks_of(doc: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(doc).unwrap();
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                open = Some(Block {
                    doc: doc.to_owned(),
                    line: index + 2,
                    language: info.split_whitespace().next().unwrap_or("").to_owned(),
                    code: String::new(),
                })
            }
            (Some(_), Some(_)) => blocks.push(open.take().unwrap()),
            (Some(block), None) => {
                block.code.push_str(line);
                block.code.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{}: a block that never ends", doc.display());
    blocks
}

fn all_blocks() -> Vec<Block> {
    docs().iter().flat_map(|doc| blocks_of(doc)).collect()
}

fn blocks(language: &str) -> Vec<Block> {
    all_blocks()
        .into_iter()
        .filter(|block| block.language == language)
        .collect()
}

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

fn assert_ran(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what}: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A directory of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("shmlane-doc-snippets-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn every_block_names_a_language_that_is_checked() {
    let blocks = all_blocks();
    assert!(
        blocks.len() > 20,
        "found {} blocks: the extraction is broken",
        blocks.len()
    );
    for block in &blocks {
        assert!(
            ["rust", "go", "c", "sh", "json", "python", "text"].contains(&block.language.as_str()),
            "{}: a block of {:?}: name a language this test checks, or `text`",
            block.at(),
            block.language
        );
        assert!(
            block.language != "rust" || block.doc.ends_with("README.md"),
            "{}: only README's Rust blocks are doctests (ring/src/lib.rs, ReadmeExample)",
            block.at()
        );
    }
}

// ---------------------------------------------------------------- ring names

/// The rings a document's shell or C code creates, renamed for this run: a
/// name gets a suffix, a `--path` file moves into the scratch directory.
#[derive(Default)]
struct Renames(BTreeMap<String, String>);

impl Renames {
    fn learn_shell(&mut self, code: &str, scratch: &Path) {
        for line in code.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            for (i, pair) in words.windows(2).enumerate() {
                if pair != ["shmlane", "create"] {
                    continue;
                }
                let rest = &words[i + 2..];
                let target = match rest.first() {
                    Some(&"--path") => rest.get(1).map(|path| {
                        let file = Path::new(path).file_name().unwrap().to_str().unwrap();
                        (path.to_string(), scratch.join(file).display().to_string())
                    }),
                    Some(name) if !name.starts_with('-') => {
                        Some((name.to_string(), self.unique(name)))
                    }
                    _ => None,
                };
                if let Some((from, to)) = target {
                    self.0.insert(from, to);
                }
            }
        }
    }

    fn learn_c(&mut self, code: &str) {
        for piece in code.split("shmlane_ring_create(\"").skip(1) {
            let name = piece.split('"').next().unwrap();
            let renamed = self.unique(name);
            self.0
                .insert(format!("\"{name}\""), format!("\"{renamed}\""));
        }
    }

    fn unique(&self, name: &str) -> String {
        format!("{name}-docs-{}", std::process::id())
    }

    /// `code` with every word that is a renamed ring replaced: a word is
    /// delimited by blanks, `;`, `|`, `&`, `(`, `)`, `,` or the line's ends.
    fn apply(&self, code: &str) -> String {
        let delimiter = |c: char| c.is_whitespace() || ";|&(),".contains(c);
        let mut out = String::with_capacity(code.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            out.push_str(self.0.get(word.as_str()).unwrap_or(word));
            word.clear();
        };
        for c in code.chars() {
            if delimiter(c) {
                flush(&mut word, &mut out);
                out.push(c);
            } else {
                word.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }

    /// Removes the rings, whatever state the run left them in.
    fn remove(&self) {
        for to in self.0.values() {
            let to = to.trim_matches('"');
            let path = if to.starts_with('/') {
                PathBuf::from(to)
            } else {
                Path::new("/dev/shm").join(to)
            };
            let _ = std::fs::remove_file(path);
        }
    }
}

// ---------------------------------------------------------------------- C

/// The header's status-returning functions, redeclared so that the compiler
/// refuses a call whose status is dropped.
fn must_use_declarations(header: &str) -> String {
    let mut declarations = String::new();
    let mut rest = header;
    while let Some(start) = rest.find("\nshmlane_status shmlane_") {
        let declaration = &rest[start + 1..];
        let end = declaration.find(");").expect("a declaration ends") + 2;
        declarations.push_str("__attribute__((warn_unused_result)) ");
        declarations.push_str(&declaration[..end]);
        declarations.push('\n');
        rest = &declaration[end..];
    }
    declarations
}

/// `bindings-c/build/lib`, built if it is not there (scripts/test-all.sh
/// builds it before the Rust tests).
fn c_library() -> PathBuf {
    let lib = root().join("bindings-c/build/lib");
    if !lib.join("libshmlane.a").exists() {
        assert_ran(
            "make -C bindings-c lib",
            &run(Command::new("make")
                .arg("-C")
                .arg(root().join("bindings-c"))
                .arg("lib")),
        );
    }
    lib
}

/// The C source of a block: a whole program, or the body of `main`.
fn c_source(block: &Block, renames: &Renames, declarations: &str) -> String {
    let code = renames.apply(&block.code);
    let doc = block.doc.display();
    if code.contains("main(") {
        return format!("#line {} \"{doc}\"\n{code}", block.line);
    }
    let mut source = String::new();
    for line in code.lines().filter(|line| line.starts_with("#include")) {
        source.push_str(line);
        source.push('\n');
    }
    source.push_str("#include <shmlane.h>\n");
    source.push_str(declarations);
    source.push_str(&format!(
        "int main(void) {{\n#line {} \"{doc}\"\n",
        block.line
    ));
    for line in code.lines() {
        // An #include went first; a blank line keeps the numbers right.
        if !line.starts_with("#include") {
            source.push_str(line);
        }
        source.push('\n');
    }
    source.push_str("return 0;\n}\n");
    source
}

#[test]
fn c_blocks_compile_without_dropping_a_status_and_those_that_create_their_ring_run() {
    let blocks = blocks("c");
    assert!(
        blocks.len() >= 2,
        "found {} C blocks: the extraction is broken",
        blocks.len()
    );
    let lib = c_library();
    let header = std::fs::read_to_string(root().join("bindings-c/include/shmlane.h")).unwrap();
    let declarations = must_use_declarations(&header);
    assert!(
        declarations.matches("warn_unused_result").count() > 30,
        "the header's functions were not found"
    );
    let scratch = Scratch::new("c");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    for (index, block) in blocks.iter().enumerate() {
        let mut renames = Renames::default();
        renames.learn_c(&block.code);
        let source = scratch.0.join(format!("snippet{index}.c"));
        std::fs::write(&source, c_source(block, &renames, &declarations)).unwrap();
        let binary = scratch.0.join(format!("snippet{index}"));
        let compiled = run(Command::new(&compiler)
            .args(["-std=c11", "-D_POSIX_C_SOURCE=200809L"])
            .args(["-Wall", "-Wextra", "-Werror", "-Werror=unused-result"])
            // Snippets leave "... use the frame ..." to the reader.
            .args(["-Wno-unused-variable", "-Wno-unused-but-set-variable"])
            .arg("-I")
            .arg(root().join("bindings-c/include"))
            .arg("-I")
            .arg(root().join("bindings-c/examples"))
            .arg(&source)
            .arg("-o")
            .arg(&binary)
            .arg(format!("-L{}", lib.display()))
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-lshmlane"));
        assert_ran(
            &format!("compiling the C block at {}", block.at()),
            &compiled,
        );
        if !renames.0.is_empty() {
            let ran = run(&mut Command::new(&binary));
            renames.remove();
            assert_ran(&format!("the C block at {}", block.at()), &ran);
        }
    }
}

// ------------------------------------------------------------------- shell

/// Whether a shell block runs the `shmlane` tool (and so is run here).
fn uses_the_tool(block: &Block) -> bool {
    block.code.lines().any(|line| {
        line.split(['|', '&', ';', '('])
            .any(|command| command.split_whitespace().next() == Some("shmlane"))
    })
}

#[test]
fn shell_blocks_that_use_the_tool_run() {
    let tool_dir = Path::new(BIN).parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        tool_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for doc in docs() {
        let blocks: Vec<Block> = blocks_of(&doc)
            .into_iter()
            .filter(|block| block.language == "sh" && uses_the_tool(block))
            .collect();
        if blocks.is_empty() {
            continue;
        }
        let scratch = Scratch::new(doc.file_stem().unwrap().to_str().unwrap());
        let mut renames = Renames::default();
        let mut script = String::from("set -euo pipefail\n");
        for block in &blocks {
            renames.learn_shell(&block.code, &scratch.0);
            script.push_str(&format!("# {}\n", block.at()));
            script.push_str(&renames.apply(&block.code));
            script.push_str("wait\n");
            ran += 1;
        }
        renames.remove();
        let output = run(Command::new("timeout")
            .args(["120", "bash", "-c", &script])
            .current_dir(&scratch.0)
            .env("PATH", &path));
        renames.remove();
        assert_ran(
            &format!("the shell blocks of {}:\n{script}", doc.display()),
            &output,
        );
    }
    assert!(ran >= 4, "ran {ran} shell blocks: the extraction is broken");
}

/// The packages of the workspace with their targets, by kind.
fn workspace_targets() -> BTreeMap<String, BTreeSet<(String, String)>> {
    let output = run(Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root()));
    assert_ran("cargo metadata", &output);
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut packages = BTreeMap::new();
    for package in metadata["packages"].as_array().unwrap() {
        let mut targets = BTreeSet::new();
        for target in package["targets"].as_array().unwrap() {
            for kind in target["kind"].as_array().unwrap() {
                let name = target["name"].as_str().unwrap().to_owned();
                targets.insert((kind.as_str().unwrap().to_owned(), name));
            }
        }
        packages.insert(package["name"].as_str().unwrap().to_owned(), targets);
    }
    packages
}

fn make_targets(dir: &Path) -> BTreeSet<String> {
    let makefile = std::fs::read_to_string(dir.join("Makefile")).unwrap();
    makefile
        .lines()
        .filter_map(|line| line.split_once(':').map(|(head, _)| head))
        .filter(|head| !head.contains('=') && !head.starts_with(['\t', '#', ' ']))
        .flat_map(|head| head.split_whitespace().map(str::to_owned))
        .collect()
}

/// What a build or benchmark block names that must exist: a problem for
/// each word that does not.
fn missing_names(
    block: &Block,
    packages: &BTreeMap<String, BTreeSet<(String, String)>>,
) -> Vec<String> {
    let mut missing = Vec::new();
    let top: BTreeSet<String> = std::fs::read_dir(root())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let commands = block.code.lines().flat_map(|line| {
        let line = line.split(" #").next().unwrap();
        line.split(|c: char| "()&|;".contains(c))
    });
    for command in commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        let mut selected: Vec<&str> = Vec::new();
        for (i, word) in words.iter().enumerate() {
            let next = words.get(i + 1).copied().unwrap_or("");
            match *word {
                "-p" => {
                    if packages.contains_key(next) {
                        selected.push(next);
                    } else {
                        missing.push(format!("package {next}"));
                    }
                }
                "--bin" | "--bench" | "--example" => {
                    let kind = &word[2..];
                    let found = packages
                        .iter()
                        .filter(|(name, _)| {
                            selected.is_empty() || selected.contains(&name.as_str())
                        })
                        .any(|(_, targets)| targets.contains(&(kind.to_owned(), next.to_owned())));
                    if !found {
                        missing.push(format!("{kind} {next}"));
                    }
                }
                "-C" if words.contains(&"make") => {
                    let dir = root().join(next);
                    let targets = make_targets(&dir);
                    for target in words[i + 2..]
                        .iter()
                        .take_while(|word| !word.starts_with('-'))
                        .filter(|word| !word.contains('='))
                    {
                        if !targets.contains(*target) {
                            missing.push(format!("make target {target} of {next}"));
                        }
                    }
                }
                _ => {}
            }
            // A file of the repository (build outputs aside).
            let file = word.trim_start_matches("./");
            let first = file.split('/').next().unwrap();
            if file.contains('/')
                && top.contains(first)
                && first != "target"
                && !file.contains("/build/")
                && !root().join(file).exists()
            {
                missing.push(format!("file {file}"));
            }
        }
    }
    missing
}

#[test]
fn other_shell_blocks_parse_and_name_only_what_exists() {
    let packages = workspace_targets();
    let mut checked = 0;
    for block in blocks("sh").iter().filter(|block| !uses_the_tool(block)) {
        let parsed = run(Command::new("bash").args(["-n", "-c", &block.code]));
        assert_ran(&format!("bash -n of the block at {}", block.at()), &parsed);
        let missing = missing_names(block, &packages);
        assert!(
            missing.is_empty(),
            "{}: names what does not exist: {missing:?}",
            block.at()
        );
        checked += 1;
    }
    assert!(
        checked >= 5,
        "checked {checked} blocks: the extraction is broken"
    );
}

// -------------------------------------------------------------------- JSON

/// The keys of a JSON value, recursively: objects by key, arrays by their
/// first element.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), shape(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        _ => Value::Null,
    }
}

#[test]
fn json_blocks_have_the_keys_of_the_output_they_show() {
    let blocks = blocks("json");
    assert!(blocks.len() >= 2, "found {} JSON blocks", blocks.len());
    let scratch = Scratch::new("json");
    let ring = scratch.0.join("ring");
    let ring = ring.to_str().unwrap();
    let tool = |args: &[&str]| {
        let output = run(Command::new(BIN).args(args));
        assert_ran(&format!("shmlane {args:?}"), &output);
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    tool_create(ring);
    let stat = tool(&["stat", "--path", ring, "--json"]);
    let bench = tool(&[
        "bench",
        "--pingpong",
        "--messages",
        "100",
        "--json",
        "--quiet",
    ]);
    for block in blocks {
        let shown: Value = serde_json::from_str(&block.code)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", block.at()));
        let actual = if shown.get("participants").is_some() {
            &stat
        } else if shown.get("latency_ns").is_some() {
            &bench
        } else {
            panic!("{}: JSON of no command this test knows", block.at())
        };
        assert_eq!(
            shape(&shown),
            shape(actual),
            "{}: keys differ from the output",
            block.at()
        );
    }
}

fn tool_create(ring: &str) {
    let output = run(Command::new(BIN).args([
        "create",
        "--path",
        ring,
        "--capacity",
        "1024",
        "--slot-size",
        "64",
    ]));
    assert_ran("shmlane create", &output);
    // A producer and a consumer that came and went, so that stat lists them.
    let sent = run(Command::new("bash").arg("-c").arg(format!(
        "seq 1 3 | {BIN} send --path {ring} && {BIN} recv --path {ring} --count 3 >/dev/null"
    )));
    assert_ran("send and recv", &sent);
}
