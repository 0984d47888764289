//! Which `rewind` binary a test runs and how: its command line, working
//! directory and environment ([`Spawn`]); starting it on fresh ports again
//! and again ([`ServerSpec`]); and a run that ends by itself ([`Finished`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::endpoints::Endpoints;
use crate::process::{assert_no_panic, drain, wait_timeout, Rewind, EXIT_TIMEOUT, READY_TIMEOUT};

/// The `rewind` executable a test runs.
#[derive(Clone, Debug)]
pub struct Binary(PathBuf);

impl Binary {
    /// `REWIND_E2E_BIN` when set and not empty (to run a suite against
    /// another build, or another implementation of the same command line),
    /// else `built`: the test package's own binary, which its tests name
    /// with `env!("CARGO_BIN_EXE_rewind")`.
    pub fn from_env_or(built: impl Into<PathBuf>) -> Binary {
        match std::env::var_os("REWIND_E2E_BIN") {
            Some(p) if !p.is_empty() => Binary(PathBuf::from(p)),
            _ => Binary(built.into()),
        }
    }

    /// The executable at `path`.
    pub fn at(path: impl Into<PathBuf>) -> Binary {
        Binary(path.into())
    }

    /// Where the executable is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// How to launch the binary. By default: fresh endpoints passed as flags.
#[derive(Clone, Debug)]
pub struct Spawn {
    bin: Binary,
    config: Option<PathBuf>,
    args: Vec<OsString>,
    endpoints: Option<Endpoints>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
}

impl Spawn {
    /// Fresh endpoints (as flags), no store option yet.
    pub fn new(bin: Binary) -> Spawn {
        Spawn {
            endpoints: Some(Endpoints::fresh()),
            ..Spawn::bare(bin)
        }
    }

    /// Nothing at all on the command line (the embedded default).
    pub fn bare(bin: Binary) -> Spawn {
        Spawn {
            bin,
            config: None,
            args: Vec::new(),
            endpoints: None,
            cwd: None,
            env: Vec::new(),
        }
    }

    /// A durable LMDB store in `dir`, fresh endpoints.
    pub fn lmdb(bin: Binary, dir: &Path) -> Spawn {
        Spawn::new(bin).arg("--data-dir").arg(dir)
    }

    /// An in-memory store, fresh endpoints.
    pub fn in_memory(bin: Binary) -> Spawn {
        Spawn::new(bin).arg("--in-memory")
    }

    /// Pass CONFIGFILE as the positional argument.
    pub fn config(mut self, path: &Path) -> Spawn {
        self.config = Some(path.to_path_buf());
        self
    }

    /// Do not pass endpoint flags (the config file or the default provides them).
    pub fn without_endpoint_flags(mut self) -> Spawn {
        self.endpoints = None;
        self
    }

    /// Use these endpoints (as flags) instead of fresh ones.
    pub fn endpoints(mut self, e: Endpoints) -> Spawn {
        self.endpoints = Some(e);
        self
    }

    /// Pick fresh ports again (for a restart on the same store).
    pub fn refresh_ports(mut self) -> Spawn {
        if self.endpoints.is_some() {
            self.endpoints = Some(Endpoints::fresh());
        }
        self
    }

    /// One more command-line argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Spawn {
        self.args.push(a.into());
        self
    }

    /// Run in this working directory.
    pub fn cwd(mut self, dir: &Path) -> Spawn {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// One more environment variable for the child.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Spawn {
        self.env.push((key.into(), value.into()));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(self.bin.path());
        if let Some(c) = &self.config {
            cmd.arg(c);
        }
        if let Some(e) = &self.endpoints {
            cmd.args(e.flags());
        }
        cmd.args(&self.args);
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        cmd.env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Start the binary and wait until it reports `rewind is ready`.
    /// `endpoints` must be given for clients (they come from flags, or use
    /// [`Spawn::start_at`] when a config file names them).
    pub fn start(&self) -> Rewind {
        let e = self
            .endpoints
            .clone()
            .expect("Spawn::start needs endpoints; use start_at with a config file");
        self.start_at(e)
    }

    /// Start the binary; clients will connect to `endpoints`.
    pub fn start_at(&self, endpoints: Endpoints) -> Rewind {
        self.try_start_at(endpoints)
            .unwrap_or_else(|output| panic!("rewind exited before it was ready; output:\n{output}"))
    }

    /// Start the binary; `Err(output)` when it exits before it is ready.
    /// Panics when it neither becomes ready nor exits in time.
    pub fn try_start_at(&self, endpoints: Endpoints) -> Result<Rewind, String> {
        let child = self.command().spawn().expect("spawn the rewind binary");
        let (tx, rx) = mpsc::channel::<String>();
        let mut server = Rewind::capture(child, endpoints, Some(tx));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("rewind is ready") => return Ok(server),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    server.kill9();
                    panic!(
                        "rewind did not print `rewind is ready` within {READY_TIMEOUT:?}; output:\n{}",
                        server.output()
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.wait_timeout(EXIT_TIMEOUT);
                    thread::sleep(Duration::from_millis(50));
                    return Err(format!("(exit status {status:?})\n{}", server.output()));
                }
            }
        }
    }

    /// Start the binary without waiting for it to be ready (to kill it while
    /// it opens its store, for instance).
    pub fn spawn_unready(&self) -> Rewind {
        let child = self.command().spawn().expect("spawn the rewind binary");
        let endpoints = self
            .endpoints
            .clone()
            .expect("spawn_unready needs endpoints");
        Rewind::capture(child, endpoints, None)
    }

    /// Run the binary expecting it to exit by itself (a failure to start, or
    /// `--help`). Panics if it becomes ready or does not exit in time.
    pub fn run_to_exit(&self) -> Finished {
        let mut child = self.command().spawn().expect("spawn the rewind binary");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let h1 = drain(child.stderr.take().unwrap(), stderr.clone(), None);
        let h2 = drain(child.stdout.take().unwrap(), stdout.clone(), None);
        let status = match wait_timeout(&mut child, EXIT_TIMEOUT) {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "rewind did not exit within {EXIT_TIMEOUT:?}; it was expected to; stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        let _ = h1.join();
        let _ = h2.join();
        let stderr = stderr.lock().unwrap().clone();
        let stdout = stdout.lock().unwrap().clone();
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

/// A process that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Finished {
    /// Asserts a clean failure: non-zero exit status, no panic trace, and an
    /// error that fits on one line of stderr. Returns that line.
    pub fn assert_clean_failure(&self) -> String {
        assert!(
            !self.status.success() && self.status.code().is_some(),
            "expected a non-zero exit status, got {:?}; stderr:\n{}",
            self.status,
            self.stderr
        );
        assert_no_panic(&self.stderr);
        assert_no_panic(&self.stdout);
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected a one-line error on stderr, got {} lines:\n{}",
            lines.len(),
            self.stderr
        );
        lines[0].to_string()
    }

    /// Asserts a clean refusal to open a store: a non-zero exit code (not a
    /// signal), no panic, no `rewind is ready`, and exactly one line on
    /// stderr. Returns it.
    pub fn assert_refused(&self) -> String {
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("rewind is ready"),
            "the store must be refused before serving, without a panic; stderr:\n{}",
            self.stderr
        );
        self.assert_clean_failure()
    }
}

/// How to start a server again and again: a store and extra flags. Every
/// start picks fresh ports, so a restart on the same directory never meets
/// the old ones.
#[derive(Clone, Debug)]
pub struct ServerSpec(Spawn);

impl ServerSpec {
    /// A durable LMDB store in `dir`.
    pub fn lmdb(bin: Binary, dir: &Path) -> ServerSpec {
        ServerSpec(Spawn::lmdb(bin, dir))
    }

    /// An in-memory store.
    pub fn in_memory(bin: Binary) -> ServerSpec {
        ServerSpec(Spawn::in_memory(bin))
    }

    /// One more command-line argument.
    pub fn arg(self, a: impl Into<OsString>) -> ServerSpec {
        ServerSpec(self.0.arg(a))
    }

    /// One more environment variable for the server.
    pub fn env(self, key: impl Into<OsString>, value: impl Into<OsString>) -> ServerSpec {
        ServerSpec(self.0.env(key, value))
    }

    /// Starts the server on fresh ports and waits until it is ready. Retries
    /// with other ports when one was taken in the meantime.
    pub fn start(&self) -> Rewind {
        let mut last = String::new();
        for _ in 0..5 {
            let endpoints = Endpoints::fresh();
            let spawn = self.0.clone().endpoints(endpoints.clone());
            match spawn.try_start_at(endpoints) {
                Ok(s) => return s,
                Err(out) if out.contains("cannot bind endpoint") => last = out,
                Err(out) => panic!("rewind did not become ready; output:\n{out}"),
            }
        }
        panic!("rewind could not bind its endpoints in 5 tries; output:\n{last}")
    }

    /// Starts the server without waiting for readiness (for crash tests that
    /// kill it while it opens the store).
    pub fn spawn_unready(&self) -> Rewind {
        self.0.clone().refresh_ports().spawn_unready()
    }

    /// Runs the binary expecting it to exit by itself.
    pub fn run_to_exit(&self) -> Finished {
        self.0.clone().refresh_ports().run_to_exit()
    }
}
