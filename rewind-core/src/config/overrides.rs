//! The command line's options, defined once for every front end.
//!
//! [`FLAGS`] names and describes each option; the `rewind` binary builds its
//! parser from it and the Python command builds its `argparse` parser from
//! it, so both take the same options with the same help. Each front end
//! collects the options given into [`Overrides`] by name, and
//! [`Overrides::apply`] changes a [`Config`] the one way both share.

use crate::config::{parse_size, set_curve, split_endpoints, Config, StoreConfig};
use crate::lmdb::LmdbOptions;
use crate::postgres::PostgresOptions;
use crate::{Error, Result};

/// One command-line option (`--NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// The long name, without the leading `--`.
    pub name: &'static str,
    /// The placeholder of its value in help texts; `None` for a switch,
    /// which takes no value.
    pub value_name: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
}

/// Every option of the `rewind` command besides the configuration file, in
/// the order help texts list them.
pub const FLAGS: &[Flag] = &[
    Flag {
        name: "exit-codeword",
        value_name: Some("MSG"),
        help: "An incoming message that makes Rewind quit. Used for testing.",
    },
    Flag {
        name: "data-dir",
        value_name: Some("DIR"),
        help: "Serve the LMDB store in this directory.",
    },
    Flag {
        name: "postgres",
        value_name: Some("DSN"),
        help: "Serve the PostgreSQL database this connection string names (key=value pairs or a postgresql:// URL).",
    },
    Flag {
        name: "in-memory",
        value_name: None,
        help: "Keep events in memory only (lost when the server stops).",
    },
    Flag {
        name: "query-bind-endpoint",
        value_name: Some("EP"),
        help: "v1 query endpoint(s), comma-separated (REQ clients).",
    },
    Flag {
        name: "streaming-bind-endpoint",
        value_name: Some("EP"),
        help: "v1 streaming endpoint(s), comma-separated (PUB: id, previous id, data).",
    },
    Flag {
        name: "command-bind-endpoint",
        value_name: Some("EP"),
        help: "v2 command endpoint(s), comma-separated (DEALER clients).",
    },
    Flag {
        name: "publish-bind-endpoint",
        value_name: Some("EP"),
        help: "v2 publish endpoint(s), comma-separated (PUB: stream, id, data).",
    },
    Flag {
        name: "native-bind-endpoint",
        value_name: Some("EP"),
        help: "Native protocol endpoint(s), comma-separated (DEALER clients; docs/native-protocol.md).",
    },
    Flag {
        name: "zmq-nthreads",
        value_name: Some("N"),
        help: "ZeroMQ I/O threads.",
    },
    Flag {
        name: "max-message-size",
        value_name: Some("BYTES"),
        help: "The largest request accepted, in bytes (K, M, G suffixes allowed).",
    },
    Flag {
        name: "default-stream",
        value_name: Some("NAME"),
        help: "The stream the v1 protocol works on.",
    },
    Flag {
        name: "metrics-bind-address",
        value_name: Some("HOST:PORT"),
        help: "Serve Prometheus metrics over HTTP at http://HOST:PORT/metrics (off by default).",
    },
    Flag {
        name: "curve-secret-key",
        value_name: Some("Z85"),
        help: "Require ZeroMQ CURVE on every endpoint, with this server secret key (40 characters of Z85; see rewind-admin keygen).",
    },
    Flag {
        name: "curve-public-key",
        value_name: Some("Z85"),
        help: "The server's CURVE public key, checked against the secret key (optional).",
    },
    Flag {
        name: "curve-allowed-clients",
        value_name: Some("KEYS"),
        help: "The CURVE public keys (Z85) of the clients let in, comma-separated.",
    },
    Flag {
        name: "map-size-limit",
        value_name: Some("BYTES"),
        help: "The size the LMDB store may grow to (K, M, G, T suffixes allowed).",
    },
];

/// What the command line changes in a configuration: the options given,
/// by name. Options not given leave the configuration as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    given: Vec<(&'static Flag, Option<String>)>,
}

impl Overrides {
    /// No overrides.
    pub fn new() -> Overrides {
        Overrides::default()
    }

    /// Records option `name` (as in [`FLAGS`], without `--`) with its value;
    /// a switch takes `None`. Giving an option again replaces its value.
    ///
    /// Errors: [`Error::InvalidArgument`] for an unknown option, a switch
    /// given a value, or an option given none.
    pub fn set(&mut self, name: &str, value: Option<String>) -> Result<&mut Overrides> {
        let flag = FLAGS
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| Error::InvalidArgument(format!("unknown option --{name}")))?;
        match (flag.value_name, &value) {
            (None, Some(_)) => {
                return Err(Error::InvalidArgument(format!("--{name} takes no value")))
            }
            (Some(_), None) => {
                return Err(Error::InvalidArgument(format!("--{name} needs a value")))
            }
            _ => {}
        }
        self.given.retain(|(f, _)| f.name != name);
        self.given.push((flag, value));
        Ok(self)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.given
            .iter()
            .find(|(f, _)| f.name == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.given.iter().any(|(f, _)| f.name == name)
    }

    /// Changes `config` as the options say, then checks the result.
    /// Endpoints replace the configuration's (an empty value disables that
    /// kind); `--data-dir`, `--in-memory` and `--postgres` replace its store.
    ///
    /// Errors: [`Error::InvalidArgument`] for a value of the wrong type (a
    /// non-integer `--zmq-nthreads`, a bad size); [`Error::Config`] for
    /// more than one of `--data-dir`, `--in-memory` and `--postgres`, `--map-size-limit` for a store that
    /// is not LMDB, and options that leave no query, command or native
    /// endpoint.
    pub fn apply(&self, config: &mut Config) -> Result<()> {
        let stores: Vec<&str> = ["data-dir", "in-memory", "postgres"]
            .into_iter()
            .filter(|n| self.has(n))
            .collect();
        if stores.len() > 1 {
            return Err(Error::Config(format!(
                "--{} cannot be used together",
                stores.join(" and --")
            )));
        }
        let s = &mut config.server;
        for (name, target) in [
            ("query-bind-endpoint", &mut s.query_endpoints),
            ("streaming-bind-endpoint", &mut s.streaming_endpoints),
            ("command-bind-endpoint", &mut s.command_endpoints),
            ("publish-bind-endpoint", &mut s.publish_endpoints),
            ("native-bind-endpoint", &mut s.native_endpoints),
        ] {
            if let Some(v) = self.value(name) {
                *target = split_endpoints(v);
            }
        }
        if let Some(n) = self.value("zmq-nthreads") {
            s.zmq_io_threads = n.trim().parse().map_err(|_| {
                Error::InvalidArgument(format!("--zmq-nthreads must be an integer, not '{n}'"))
            })?;
        }
        let size = |name: &str, v: &str| {
            parse_size(v).ok_or_else(|| {
                Error::InvalidArgument(format!("--{name} must be a size in bytes, not '{v}'"))
            })
        };
        if let Some(v) = self.value("max-message-size") {
            s.max_message_size = size("max-message-size", v)?;
        }
        if let Some(v) = self.value("default-stream") {
            s.default_stream = v.as_bytes().to_vec();
        }
        if let Some(v) = self.value("metrics-bind-address") {
            s.metrics_address = (!v.trim().is_empty()).then(|| v.trim().to_string());
        }
        set_curve(
            s,
            self.value("curve-secret-key"),
            self.value("curve-public-key"),
            self.value("curve-allowed-clients"),
        );
        if let Some(v) = self.value("exit-codeword") {
            s.exit_codeword = (!v.is_empty()).then(|| v.as_bytes().to_vec());
        }
        if self.has("in-memory") {
            config.store = StoreConfig::InMemory;
        } else if let Some(dir) = self.value("data-dir") {
            config.store = StoreConfig::Lmdb(LmdbOptions::new(dir));
        } else if let Some(dsn) = self.value("postgres") {
            config.store = StoreConfig::Postgres(PostgresOptions::new(dsn));
        }
        if let Some(v) = self.value("map-size-limit") {
            let limit = size("map-size-limit", v)?;
            match &mut config.store {
                StoreConfig::Lmdb(o) => o.max_map_size = Some(limit),
                _ => {
                    return Err(Error::Config(
                        "--map-size-limit applies to an LMDB store only".into(),
                    ))
                }
            }
        }
        config.server.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn with(pairs: &[(&str, Option<&str>)]) -> Result<Config> {
        let mut o = Overrides::new();
        for (k, v) in pairs {
            o.set(k, v.map(String::from))?;
        }
        let mut c = Config::embedded_default();
        o.apply(&mut c)?;
        Ok(c)
    }

    #[test]
    fn no_overrides_keep_the_configuration() {
        assert_eq!(with(&[]).unwrap(), Config::embedded_default());
    }

    #[test]
    fn endpoints_are_replaced_and_an_empty_value_disables_them() {
        let c = with(&[
            (
                "query-bind-endpoint",
                Some("tcp://127.0.0.1:1, tcp://127.0.0.1:2"),
            ),
            ("streaming-bind-endpoint", Some("")),
        ])
        .unwrap();
        assert_eq!(
            c.server.query_endpoints,
            vec!["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]
        );
        assert!(c.server.streaming_endpoints.is_empty());
        assert_eq!(
            c.server.command_endpoints,
            Config::embedded_default().server.command_endpoints
        );
        assert_eq!(
            c.server.native_endpoints,
            vec![crate::server::DEFAULT_NATIVE_ENDPOINT]
        );
        let native = with(&[
            ("query-bind-endpoint", Some("")),
            ("command-bind-endpoint", Some("")),
            ("native-bind-endpoint", Some("tcp://127.0.0.1:7")),
        ])
        .unwrap();
        assert_eq!(native.server.native_endpoints, vec!["tcp://127.0.0.1:7"]);
        let err = with(&[
            ("query-bind-endpoint", Some("")),
            ("command-bind-endpoint", Some("")),
            ("native-bind-endpoint", Some("")),
        ])
        .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
    }

    #[test]
    fn store_options() {
        let c = with(&[("in-memory", None)]).unwrap();
        assert_eq!(c.store, StoreConfig::InMemory);
        let c = with(&[("data-dir", Some("/d")), ("map-size-limit", Some("1G"))]).unwrap();
        let StoreConfig::Lmdb(o) = c.store else {
            panic!("not LMDB")
        };
        assert_eq!(
            (o.path, o.max_map_size),
            (PathBuf::from("/d"), Some(1 << 30))
        );
        let err = with(&[("in-memory", None), ("map-size-limit", Some("1G"))]).unwrap_err();
        assert!(
            matches!(err, Error::Config(ref m) if m.contains("LMDB")),
            "{err}"
        );
        let err = with(&[("in-memory", None), ("data-dir", Some("/d"))]).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        let c = with(&[("postgres", Some("postgresql://db1/events"))]).unwrap();
        assert_eq!(
            c.store,
            StoreConfig::Postgres(PostgresOptions::new("postgresql://db1/events"))
        );
        let err = with(&[("postgres", Some("host=x")), ("data-dir", Some("/d"))]).unwrap_err();
        assert!(
            matches!(err, Error::Config(ref m) if m.contains("--postgres")),
            "{err}"
        );
        let err =
            with(&[("postgres", Some("host=x")), ("map-size-limit", Some("1G"))]).unwrap_err();
        assert!(
            matches!(err, Error::Config(ref m) if m.contains("LMDB")),
            "{err}"
        );
    }

    #[test]
    fn values_of_the_wrong_type() {
        for (k, v) in [
            ("zmq-nthreads", "three"),
            ("max-message-size", "big"),
            ("map-size-limit", "1X"),
        ] {
            let err = with(&[(k, Some(v))]).unwrap_err();
            assert!(
                matches!(err, Error::InvalidArgument(ref m) if m.contains(k)),
                "{k}: {err}"
            );
        }
        let err = with(&[("zmq-nthreads", Some("0"))]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }

    #[test]
    fn server_options() {
        let c = with(&[
            ("zmq-nthreads", Some("3")),
            ("max-message-size", Some("2M")),
            ("default-stream", Some("main")),
            ("exit-codeword", Some("EXIT")),
        ])
        .unwrap();
        assert_eq!(c.server.zmq_io_threads, 3);
        assert_eq!(c.server.max_message_size, 2 << 20);
        assert_eq!(c.server.default_stream, b"main");
        assert_eq!(c.server.exit_codeword.as_deref(), Some(&b"EXIT"[..]));
    }

    #[test]
    fn curve_options() {
        let server = crate::curve::generate_keypair().unwrap();
        let client = crate::curve::generate_keypair().unwrap();
        let c = with(&[
            ("curve-secret-key", Some(&server.secret)),
            ("curve-public-key", Some(&server.public)),
            (
                "curve-allowed-clients",
                Some(&format!("{},", client.public)),
            ),
        ])
        .unwrap();
        assert_eq!(c.server.curve_secret_key.as_ref(), Some(&server.secret));
        assert_eq!(c.server.curve_public_key.as_ref(), Some(&server.public));
        assert_eq!(c.server.curve_allowed_clients, vec![client.public.clone()]);
        let err = with(&[("curve-secret-key", Some(&server.secret))]).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        let err = with(&[
            ("curve-secret-key", Some(&server.secret)),
            ("curve-public-key", Some(&client.public)),
            ("curve-allowed-clients", Some(&client.public)),
        ])
        .unwrap_err();
        assert!(
            matches!(err, Error::Config(ref m) if m.contains("curve-public-key")),
            "{err}"
        );
    }

    #[test]
    fn unknown_options_and_misused_switches_are_refused() {
        let mut o = Overrides::new();
        assert!(o.set("no-such-flag", Some("x".into())).is_err());
        assert!(o.set("in-memory", Some("x".into())).is_err());
        assert!(o.set("data-dir", None).is_err());
        assert!(o.set("data-dir", Some("a".into())).is_ok());
        // The last value given wins.
        o.set("data-dir", Some("b".into())).unwrap();
        let mut c = Config::embedded_default();
        o.apply(&mut c).unwrap();
        assert_eq!(c.store, StoreConfig::Lmdb(LmdbOptions::new("b")));
    }

    #[test]
    fn every_flag_is_unique_and_documented() {
        let mut names: Vec<_> = FLAGS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FLAGS.len());
        assert!(FLAGS.iter().all(|f| f.help.ends_with('.')));
    }
}
