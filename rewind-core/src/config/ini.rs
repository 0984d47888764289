//! Reads the original Rewind's configuration files exactly as the Python
//! front end reads them, so that `rewind` and the Python command read a file
//! alike. The Python front end (`rewind/server/main.py`) opens the file as
//! UTF-8 text, reads it with Python 3's
//! `configparser.ConfigParser(inline_comment_prefixes=(";",))` (strict, with
//! `%` interpolation), then fetches every option of every section with
//! `ConfigParser.get` and hands the result to [`Ini::from_sections`].
//! [`Ini::parse`] does the same in Rust:
//!
//! - Lines end at `\n`, `\r\n` or `\r`. "White space" is what Python's
//!   `str.isspace` calls so (which includes U+001C..U+001F).
//! - A line whose first non-blank character is `#` or `;` is a comment. A
//!   `;` at the start of a line or after white space starts an inline
//!   comment; `#` after text does not (`path = /a #1` is `/a #1`), nor does
//!   a `;` right after text (`a;b` is `a;b`).
//! - `[name]` opens a section. The name is everything between the `[` and
//!   the *last* `]` of the line, as written (case and spaces kept); text
//!   after that `]` is ignored. `[DEFAULT]` provides fallbacks for every
//!   section and may be opened more than once; another section may not.
//! - `key = value` or `key: value` splits at the first `=` or `:`; the key is
//!   lowercased, key and value lose outer white space. A key may appear once
//!   per section (`DEFAULT` included), whatever its case.
//! - A line indented deeper than the first line of an option continues its
//!   value (the lines are joined with `\n`). Blank lines inside the value are
//!   kept, trailing ones dropped, comment lines skipped. `k =` followed by
//!   continuation lines gives a value that starts with `\n`. Any line less
//!   indented starts a new option or section.
//! - Refused: a line before the first section header (a UTF-8 byte-order
//!   mark counts as text, so a file starting with one is refused, as Python
//!   refuses it), a line that is neither a header nor an option, an empty
//!   key, a duplicate section or option.
//! - Interpolation, as `ConfigParser.get` does it: `%%` is `%`, `%(name)s`
//!   is the value of option `name` of the same section or of `DEFAULT`
//!   (itself interpolated, at most 10 levels deep), any other `%` is an
//!   error. Every option of every section is interpolated when the file is
//!   read, so a bad `%` anywhere refuses the file, as the Python command
//!   refuses it. `DEFAULT`'s options are interpolated in each section,
//!   which lists them among its own ([`Ini::keys`]), as
//!   `ConfigParser.options` does.
//!
//! A refused file gives one line naming the line of the problem (for an
//! interpolation error, the line of the option).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::{Error, Result};

/// A parsed INI file: sections of options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    sections: BTreeMap<String, BTreeMap<String, String>>,
    defaults: BTreeMap<String, String>,
}

/// Sections of `(option, value)` pairs, in the order of the file.
type Sections = Vec<(String, Vec<(String, String)>)>;

/// The section whose options are every section's fallbacks.
const DEFAULT_SECTION: &str = "DEFAULT";

/// How deep `%(name)s` references may nest, as in `configparser`.
const MAX_INTERPOLATION_DEPTH: usize = 10;

/// Why a file is refused; each is one of `configparser`'s exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    /// A line before the first section header.
    MissingSectionHeader(String),
    /// A line that is neither a section header nor an option.
    NotAnOption(String),
    /// `= value`.
    EmptyOptionName(String),
    DuplicateSection(String),
    DuplicateOption {
        section: String,
        option: String,
    },
    Interpolation {
        section: String,
        option: String,
        kind: Interpolation,
    },
}

/// What is wrong with a `%` in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Interpolation {
    /// A `%` followed by neither `%` nor a `(name)s` reference.
    Syntax(String),
    /// `%(name)s` where the section and `DEFAULT` have no option `name`.
    Missing(String),
    /// References nested more than [`MAX_INTERPOLATION_DEPTH`] deep.
    TooDeep,
}

/// A refused file: the problem and the line it is on (counted from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rejection {
    line: usize,
    problem: Problem,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.problem {
            Problem::MissingSectionHeader(l) if l.starts_with('\u{feff}') => write!(
                f,
                "the file starts with a byte-order mark (U+FEFF); save it as UTF-8 without one"
            ),
            Problem::MissingSectionHeader(l) => {
                write!(f, "no [section] header before this line: {l:?}")
            }
            Problem::NotAnOption(l) => {
                write!(f, "neither a [section] header nor 'key = value': {l:?}")
            }
            Problem::EmptyOptionName(l) => write!(f, "option without a name: {l:?}"),
            Problem::DuplicateSection(s) => write!(f, "section '{s}' appears twice"),
            Problem::DuplicateOption { section, option } => {
                write!(f, "option '{option}' appears twice in section '{section}'")
            }
            Problem::Interpolation {
                section,
                option,
                kind,
            } => {
                write!(f, "option '{option}' in section '{section}': ")?;
                match kind {
                    Interpolation::Syntax(rest) => write!(
                        f,
                        "'%' must be followed by '%' or '(name)s', found {rest:?} (write '%%' for '%')"
                    ),
                    Interpolation::Missing(name) => write!(
                        f,
                        "'%({})s' names no option of the section or of {DEFAULT_SECTION}",
                        name.escape_debug()
                    ),
                    Interpolation::TooDeep => write!(
                        f,
                        "'%(name)s' references nest more than {MAX_INTERPOLATION_DEPTH} deep"
                    ),
                }
            }
        }
    }
}

/// White space as Python's `str.isspace` (and the `\s` of its `re`) sees it.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// The lines of a file read in Python's text mode (universal newlines),
/// without their ends.
fn py_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                i += if bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Where the comment of a line starts, if it has one: the whole line for a
/// `#` or `;` first, else the first `;` at its start or after white space.
fn comment_start(line: &str) -> Option<usize> {
    if py_strip(line).starts_with(['#', ';']) {
        return Some(0);
    }
    line.match_indices(';')
        .map(|(i, _)| i)
        .find(|&i| i == 0 || line[..i].chars().next_back().is_some_and(is_py_space))
}

/// The name of a section header: from after the `[` to the last `]`.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// The option name (not lowercased) and value of an option line.
fn option_line(value: &str) -> Option<(&str, &str)> {
    let sep = value.find(['=', ':'])?;
    Some((
        value[..sep].trim_end_matches(is_py_space),
        py_strip(&value[sep + 1..]),
    ))
}

/// An option as read: its lowercased name, its lines, where it starts.
struct RawOption {
    name: String,
    lines: Vec<String>,
    line: usize,
}

impl RawOption {
    /// The lines joined, trailing blank ones dropped.
    fn value(&self) -> String {
        self.lines
            .join("\n")
            .trim_end_matches(is_py_space)
            .to_string()
    }
}

struct RawSection {
    name: String,
    options: Vec<RawOption>,
}

/// Reads the sections of a file as `ConfigParser.read_file` does. The first
/// section returned is `DEFAULT` (possibly empty).
fn read(text: &str) -> std::result::Result<Vec<RawSection>, Rejection> {
    let mut all = vec![RawSection {
        name: DEFAULT_SECTION.to_string(),
        options: Vec::new(),
    }];
    // The section being read, and its option that continuation lines extend.
    let mut current: Option<usize> = None;
    let mut extended: Option<usize> = None;
    let mut indent_level = 0;
    let mut seen: HashSet<(usize, String)> = HashSet::new();
    // Like configparser, a malformed line is reported once the whole file
    // is read (the first one), a missing header or a duplicate at once.
    let mut malformed: Option<Rejection> = None;
    for (n, line) in py_lines(text).into_iter().enumerate() {
        let lineno = n + 1;
        let comment = comment_start(line);
        let value = py_strip(&line[..comment.unwrap_or(line.len())]);
        if value.is_empty() {
            // A blank line (not a comment) inside a value belongs to it.
            if let (None, Some(s), Some(o)) = (comment, current, extended) {
                all[s].options[o].lines.push(String::new());
            }
            continue;
        }
        let indent = line.chars().take_while(|&c| is_py_space(c)).count();
        if let (Some(s), Some(o)) = (current, extended) {
            if indent > indent_level {
                all[s].options[o].lines.push(value.to_string());
                continue;
            }
        }
        indent_level = indent;
        let reject = |problem| Rejection {
            line: lineno,
            problem,
        };
        if let Some(name) = section_header(value) {
            if name == DEFAULT_SECTION {
                current = Some(0);
            } else if all[1..].iter().any(|s| s.name == name) {
                return Err(reject(Problem::DuplicateSection(name.to_string())));
            } else {
                all.push(RawSection {
                    name: name.to_string(),
                    options: Vec::new(),
                });
                current = Some(all.len() - 1);
            }
            extended = None;
            continue;
        }
        let Some(s) = current else {
            return Err(reject(Problem::MissingSectionHeader(line.to_string())));
        };
        let Some((name, v)) = option_line(value) else {
            malformed.get_or_insert(reject(Problem::NotAnOption(line.to_string())));
            continue;
        };
        if name.is_empty() {
            malformed.get_or_insert(reject(Problem::EmptyOptionName(line.to_string())));
        }
        let name = name.to_lowercase();
        if !seen.insert((s, name.clone())) {
            return Err(reject(Problem::DuplicateOption {
                section: all[s].name.clone(),
                option: name,
            }));
        }
        let options = &mut all[s].options;
        extended = (!name.is_empty()).then_some(options.len());
        options.push(RawOption {
            name,
            lines: vec![v.to_string()],
            line: lineno,
        });
    }
    match malformed {
        Some(rejection) => Err(rejection),
        None => Ok(all),
    }
}

/// Appends `rest` to `out` with its `%` references resolved in `values`,
/// as `configparser.BasicInterpolation` does.
fn interpolate(
    rest: &str,
    values: &HashMap<&str, String>,
    depth: usize,
    out: &mut String,
) -> std::result::Result<(), Interpolation> {
    if depth > MAX_INTERPOLATION_DEPTH {
        return Err(Interpolation::TooDeep);
    }
    let mut rest = rest;
    while let Some(p) = rest.find('%') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        match rest.as_bytes().get(1) {
            Some(b'%') => {
                out.push('%');
                rest = &rest[2..];
            }
            Some(b'(') => {
                // `%(name)s`, name not empty and without `)`.
                let close = rest[2..].find(')').map(|i| i + 2);
                let Some(close) = close.filter(|&c| c > 2 && rest[c + 1..].starts_with('s')) else {
                    return Err(Interpolation::Syntax(rest.to_string()));
                };
                let name = rest[2..close].to_lowercase();
                let value = values
                    .get(name.as_str())
                    .ok_or(Interpolation::Missing(name))?;
                if value.contains('%') {
                    interpolate(value, values, depth + 1, out)?;
                } else {
                    out.push_str(value);
                }
                rest = &rest[close + 2..];
            }
            _ => return Err(Interpolation::Syntax(rest.to_string())),
        }
    }
    out.push_str(rest);
    Ok(())
}

/// What the Python front end hands to [`Ini::from_sections`] for a file
/// (`main._sections`): every section but `DEFAULT` with every option
/// `ConfigParser.options` lists (its own, then `DEFAULT`'s), each value
/// interpolated; then `DEFAULT`'s options as written, if it has any.
fn configparser_sections(text: &str) -> std::result::Result<Sections, Rejection> {
    let all = read(text)?;
    let (defaults, sections) = all.split_first().expect("DEFAULT comes first");
    let default_values: Vec<(&RawOption, String)> =
        defaults.options.iter().map(|o| (o, o.value())).collect();
    let mut result = Vec::new();
    for section in sections {
        let own: Vec<(&RawOption, String)> =
            section.options.iter().map(|o| (o, o.value())).collect();
        let mut values: HashMap<&str, String> = HashMap::new();
        for (o, v) in default_values.iter().chain(&own) {
            values.insert(&o.name, v.clone());
        }
        let inherited = default_values
            .iter()
            .filter(|(d, _)| !own.iter().any(|(o, _)| o.name == d.name));
        let mut options = Vec::new();
        for (option, raw) in own.iter().chain(inherited) {
            let mut value = String::new();
            interpolate(raw, &values, 1, &mut value).map_err(|kind| Rejection {
                line: option.line,
                problem: Problem::Interpolation {
                    section: section.name.clone(),
                    option: option.name.clone(),
                    kind,
                },
            })?;
            options.push((option.name.clone(), value));
        }
        result.push((section.name.clone(), options));
    }
    if !default_values.is_empty() {
        let raw = default_values.into_iter();
        result.push((
            DEFAULT_SECTION.to_string(),
            raw.map(|(o, v)| (o.name.clone(), v)).collect(),
        ));
    }
    Ok(result)
}

impl Ini {
    /// Parses the text of a configuration file as the Python front end
    /// reads it (see the module documentation).
    ///
    /// Errors: [`Error::Config`], one line naming the line of a malformed
    /// entry, an option outside any section, a duplicate section or option,
    /// or a bad `%` in a value.
    pub fn parse(text: &str) -> Result<Ini> {
        let sections = configparser_sections(text).map_err(|r| Error::Config(r.to_string()))?;
        Ini::from_sections(sections)
    }

    /// Builds an `Ini` from sections of `(key, value)` pairs, as the Python
    /// front end hands over a `configparser.ConfigParser`: values as
    /// `ConfigParser.get` returns them (comments removed, interpolated),
    /// which are kept as given. Keys are matched without regard to case.
    /// A section named `DEFAULT` provides fallbacks for every section.
    ///
    /// Errors: [`Error::Config`] for a section or an option given twice.
    pub fn from_sections(sections: Vec<(String, Vec<(String, String)>)>) -> Result<Ini> {
        let mut ini = Ini::default();
        for (name, options) in sections {
            let mut map = BTreeMap::new();
            for (k, v) in options {
                let key = k.to_lowercase();
                if map.insert(key.clone(), v).is_some() {
                    return Err(Error::Config(format!(
                        "option '{key}' appears twice in section '{name}'"
                    )));
                }
            }
            if name == DEFAULT_SECTION {
                ini.defaults.extend(map);
            } else if ini.sections.insert(name.clone(), map).is_some() {
                return Err(Error::Config(format!("section '{name}' appears twice")));
            }
        }
        Ok(ini)
    }

    /// Whether the section exists.
    pub fn has_section(&self, section: &str) -> bool {
        self.sections.contains_key(section)
    }

    /// The value of an option, falling back to `DEFAULT`.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        let key = key.to_lowercase();
        self.sections
            .get(section)?
            .get(&key)
            .or_else(|| self.defaults.get(&key))
            .map(String::as_str)
    }

    /// The option names given for a section, sorted. For a file read by
    /// [`Ini::parse`], or by the Python front end, they include those of
    /// `DEFAULT`, as `ConfigParser.options` lists them.
    pub fn keys(&self, section: &str) -> Vec<&str> {
        self.sections
            .get(section)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod against_configparser;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configparser_dialect() {
        let ini = Ini::parse(
            "# c\n[DEFAULT]\nshared = yes\n[a]\nKey : v1 ; note\nlong = one\n  two\nhash = x #1\n",
        )
        .unwrap();
        assert_eq!(ini.get("a", "key"), Some("v1"));
        assert_eq!(ini.get("a", "KEY"), Some("v1"));
        assert_eq!(ini.get("a", "long"), Some("one\ntwo"));
        assert_eq!(ini.get("a", "hash"), Some("x #1"));
        assert_eq!(ini.get("a", "shared"), Some("yes"));
        assert_eq!(ini.keys("a"), ["hash", "key", "long", "shared"]);
        assert_eq!(ini.get("b", "shared"), None);
        assert_eq!(ini.get("a", "url"), None);
    }

    #[test]
    fn values_are_interpolated_when_read() {
        let ini = Ini::parse("[DEFAULT]\nbase = /srv\n[s]\npath = %(BASE)s/100%%\n").unwrap();
        assert_eq!(ini.get("s", "path"), Some("/srv/100%"));
        assert_eq!(ini.get("s", "base"), Some("/srv"));
        let err = Ini::parse("[s]\na = 1\npath = /srv/100%\n").unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.starts_with("line 3: option 'path' in section 's'")),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let message = |t: &str| match Ini::parse(t) {
            Err(Error::Config(m)) => m,
            other => panic!("{t:?}: {other:?}"),
        };
        assert!(message("k = v\n").starts_with("line 1: no [section] header"));
        assert!(message("\u{feff}[s]\n").contains("byte-order mark"));
        assert!(message("[s]\n\nnovalue\n").starts_with("line 3: neither"));
        assert!(message("[s]\n= v\n").starts_with("line 2: option without a name"));
        assert_eq!(message("[s]\n[s]\n"), "line 2: section 's' appears twice");
        assert_eq!(
            message("[s]\nk=1\nK=2\n"),
            "line 3: option 'k' appears twice in section 's'"
        );
    }

    #[test]
    fn from_sections_keeps_values_as_given() {
        let ini = Ini::from_sections(vec![
            ("s".into(), vec![("Key".into(), "a ;b %(x)s".into())]),
            (DEFAULT_SECTION.into(), vec![("d".into(), "1".into())]),
        ])
        .unwrap();
        assert_eq!(ini.get("s", "key"), Some("a ;b %(x)s"));
        assert_eq!(ini.get("s", "d"), Some("1"));
        assert_eq!(ini.keys("s"), ["key"]);
        let twice = vec![("s".into(), vec![]), ("s".into(), vec![])];
        assert!(Ini::from_sections(twice).is_err());
    }
}
