//! The configuration: the original Rewind's INI file, the embedded
//! default, and the command line's overrides.
//!
//! [`Ini`] reads the INI dialect of Python's `configparser`. The Python
//! package hands its `ConfigParser`'s sections to [`Ini::from_sections`], so
//! both front ends share [`Config::from_ini`], the one interpretation of the
//! options, and [`Overrides`], the one interpretation of the command line.
//! [`crate::service`] turns a [`Config`] into a running server.

use std::path::{Path, PathBuf};

use crate::lmdb::LmdbOptions;
use crate::postgres::PostgresOptions;
use crate::server::ServerOptions;
use crate::{Error, Result};

mod ini;
mod overrides;
pub use ini::Ini;
pub use overrides::{Flag, Overrides, FLAGS};

/// The section that holds the server's options.
pub const DEFAULT_SECTION: &str = "general";

/// Options of `[general]` this crate understands.
const GENERAL_KEYS: &[&str] = &[
    "query-bind-endpoint",
    "streaming-bind-endpoint",
    "command-bind-endpoint",
    "publish-bind-endpoint",
    "native-bind-endpoint",
    "zmq-nthreads",
    "storage-backend",
    "default-stream",
    "max-message-size",
    "metrics-bind-address",
    "curve-secret-key",
    "curve-public-key",
    "curve-allowed-clients",
];

/// The store a configuration asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `InMemoryEventStore`, or no `storage-backend` at all.
    InMemory,
    /// `LMDBEventStore` with its `path`.
    Lmdb(LmdbOptions),
    /// `PostgresEventStore` with its `dsn`.
    Postgres(PostgresOptions),
    /// Any other class: the Python package can serve it, the binary cannot.
    Class {
        /// The `class` option, as written.
        class: String,
        /// The section that configures the store.
        section: String,
    },
}

impl StoreConfig {
    /// The store in words, for the ready line and logs.
    pub fn describe(&self) -> String {
        match self {
            StoreConfig::InMemory => "an in-memory store".into(),
            StoreConfig::Lmdb(o) => format!("the LMDB store in {}", o.path.display()),
            StoreConfig::Postgres(o) => o.describe(),
            StoreConfig::Class { class, section } => format!("{class} (section [{section}])"),
        }
    }
}

/// The data directory of the embedded default, relative to the current one.
pub const DEFAULT_DATA_DIR: &str = "rewind-data";

/// The store section of the embedded default, as
/// [`embedded_default_sections`] writes it.
pub const EMBEDDED_STORE_SECTION: &str = "rewind-command-line-store";

/// The embedded default as the sections of a configuration file: both
/// protocols on their default loopback endpoints and an LMDB store in
/// [`DEFAULT_DATA_DIR`]. Front ends that take a configuration file start
/// from these when given none; [`Config::embedded_default`] interprets them.
pub fn embedded_default_sections() -> Vec<(String, Vec<(String, String)>)> {
    use crate::server::{
        DEFAULT_COMMAND_ENDPOINT, DEFAULT_NATIVE_ENDPOINT, DEFAULT_PUBLISH_ENDPOINT,
        DEFAULT_QUERY_ENDPOINT, DEFAULT_STREAMING_ENDPOINT,
    };
    let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
    vec![
        (
            DEFAULT_SECTION.to_string(),
            vec![
                kv("query-bind-endpoint", DEFAULT_QUERY_ENDPOINT),
                kv("streaming-bind-endpoint", DEFAULT_STREAMING_ENDPOINT),
                kv("command-bind-endpoint", DEFAULT_COMMAND_ENDPOINT),
                kv("publish-bind-endpoint", DEFAULT_PUBLISH_ENDPOINT),
                kv("native-bind-endpoint", DEFAULT_NATIVE_ENDPOINT),
                kv("storage-backend", EMBEDDED_STORE_SECTION),
            ],
        ),
        (
            EMBEDDED_STORE_SECTION.to_string(),
            vec![
                kv("class", "rewind.server.eventstores.LMDBEventStore"),
                kv("path", DEFAULT_DATA_DIR),
            ],
        ),
    ]
}

/// A complete configuration: the server's options and its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Endpoints and limits.
    pub server: ServerOptions,
    /// The store to serve.
    pub store: StoreConfig,
}

/// Splits a comma-separated endpoint list.
pub fn split_endpoints(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Parses a size in bytes, with an optional K, M, G or T suffix (powers of 1024).
pub fn parse_size(v: &str) -> Option<usize> {
    let v = v.trim();
    let (num, shift) = match v.char_indices().last()? {
        (i, 'k' | 'K') => (&v[..i], 10),
        (i, 'm' | 'M') => (&v[..i], 20),
        (i, 'g' | 'G') => (&v[..i], 30),
        (i, 't' | 'T') => (&v[..i], 40),
        _ => (v, 0),
    };
    num.trim()
        .parse::<usize>()
        .ok()?
        .checked_mul(1usize << shift)
}

fn class_name(class: &str) -> &str {
    class.rsplit('.').next().unwrap_or(class)
}

impl Config {
    /// The configuration of `rewind` run without a configuration file.
    pub fn embedded_default() -> Config {
        let ini = Ini::from_sections(embedded_default_sections())
            .expect("the embedded default is well-formed");
        Config::from_ini(&ini).expect("the embedded default is valid")
    }

    /// The configuration in the INI file at `path`, or the embedded
    /// default when there is none.
    ///
    /// Errors: [`Error::Config`] when the file cannot be read or is not
    /// well-formed, and as [`Config::from_ini`].
    pub fn load(path: Option<&Path>) -> Result<Config> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
                Config::from_ini(&Ini::parse(&text)?)
            }
            None => Ok(Config::embedded_default()),
        }
    }

    /// Interprets a configuration, in the order the original checked it.
    ///
    /// Errors: [`Error::Config`] for a missing `[general]`, a missing query
    /// (or command) endpoint, a missing or malformed store section;
    /// [`Error::InvalidArgument`] for an option value of the wrong type (a
    /// non-integer `zmq-nthreads`, a bad size). Unknown options are logged
    /// as warnings and otherwise ignored.
    pub fn from_ini(ini: &Ini) -> Result<Config> {
        let g = DEFAULT_SECTION;
        if !ini.has_section(g) {
            return Err(Error::Config(format!("Missing default section, `{g}`.")));
        }
        let query = ini.get(g, "query-bind-endpoint");
        let command = ini.get(g, "command-bind-endpoint");
        let native = ini.get(g, "native-bind-endpoint");
        if query.is_none() && command.is_none() && native.is_none() {
            return Err(Error::Config(format!(
                "Missing (query) bind endpoint in option file: {g}:query-bind-endpoint"
            )));
        }
        for key in ini.keys(g) {
            if !GENERAL_KEYS.contains(&key) {
                log::warn!("unknown option {g}:{key} ignored");
            }
        }
        let store = match ini.get(g, "storage-backend") {
            None => StoreConfig::InMemory,
            Some(section) => store_config(ini, section)?,
        };
        let mut server = ServerOptions {
            query_endpoints: split_endpoints(query.unwrap_or("")),
            streaming_endpoints: split_endpoints(
                ini.get(g, "streaming-bind-endpoint").unwrap_or(""),
            ),
            command_endpoints: split_endpoints(command.unwrap_or("")),
            publish_endpoints: split_endpoints(ini.get(g, "publish-bind-endpoint").unwrap_or("")),
            native_endpoints: split_endpoints(native.unwrap_or("")),
            ..ServerOptions::default()
        };
        if server.query_endpoints.is_empty()
            && server.command_endpoints.is_empty()
            && server.native_endpoints.is_empty()
        {
            return Err(Error::Config(format!(
                "Missing (query) bind endpoint in option file: {g}:query-bind-endpoint"
            )));
        }
        if let Some(n) = ini.get(g, "zmq-nthreads") {
            server.zmq_io_threads = n.parse().map_err(|_| {
                Error::InvalidArgument(format!("{g}:zmq-nthreads must be an integer, not '{n}'"))
            })?;
        }
        if let Some(s) = ini.get(g, "default-stream") {
            server.default_stream = s.as_bytes().to_vec();
        }
        if let Some(a) = ini.get(g, "metrics-bind-address") {
            server.metrics_address = (!a.trim().is_empty()).then(|| a.trim().to_string());
        }
        if let Some(s) = ini.get(g, "max-message-size") {
            server.max_message_size = parse_size(s).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{g}:max-message-size must be a size in bytes, not '{s}'"
                ))
            })?;
        }
        set_curve(
            &mut server,
            ini.get(g, "curve-secret-key"),
            ini.get(g, "curve-public-key"),
            ini.get(g, "curve-allowed-clients"),
        );
        server.validate()?;
        Ok(Config { server, store })
    }
}

/// Sets the CURVE options given (as in `[general]` or on the command line)
/// in `server`: an empty value unsets a key; the allow-list is
/// comma-separated. The keys are checked by [`ServerOptions::validate`].
/// The one reading of these options for the configuration file, the
/// command line and the C ABI's setters.
pub fn set_curve(
    server: &mut ServerOptions,
    secret: Option<&str>,
    public: Option<&str>,
    allowed: Option<&str>,
) {
    let key = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
    if let Some(v) = secret {
        server.curve_secret_key = key(v);
    }
    if let Some(v) = public {
        server.curve_public_key = key(v);
    }
    if let Some(v) = allowed {
        server.curve_allowed_clients = split_endpoints(v);
    }
}

/// Interprets the section of an `LMDBEventStore`: `path` (required),
/// `initial-map-size` and `map-size-limit` (sizes with K, M, G, T
/// suffixes). Unknown options are logged as warnings and ignored. The one
/// reader of such a section, for the binary and the Python package alike.
///
/// Errors: [`Error::Config`] for a missing section or `path`;
/// [`Error::InvalidArgument`] for a malformed size.
pub fn lmdb_section(ini: &Ini, section: &str) -> Result<LmdbOptions> {
    if !ini.has_section(section) {
        return Err(Error::Config(format!("section '{section}' does not exist")));
    }
    let path = ini.get(section, "path").ok_or_else(|| {
        Error::Config(format!(
            "Missing option 'path' in section '{section}' (LMDBEventStore)"
        ))
    })?;
    let mut o = LmdbOptions::new(PathBuf::from(path));
    let size = |key: &str| -> Result<Option<usize>> {
        ini.get(section, key)
            .map(|v| {
                parse_size(v).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "{section}:{key} must be a size in bytes, not '{v}'"
                    ))
                })
            })
            .transpose()
    };
    if let Some(s) = size("initial-map-size")? {
        o.initial_map_size = s;
    }
    o.max_map_size = size("map-size-limit")?;
    for key in ini.keys(section) {
        if !["class", "path", "initial-map-size", "map-size-limit"].contains(&key) {
            log::warn!("unknown option {section}:{key} ignored");
        }
    }
    Ok(o)
}

/// Interprets the section of a `PostgresEventStore`: `dsn` (required), the
/// connection string in libpq's key-value form or as a URL, and
/// `max-idle-connections` (an integer). Unknown options are logged as
/// warnings and ignored.
///
/// Errors: [`Error::Config`] for a missing section or `dsn`;
/// [`Error::InvalidArgument`] for a malformed number.
pub fn postgres_section(ini: &Ini, section: &str) -> Result<PostgresOptions> {
    if !ini.has_section(section) {
        return Err(Error::Config(format!("section '{section}' does not exist")));
    }
    let dsn = ini.get(section, "dsn").ok_or_else(|| {
        Error::Config(format!(
            "Missing option 'dsn' in section '{section}' (PostgresEventStore)"
        ))
    })?;
    let mut o = PostgresOptions::new(dsn.trim());
    if let Some(v) = ini.get(section, "max-idle-connections") {
        o.max_idle_connections = v.trim().parse().map_err(|_| {
            Error::InvalidArgument(format!(
                "{section}:max-idle-connections must be an integer, not '{v}'"
            ))
        })?;
    }
    for key in ini.keys(section) {
        if !["class", "dsn", "max-idle-connections"].contains(&key) {
            log::warn!("unknown option {section}:{key} ignored");
        }
    }
    Ok(o)
}

fn store_config(ini: &Ini, section: &str) -> Result<StoreConfig> {
    if !ini.has_section(section) {
        return Err(Error::Config(format!(
            "storage-backend names section '{section}', which does not exist"
        )));
    }
    let class = ini
        .get(section, "class")
        .ok_or_else(|| Error::Config(format!("Missing option 'class' in section '{section}'")))?;
    match class_name(class) {
        "LMDBEventStore" => lmdb_section(ini, section).map(StoreConfig::Lmdb),
        "PostgresEventStore" => postgres_section(ini, section).map(StoreConfig::Postgres),
        "InMemoryEventStore" => Ok(StoreConfig::InMemory),
        _ => Ok(StoreConfig::Class {
            class: class.to_string(),
            section: section.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = "\
[general]
query-bind-endpoint=tcp://127.0.0.1:9090
streaming-bind-endpoint=tcp://127.0.0.1:9091
zmq-nthreads=3
storage-backend=mystore          ; optional: without it, events live in memory

[mystore]
class=rewind.server.eventstores.SQLiteEventStore
path=/srv/rewind/db.sqlite
";

    #[test]
    fn the_original_example_parses() {
        let c = Config::from_ini(&Ini::parse(ORIGINAL).unwrap()).unwrap();
        assert_eq!(c.server.query_endpoints, vec!["tcp://127.0.0.1:9090"]);
        assert_eq!(c.server.streaming_endpoints, vec!["tcp://127.0.0.1:9091"]);
        assert!(c.server.command_endpoints.is_empty());
        assert_eq!(c.server.zmq_io_threads, 3);
        assert_eq!(
            c.store,
            StoreConfig::Class {
                class: "rewind.server.eventstores.SQLiteEventStore".into(),
                section: "mystore".into()
            }
        );
    }

    #[test]
    fn lmdb_store_and_v2_endpoints() {
        let text = "[general]\ncommand-bind-endpoint = tcp://127.0.0.1:1, tcp://127.0.0.1:2\n\
                    storage-backend: s\n[s]\nclass = LMDBEventStore\npath = /tmp/x\nmap-size-limit = 1G\n";
        let c = Config::from_ini(&Ini::parse(text).unwrap()).unwrap();
        assert_eq!(c.server.command_endpoints.len(), 2);
        assert!(c.server.query_endpoints.is_empty());
        let StoreConfig::Lmdb(o) = c.store else {
            panic!("not lmdb")
        };
        assert_eq!(
            (o.path, o.max_map_size),
            (PathBuf::from("/tmp/x"), Some(1 << 30))
        );
    }

    #[test]
    fn a_postgres_store() {
        let text = "[general]\nquery-bind-endpoint = tcp://127.0.0.1:1\nstorage-backend = pg\n\
                    [pg]\nclass = rewind.server.eventstores.PostgresEventStore\n\
                    dsn = host=db1 dbname=events password=secret\nmax-idle-connections = 2\n";
        let c = Config::from_ini(&Ini::parse(text).unwrap()).unwrap();
        let StoreConfig::Postgres(o) = &c.store else {
            panic!("not postgres: {:?}", c.store)
        };
        assert_eq!(o.dsn, "host=db1 dbname=events password=secret");
        assert_eq!(o.max_idle_connections, 2);
        let shown = c.store.describe();
        assert!(
            shown.contains("events") && !shown.contains("secret"),
            "{shown}"
        );
        let err = |t: &str| Config::from_ini(&Ini::parse(t).unwrap()).unwrap_err();
        let no_dsn = "[general]\nquery-bind-endpoint=tcp://x:1\nstorage-backend=s\n\
                      [s]\nclass=PostgresEventStore\n";
        assert!(matches!(err(no_dsn), Error::Config(m) if m.contains("dsn")));
        let bad = format!("{no_dsn}dsn=host=x\nmax-idle-connections=many\n");
        assert!(matches!(err(&bad), Error::InvalidArgument(m) if m.contains("max-idle")));
    }

    #[test]
    fn configuration_errors() {
        let err = |t: &str| Config::from_ini(&Ini::parse(t).unwrap()).unwrap_err();
        assert!(matches!(err("[other]\na=b\n"), Error::Config(m) if m.contains("general")));
        assert!(
            matches!(err("[general]\nstreaming-bind-endpoint=tcp://x:1\n"), Error::Config(m) if m.contains("query-bind-endpoint"))
        );
        assert!(matches!(
            err("[general]\nquery-bind-endpoint=tcp://x:1\nstorage-backend=nope\n"),
            Error::Config(_)
        ));
        assert!(
            matches!(err("[general]\nquery-bind-endpoint=tcp://x:1\nstorage-backend=s\n[s]\npath=x\n"), Error::Config(m) if m.contains("class"))
        );
        assert!(
            matches!(err("[general]\nquery-bind-endpoint=tcp://x:1\nstorage-backend=s\n[s]\nclass=LMDBEventStore\n"), Error::Config(m) if m.contains("path"))
        );
        let native_only = Config::from_ini(
            &Ini::parse("[general]\nnative-bind-endpoint=tcp://x:1, tcp://x:2\n").unwrap(),
        )
        .unwrap();
        assert_eq!(
            native_only.server.native_endpoints,
            vec!["tcp://x:1", "tcp://x:2"]
        );
        assert!(native_only.server.query_endpoints.is_empty());
        let v1_only =
            Config::from_ini(&Ini::parse("[general]\nquery-bind-endpoint=tcp://x:1\n").unwrap())
                .unwrap();
        assert!(
            v1_only.server.native_endpoints.is_empty(),
            "a file without the option binds no native endpoint"
        );
        assert!(matches!(
            err("[general]\nquery-bind-endpoint=tcp://x:1\nzmq-nthreads=three\n"),
            Error::InvalidArgument(_)
        ));
        assert!(Ini::parse("key=value\n").is_err());
        assert!(Ini::parse("[a]\nnovalue\n").is_err());
        assert!(Ini::parse("[a]\nk=1\nK=2\n").is_err());
    }

    #[test]
    fn the_embedded_default_serves_lmdb_on_the_default_endpoints() {
        let c = Config::embedded_default();
        assert_eq!(
            c.server,
            ServerOptions {
                native_endpoints: vec![crate::server::DEFAULT_NATIVE_ENDPOINT.into()],
                ..ServerOptions::default()
            }
        );
        assert_eq!(
            c.store,
            StoreConfig::Lmdb(LmdbOptions::new(DEFAULT_DATA_DIR))
        );
    }

    #[test]
    fn curve_keys_in_general() {
        let server = crate::curve::generate_keypair().unwrap();
        let a = crate::curve::generate_keypair().unwrap();
        let b = crate::curve::generate_keypair().unwrap();
        let text = format!(
            "[general]\nquery-bind-endpoint=tcp://x:1\ncurve-secret-key = {}\n\
             curve-public-key={}\ncurve-allowed-clients = {}, {}\n",
            server.secret, server.public, a.public, b.public
        );
        let c = Config::from_ini(&Ini::parse(&text).unwrap()).unwrap();
        assert_eq!(c.server.curve_secret_key, Some(server.secret.clone()));
        assert_eq!(c.server.curve_public_key, Some(server.public));
        assert_eq!(c.server.curve_allowed_clients, vec![a.public, b.public]);
        let err = |t: &str| Config::from_ini(&Ini::parse(t).unwrap()).unwrap_err();
        let e = err(&format!(
            "[general]\nquery-bind-endpoint=tcp://x:1\ncurve-secret-key={}\n",
            server.secret
        ));
        assert!(
            matches!(e, Error::Config(ref m) if m.contains("curve-allowed-clients")),
            "{e}"
        );
        let e = err("[general]\nquery-bind-endpoint=tcp://x:1\ncurve-allowed-clients=abc\n");
        assert!(
            matches!(e, Error::Config(ref m) if m.contains("need curve-secret-key")),
            "{e}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("16M"), Some(16 << 20));
        assert_eq!(parse_size("2k"), Some(2048));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }
}
