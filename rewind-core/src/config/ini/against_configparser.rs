//! Differential tests of [`Ini::parse`] against Python's `configparser`:
//! hand-written files and generated ones are read by both, in one `python3`
//! run, with the dialect of the Python front end
//! (`rewind/server/main.py`), and must give the same sections, options and
//! values, or be refused by both (with the same kind of error, naming the
//! same line).

use std::collections::BTreeMap;
use std::process::Command;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Map, Value};

use super::{configparser_sections, Ini, Interpolation, Problem, Rejection};

/// Reads each file of a JSON list as the Python front end does (the
/// `ConfigParser` dialect of `main.py`, the file decoded as UTF-8 with
/// universal newlines, like `open`), then fetches every option of every
/// section with `get`, as `main._sections` does. Prints a JSON list of
/// `{"sections": {...}, "defaults": {...}}` or `{"error": class, "line": n}`.
const PYTHON: &str = r#"
import configparser, io, json, sys

def read(text):
    config = configparser.ConfigParser(inline_comment_prefixes=(";",))
    try:
        config.read_file(io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8"))
    except configparser.MissingSectionHeaderError as e:
        return {"error": type(e).__name__, "line": e.lineno}
    except configparser.ParsingError as e:
        return {"error": type(e).__name__, "line": e.errors[0][0]}
    except configparser.Error as e:
        return {"error": type(e).__name__, "line": getattr(e, "lineno", None)}
    try:
        sections = {
            name: {key: config.get(name, key) for key in config.options(name)}
            for name in config.sections()
        }
    except configparser.Error as e:
        return {"error": type(e).__name__, "line": None}
    return {"sections": sections, "defaults": dict(config.defaults())}

with open(sys.argv[1], encoding="utf-8") as f:
    cases = json.load(f)
json.dump([read(text) for text in cases], sys.stdout)
"#;

/// The constructor the test's script uses, which must be the one of the
/// Python front end.
const DIALECT: &str = r#"configparser.ConfigParser(inline_comment_prefixes=(";",))"#;

/// Python's answers for `cases`, from one `python3` run.
fn python_reads(cases: &[String]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cases.json");
    std::fs::write(&input, serde_json::to_vec(cases).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(PYTHON)
        .arg(&input)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is needed to compare the INI reader with Python's configparser: {e}")
        });
    assert!(
        out.status.success(),
        "python3 failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).expect("python3 printed JSON");
    assert_eq!(answers.len(), cases.len(), "one answer per case");
    answers
}

/// The exception `configparser` raises for a problem.
fn python_class(p: &Problem) -> &'static str {
    match p {
        Problem::MissingSectionHeader(_) => "MissingSectionHeaderError",
        Problem::NotAnOption(_) | Problem::EmptyOptionName(_) => "ParsingError",
        Problem::DuplicateSection(_) => "DuplicateSectionError",
        Problem::DuplicateOption { .. } => "DuplicateOptionError",
        Problem::Interpolation { kind, .. } => match kind {
            Interpolation::Syntax(_) => "InterpolationSyntaxError",
            Interpolation::Missing(_) => "InterpolationMissingOptionError",
            Interpolation::TooDeep => "InterpolationDepthError",
        },
    }
}

/// The Rust reading of `text`, in the shape the Python script prints.
fn rust_reads(text: &str) -> Value {
    match (Ini::parse(text), configparser_sections(text)) {
        (Ok(ini), Ok(_)) => {
            let mut sections = Map::new();
            for name in ini.sections.keys() {
                assert!(ini.has_section(name));
                let options: Map<String, Value> = ini
                    .keys(name)
                    .into_iter()
                    .map(|k| (k.to_string(), json!(ini.get(name, k).unwrap())))
                    .collect();
                sections.insert(name.clone(), Value::Object(options));
            }
            json!({"sections": sections, "defaults": ini.defaults})
        }
        (Err(e), Err(Rejection { line, problem })) => {
            let message = e.to_string();
            assert!(
                !message.contains('\n') && message.contains(&format!("line {line}: ")),
                "the error is one line naming line {line}: {message}"
            );
            let line = match problem {
                Problem::Interpolation { .. } => Value::Null,
                _ => json!(line),
            };
            json!({"error": python_class(&problem), "line": line})
        }
        (parsed, detailed) => panic!(
            "Ini::parse and configparser_sections disagree on {text:?}: {parsed:?} / {detailed:?}"
        ),
    }
}

/// Reads every case both ways; panics listing the cases read differently.
/// Returns how many cases had each outcome: "accepted" or the exception.
fn compare(cases: &[String]) -> BTreeMap<String, usize> {
    let python = python_reads(cases);
    let mut differences = Vec::new();
    let mut outcomes = BTreeMap::new();
    for (text, py) in cases.iter().zip(&python) {
        let rust = rust_reads(text);
        if rust != *py {
            differences.push(format!("{text:?}\n  python: {py}\n  rust:   {rust}"));
        }
        let outcome = py["error"].as_str().unwrap_or("accepted").to_string();
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    assert!(
        differences.is_empty(),
        "{} of {} files are read differently from Python's configparser:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
    outcomes
}

const README_EXAMPLE: &str = "\
[general]
query-bind-endpoint=tcp://127.0.0.1:9090
streaming-bind-endpoint=tcp://127.0.0.1:9091
command-bind-endpoint=tcp://127.0.0.1:9002   ; v2, optional
publish-bind-endpoint=tcp://127.0.0.1:9003   ; v2, optional
zmq-nthreads=1
storage-backend=mystore    ; without it, events live in memory

[mystore]
class=rewind.server.eventstores.LMDBEventStore
path=/srv/rewind/data       ; a directory
map-size-limit=64G          ; optional: the most the store may grow to
";

const SPEC_EXAMPLE: &str = "\
[general]
query-bind-endpoint=tcp://127.0.0.1:9090
streaming-bind-endpoint=tcp://127.0.0.1:9091
zmq-nthreads=3
storage-backend=mystore          ; optional: without it, events live in memory

[mystore]
class=rewind.server.eventstores.SQLiteEventStore
path=/srv/rewind/db.sqlite
";

/// Files written by hand, one or more ingredients each.
fn hand_written() -> Vec<String> {
    let cases: &[&str] = &[
        README_EXAMPLE,
        SPEC_EXAMPLE,
        "",
        "# only\n; comments\n",
        "\n\n[s]\n\n",
        // Comments at the start of a line, indented, inline.
        "# c\n; c\n  # indented\n\t; tab\n[s]\n  # in a section\nk = v\n",
        "[s]\na = x ; c\nb = x;c\nc = x # c\nd = x#c\ne = x\t; c\nf = ;c\ng =; c\nh = x ;c ; d\n",
        "[s]\nk = a ;b\n  c;d ; e\n  # f\n  ; g\n  h #i\n",
        "[s]\n;k = v\n#k = w\nk = x\n",
        // Separators, spaces around them, delimiters in values.
        "[s]\na=1\nb:2\nc = 3\nd : 4\ne\t=\t5\nf = x=y\ng = x:y\nh: x=y\ni = tcp://127.0.0.1:9090\nj==\nk::\n",
        "[s]\nk:x = v\nk2 =:v\nk3 := v\n",
        "[s]\nmy key ; x = v\n",
        "[s]\nkey with spaces  =  value with  spaces  \n",
        // Empty values.
        "[s]\na =\nb:\nc = \nd=\t\n",
        // Continuation lines.
        "[s]\nk = one\n  two\n\tthree\n",
        "[s]\nk = one ; c\n  two ; c\n\n  three\n  # comment\n  four\n\n\n[t]\nx = 1\n",
        "[s]\nk =\n  a\n  b\n",
        "[s]\nk =\n\n  a\n",
        "[s]\nk = a\n  \n  b\n  \n",
        "[s]\n  a = 1\n  b = 2\n    c\n",
        "[s]\n    a = 1\n  b = 2\n",
        "[s]\nk = v\n  [not a header]\n",
        "[s]\nk = v\n  = w\n",
        "[s]\n  [t]\n  k = v\n",
        // Key case.
        "[s]\nKey = 1\nOTHER Key = 2\nkEy2: 3\n",
        "[s]\nk=1\nK=2\n",
        // Section names: spaces, case.
        "[ My Section ]\na=1\n[my section]\na=2\n[MY SECTION]\n[default]\nb=1\n",
        // DEFAULT and its fallbacks.
        "[DEFAULT]\nshared = yes\nk = d\n[a]\nk = own\n[b]\n",
        "[DEFAULT]\na=1\n[s]\nx=1\n[DEFAULT]\nb=2\n",
        "[DEFAULT]\na=1\n[s]\n[DEFAULT]\nA=2\n",
        "[DEFAULT]\nk = v\n",
        // Duplicates.
        "[a]\nk=1\n[a]\n",
        "[a]\n[b]\n[a]\n",
        "[s]\nbad\nk=1\nk=2\n",
        // Options before any section.
        "k = v\n[a]\n",
        "  k = v\n[a]\n",
        "# c\n\n[a]\nk = v\n",
        // Malformed headers.
        "[a\nk=v\n",
        "[]\n",
        "[]]\nk=v\n",
        "[a]]\nk=v\n",
        "[a]b]\nk=v\n",
        "[a] trailing\nk=v\n",
        "[a] # c\nk=v\n",
        "[a] ; c\nk=v\n",
        "[a ; c]\n",
        "[a;b]\nk=v\n",
        "[a=b\n",
        "[s]\n[a=b\n",
        "  [indented]\nk=v\n",
        "a]\n",
        // Lines that are not options.
        "[s]\nnovalue\n",
        "[s]\n= v\n",
        "[s]\n : v\n",
        "[s]\nk = v\nbad\n  more\n",
        // Trailing white space, line ends.
        "[s]  \nk = v  \t\n",
        "[s]\nk = v",
        "[s]\r\nk = v\r\n  w\r\n",
        "[s]\rk = v\r  w\r",
        "[s]\r\n\r\nk = a\r\n\r\n  b\r\n",
        // A UTF-8 byte-order mark, tabs.
        "\u{feff}[s]\nk=v\n",
        "\u{feff}# c\n[s]\n",
        "\u{feff}\n[s]\n",
        "[s]\n\tk\t=\tv\n\t\tcont\n",
        "[s]\n\tk = v\n\tj = w\n",
        // White space Python knows and Rust's char::is_whitespace does not.
        "[s]\nk = a\u{1c};c\n\u{1f}more\n",
        "[s]\nk = v\u{a0}\n\u{3000}cont\n",
        "\u{1c}[s]\u{1d}\nk = v\n",
        // Non-ASCII keys: lowercased as Python's str.lower does.
        "[s]\nΣΑΣ = 1\nÉtat = 2\n",
        // Interpolation.
        "[DEFAULT]\nbase = /srv\n[s]\npath = %(base)s/x\npct = 100%%\nboth = %(path)s and %(BASE)s\n",
        "[s]\nk = 100%\n",
        "[s]\nk = %(nope)s\n",
        "[s]\nk = %(k)s\n",
        "[s]\nk = %(k\n",
        "[s]\nk = %()s\n",
        "[s]\nk = %(x)d\nx = 1\n",
        "[DEFAULT]\nk = %(x)s\n[a]\nx = 1\n[b]\n",
        "[DEFAULT]\nk = %(x)s\n[a]\nx = 1\n",
        "[DEFAULT]\nk = 100%\n",
        "[s]\na = %(b)s\nb = %(c)s\nc = %%\n",
        "[s]\na = x ;%(b)s\nb = ;c\n",
        "[s]\nk = a\n  %(j)s\nj = %%\n",
        "[s]\nk0 = %(k1)s\nk1 = %(k2)s\nk2 = %(k3)s\nk3 = %(k4)s\nk4 = %(k5)s\nk5 = %(k6)s\n\
         k6 = %(k7)s\nk7 = %(k8)s\nk8 = %(k9)s\nk9 = %(k10)s\nk10 = %%\n",
        "[s]\nk1 = %(k2)s\nk2 = %(k3)s\nk3 = %(k4)s\nk4 = %(k5)s\nk5 = %(k6)s\n\
         k6 = %(k7)s\nk7 = %(k8)s\nk8 = %(k9)s\nk9 = %(k10)s\nk10 = %%\n",
    ];
    let mut all: Vec<String> = cases.iter().map(|s| s.to_string()).collect();
    all.push(SPEC_EXAMPLE.replace('\n', "\r\n"));
    all.push(README_EXAMPLE.replace('\n', "\r"));
    all
}

#[test]
fn the_python_front_end_reads_files_in_this_dialect() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rewind-python/python/rewind/server/main.py"
    );
    let main = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let constructions = main.matches("configparser.ConfigParser(").count();
    assert!(constructions > 0, "main.py builds no ConfigParser");
    assert_eq!(
        main.matches(DIALECT).count(),
        constructions,
        "main.py builds a ConfigParser other than {DIALECT}: Ini and this test must follow it"
    );
    assert!(
        PYTHON.contains(DIALECT),
        "the test reads files as main.py does"
    );
    assert!(
        main.contains("config.get(name, key)) for key in config.options(name)"),
        "main.py hands interpolated values of every option to the core, as the test does"
    );
}

#[test]
fn hand_written_files_are_read_as_configparser_reads_them() {
    let cases = hand_written();
    let outcomes = compare(&cases);
    assert!(outcomes["accepted"] >= cases.len() / 3, "{outcomes:?}");
}

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(items).prop_map(str::to_string)
}

/// Leading white space: none most of the time.
fn indent() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(String::new()),
        3 => pick(&[" ", "  ", "\t", "    ", " \t"]),
        1 => pick(&["\u{a0}", "\u{3000}", "\u{1c}", "\u{b}"]),
    ]
}

/// White space or an inline comment after a value or header.
fn tail() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(String::new()),
        3 => pick(&[" ", "\t", "  \t"]),
        4 => pick(&[" ; c", ";c", " # c", "#c", "\t; c", " ;", "\u{a0};c", " ; x ; y"]),
    ]
}

const SECTION_NAMES: &[&str] = &[
    "general", "mystore", "s", "S", " s ", "DEFAULT", "default", "x]y", "Σ",
];

fn section_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => pick(SECTION_NAMES),
        1 => pick(&["a;b", "a ;b", ""]),
    ]
}

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (indent(), section_name(), tail())
            .prop_map(|(i, n, t)| format!("{i}[{n}]{t}")),
        1 => pick(&["[s", "s]", "[]", "[a]b", "[a] x]", "[s]]", "[[s]"]),
    ]
}

fn key() -> impl Strategy<Value = String> {
    pick(&[
        "k",
        "K",
        "key",
        "Key",
        "path",
        "base",
        "Base",
        "x y",
        "a.b",
        "ΣΑΣ",
        "k2",
        "class",
        "zmq-nthreads",
        "%p",
        "k;x",
        "k #x",
    ])
}

fn separator() -> impl Strategy<Value = String> {
    pick(&["=", ":", " = ", " : ", "\t=\t", "  =", "= ", ":=", "=="])
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => pick(&[
            "", "v", "a=b", "a:b", "a;b", "a #b", "a#b", "tcp://127.0.0.1:9090", "  spaced  ",
            "x y", "[s]", "rewind.server.eventstores.LMDBEventStore", "é", "a\u{a0}b",
        ]),
        2 => pick(&[
            "%(k)s", "%(base)s/x", "%(KEY)s", "%%", "100%%", "%(path)s and %(k)s", "%(nope)s",
            "%", "%(k", "%()s", "%(k)d", "%x",
        ]),
    ]
}

fn option() -> impl Strategy<Value = String> {
    (indent(), key(), separator(), value(), tail())
        .prop_map(|(i, k, s, v, t)| format!("{i}{k}{s}{v}{t}"))
}

fn continuation() -> impl Strategy<Value = String> {
    (
        pick(&[" ", "  ", "\t", "    ", "\u{a0}", "        "]),
        value(),
        tail(),
    )
        .prop_map(|(i, v, t)| format!("{i}{v}{t}"))
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => header(),
        10 => option(),
        3 => continuation(),
        2 => (indent(), pick(&["# c", "; c", "#", ";", "#k = v", ";[s]"]))
            .prop_map(|(i, c)| format!("{i}{c}")),
        3 => pick(&["", " ", "\t", "\u{a0}"]),
        1 => pick(&["novalue", "= v", ": v", "  = v", "k ; = v"]),
    ]
}

fn line_end() -> impl Strategy<Value = &'static str> {
    prop_oneof![12 => Just("\n"), 2 => Just("\r\n"), 1 => Just("\r")]
}

/// A file: most start with a section header, a few with a byte-order mark.
fn file() -> impl Strategy<Value = String> {
    (
        prop_oneof![1 => Just("\u{feff}"), 40 => Just("")],
        prop_oneof![
            1 => Just(None),
            10 => pick(SECTION_NAMES).prop_map(|n| Some(format!("[{n}]"))),
            2 => header().prop_map(Some),
        ],
        proptest::collection::vec((line(), line_end()), 0..12),
        any::<bool>(),
    )
        .prop_map(|(bom, first, lines, last_end)| {
            let mut text = bom.to_string();
            if let Some(h) = first {
                text.push_str(&h);
                text.push('\n');
            }
            let n = lines.len();
            for (i, (l, end)) in lines.into_iter().enumerate() {
                text.push_str(&l);
                if i + 1 < n || last_end {
                    text.push_str(end);
                }
            }
            text
        })
}

/// Generated files, the same ones on every run (`REWIND_INI_CASES` sets
/// how many; 500 by default).
fn generated() -> Vec<String> {
    let n = std::env::var("REWIND_INI_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(RunnerConfig::default(), rng);
    let strategy = file();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

#[test]
fn generated_files_are_read_as_configparser_reads_them() {
    let cases = generated();
    let outcomes = compare(&cases);
    // Every outcome is represented, or the generator needs tuning.
    let accepted = outcomes.get("accepted").copied().unwrap_or(0);
    assert!(
        accepted >= cases.len() / 4 && accepted <= cases.len() * 3 / 4,
        "{outcomes:?}"
    );
    for class in [
        "MissingSectionHeaderError",
        "ParsingError",
        "DuplicateSectionError",
        "DuplicateOptionError",
        "InterpolationSyntaxError",
        "InterpolationMissingOptionError",
        "InterpolationDepthError",
    ] {
        assert!(outcomes.contains_key(class), "no {class}: {outcomes:?}");
    }
}
