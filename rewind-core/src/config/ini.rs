//! The INI dialect of Python's `configparser`, as the original Rewind read
//! its configuration files: sections, `key = value` or `key: value`,
//! case-insensitive keys, full-line `#`/`;` comments, inline `;` comments
//! after white space, indented continuation lines, a `DEFAULT` section.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// A parsed INI file: sections of options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    sections: BTreeMap<String, BTreeMap<String, String>>,
    defaults: BTreeMap<String, String>,
}

/// Removes an inline comment (`;` or `#` after white space) and trims.
fn clean_value(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut end = v.len();
    for i in 1..bytes.len() {
        if (bytes[i] == b';' || bytes[i] == b'#') && bytes[i - 1].is_ascii_whitespace() {
            end = i;
            break;
        }
    }
    v[..end].trim().to_string()
}

impl Ini {
    /// Parses INI text.
    ///
    /// Errors: [`Error::Config`] naming the line of a malformed entry, an
    /// option outside any section, or a duplicate section or option.
    pub fn parse(text: &str) -> Result<Ini> {
        let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut last_key: Option<usize> = None;
        for (n, raw) in text.lines().enumerate() {
            let lineno = n + 1;
            let line = raw.trim_end();
            let trimmed = line.trim_start();
            if trimmed.is_empty() {
                last_key = None;
                continue;
            }
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let indented = line.len() != trimmed.len();
            if indented {
                if let (Some(i), Some((_, opts))) = (last_key, sections.last_mut()) {
                    let v = &mut opts[i].1;
                    if !v.is_empty() {
                        v.push('\n');
                    }
                    v.push_str(&clean_value(trimmed));
                    continue;
                }
            }
            if let Some(rest) = trimmed.strip_prefix('[') {
                let name = rest.strip_suffix(']').ok_or_else(|| {
                    Error::Config(format!(
                        "line {lineno}: malformed section header: {trimmed}"
                    ))
                })?;
                sections.push((name.to_string(), Vec::new()));
                last_key = None;
                continue;
            }
            let Some((_, opts)) = sections.last_mut() else {
                return Err(Error::Config(format!(
                    "line {lineno}: option outside any section: {trimmed}"
                )));
            };
            let sep = trimmed.find(['=', ':']).ok_or_else(|| {
                Error::Config(format!("line {lineno}: expected 'key = value': {trimmed}"))
            })?;
            let key = trimmed[..sep].trim();
            if key.is_empty() {
                return Err(Error::Config(format!("line {lineno}: empty option name")));
            }
            opts.push((key.to_string(), trimmed[sep + 1..].to_string()));
            last_key = Some(opts.len() - 1);
        }
        Ini::from_sections(sections)
    }

    /// Builds an `Ini` from sections of raw `(key, value)` pairs, as a
    /// `configparser.ConfigParser` holds them. Keys are matched without
    /// regard to case; values lose inline comments and outer white space.
    /// A section named `DEFAULT` provides fallbacks for every section.
    pub fn from_sections(sections: Vec<(String, Vec<(String, String)>)>) -> Result<Ini> {
        let mut ini = Ini::default();
        for (name, options) in sections {
            let mut map = BTreeMap::new();
            for (k, v) in options {
                let key = k.trim().to_lowercase();
                if map.insert(key.clone(), clean_value(&v)).is_some() {
                    return Err(Error::Config(format!(
                        "option '{key}' in section '{name}' appears twice"
                    )));
                }
            }
            let target = if name == "DEFAULT" {
                Some(&mut ini.defaults)
            } else {
                None
            };
            match target {
                Some(d) => d.extend(map),
                None => {
                    if ini.sections.insert(name.clone(), map).is_some() {
                        return Err(Error::Config(format!("section '{name}' appears twice")));
                    }
                }
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

    /// The option names of a section (without those of `DEFAULT`).
    pub fn keys(&self, section: &str) -> Vec<&str> {
        self.sections
            .get(section)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configparser_dialect() {
        let ini =
            Ini::parse("# c\n[DEFAULT]\nshared = yes\n[a]\nKey : v1 ; note\nlong = one\n  two\n")
                .unwrap();
        assert_eq!(ini.get("a", "key"), Some("v1"));
        assert_eq!(ini.get("a", "KEY"), Some("v1"));
        assert_eq!(ini.get("a", "long"), Some("one\ntwo"));
        assert_eq!(ini.get("a", "shared"), Some("yes"));
        assert_eq!(ini.get("b", "shared"), None);
        assert_eq!(ini.get("a", "url"), None);
        assert_eq!(clean_value(" tcp://a:1;x "), "tcp://a:1;x");
    }
}
