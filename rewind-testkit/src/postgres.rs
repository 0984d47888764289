//! A throwaway PostgreSQL cluster for tests: found (or installed with
//! `scripts/install-postgres.sh`), created with `initdb` in a temporary
//! directory, started with `pg_ctl` on a free loopback port and a unix
//! socket in that directory, and removed when the test binary ends. As
//! root, the cluster runs as the user `nobody` (PostgreSQL refuses to run
//! as root).
//!
//! [`Cluster::shared`] starts one cluster per test binary; tests that stop
//! and restart PostgreSQL start their own with [`Cluster::start`]. Test
//! clusters run with `fsync=off`; [`Cluster::start_with`] takes
//! [`ClusterOptions`] (a durable cluster for a benchmark, in a directory on
//! disk, and settings of its own). [`Cluster::replica_of`] makes a
//! streaming replica of a running cluster (`pg_basebackup -R`), which
//! [`Cluster::promote`] turns into a primary. A cluster that cannot be
//! started fails the test with the reason (never a silent skip). A watchdog
//! process removes the cluster if the test binary dies without cleaning up.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// A running PostgreSQL cluster of a test.
pub struct Cluster {
    /// The cluster's directory: `data/`, the socket, `log`.
    dir: PathBuf,
    /// The directory of `initdb`, `pg_ctl`, `pg_basebackup` and `postgres`.
    bin: PathBuf,
    port: u16,
    /// The user and group the server runs as, when not the caller's.
    run_as: Option<(u32, u32)>,
    /// The server's settings (`-c name=value` each) beyond the port and
    /// socket.
    settings: Vec<String>,
    next_db: AtomicUsize,
}

/// How a cluster is made and run.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Whether commits are synced to disk (`fsync=on`): for measurements.
    /// Off by default, as tests need no durability across a crash of the
    /// machine.
    pub durable: bool,
    /// The directory the cluster's own temporary directory goes in
    /// (default: the system's temporary directory). A durable cluster
    /// belongs on disk, not on tmpfs.
    pub parent: Option<PathBuf>,
    /// More server settings, `name=value` each (passed as `-c`; values
    /// without spaces or quotes).
    pub settings: Vec<String>,
}

static SHARED: OnceLock<Cluster> = OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(c) = SHARED.get() {
        c.remove();
    }
}

/// The directory holding `initdb` and `pg_ctl`: on the `PATH`, or where
/// Debian's `postgresql` package puts them (the highest version). A `pg_ctl`
/// on the `PATH` that is a link (Debian's wrappers in `/usr/local/bin`)
/// stands for the directory it points into, where `pg_basebackup` is too.
fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(d) = std::env::split_paths(&path).find(|d| has_tools(d)) {
            let real = std::fs::canonicalize(d.join("pg_ctl"))
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .filter(|r| has_tools(r));
            return Some(real.unwrap_or(d));
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_tools(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

/// The binaries, installing PostgreSQL with the repository's script when
/// they are missing.
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(d) = find_bin_dir() {
        return Ok(d);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-postgres.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "PostgreSQL is not installed and {} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    find_bin_dir().ok_or_else(|| {
        format!(
            "{} ran, but initdb and pg_ctl are still not found",
            script.display()
        )
    })
}

/// The user and group of `nobody`, when running as root.
fn unprivileged_user() -> Result<Option<(u32, u32)>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new("nobody").expect("no NUL");
    // SAFETY: a valid C string; the result is read before any other call
    // to the getpw* family on this thread.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err("running as root, and there is no user 'nobody' to run PostgreSQL as".into());
    }
    // SAFETY: non-null, pointing at getpwnam's static record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some((uid, gid)))
}

/// A loopback port nothing listens on now.
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

impl Cluster {
    /// The cluster of this test binary, started on first use and removed
    /// when the binary exits. Panics with the reason when PostgreSQL
    /// cannot be started.
    pub fn shared() -> &'static Cluster {
        SHARED.get_or_init(|| {
            let c = Cluster::start().unwrap_or_else(|e| {
                panic!("the tests of the PostgreSQL backend need PostgreSQL: {e}")
            });
            // SAFETY: registers a plain function without arguments.
            unsafe { libc::atexit(stop_shared) };
            c
        })
    }

    /// Creates and starts a new cluster of its own, for tests (`fsync=off`).
    pub fn start() -> Result<Cluster, String> {
        Cluster::start_with(&ClusterOptions::default())
    }

    /// A new directory for a cluster, owned by the user it runs as, and
    /// the cluster in it (not created yet).
    fn prepare(options: &ClusterOptions) -> Result<Cluster, String> {
        let bin = bin_dir()?;
        let run_as = unprivileged_user()?;
        let mut builder = tempfile::Builder::new();
        builder.prefix("rewind-pg-");
        let dir = match &options.parent {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?
        .keep();
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("cannot give {} to nobody: {e}", dir.display()))?;
        }
        let mut settings = vec![
            "listen_addresses=127.0.0.1".to_string(),
            format!("fsync={}", if options.durable { "on" } else { "off" }),
            "max_connections=300".to_string(),
        ];
        settings.extend(options.settings.iter().cloned());
        let cluster = Cluster {
            dir,
            bin,
            port: free_port()?,
            run_as,
            settings,
            next_db: AtomicUsize::new(0),
        };
        cluster.watch();
        Ok(cluster)
    }

    /// Creates and starts a new cluster of its own, as `options` say.
    pub fn start_with(options: &ClusterOptions) -> Result<Cluster, String> {
        let cluster = Cluster::prepare(options)?;
        let data = cluster.data_dir();
        let mut initdb = vec![
            "-D",
            data.to_str().expect("UTF-8 path"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ];
        if !options.durable {
            initdb.push("--no-sync");
        }
        cluster.run("initdb", &initdb)?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// A streaming replica of `primary`, started: a copy of its data made
    /// with `pg_basebackup -R` (which writes the connection to the primary
    /// into the copy and marks it a standby), running on a port of its own
    /// with `cluster_name` set to `name`, the name the primary's
    /// `synchronous_standby_names` knows it by. `options.settings` come
    /// after the primary's (a later `-c` wins).
    pub fn replica_of(
        primary: &Cluster,
        name: &str,
        options: &ClusterOptions,
    ) -> Result<Cluster, String> {
        let mut cluster = Cluster::prepare(options)?;
        let mut settings = primary.settings.clone();
        settings.push(format!("cluster_name={name}"));
        settings.extend(options.settings.iter().cloned());
        cluster.settings = settings;
        let data = cluster.data_dir();
        let port = primary.port.to_string();
        cluster.run(
            "pg_basebackup",
            &[
                "-D",
                data.to_str().expect("UTF-8 path"),
                "-h",
                primary.dir.to_str().expect("UTF-8 path"),
                "-p",
                &port,
                "-U",
                "postgres",
                "-X",
                "stream",
                "-R",
                "--checkpoint=fast",
            ],
        )?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// Turns a replica into a primary (`pg_ctl promote`), waiting until it
    /// accepts writes.
    pub fn promote(&self) -> Result<(), String> {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &["-D", data.to_str().expect("UTF-8 path"), "-w", "promote"],
        )
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs one of PostgreSQL's programs as the cluster's user.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        Err(format!(
            "{program} {args:?} failed ({}): {}{}\nserver log (last lines, newest first):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail.join("\n")
        ))
    }

    /// Starts the server (again) on the cluster's port and socket.
    pub fn start_server(&self) -> Result<(), String> {
        let mut opts = format!("-p {} -k {}", self.port, self.dir.display());
        for s in &self.settings {
            opts.push_str(" -c ");
            opts.push_str(s);
        }
        let data = self.data_dir();
        let log = self.dir.join("log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("UTF-8 path"),
                "-l",
                log.to_str().expect("UTF-8 path"),
                "-w",
                "-t",
                "60",
                "-o",
                &opts,
                "start",
            ],
        )
    }

    /// Stops the server at once, as a crash would (`-m immediate`): every
    /// connection breaks.
    pub fn stop_server(&self) -> Result<(), String> {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("UTF-8 path"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
    }

    /// Stops the server at once and starts it again.
    pub fn restart_server(&self) -> Result<(), String> {
        self.stop_server()?;
        self.start_server()
    }

    /// The directory of the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The server's loopback TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A key-value connection string to database `db` over the unix socket.
    pub fn dsn(&self, db: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={db}",
            self.dir.display(),
            self.port
        )
    }

    /// A URL to database `db` over TCP on the loopback.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database and returns its name.
    pub fn new_database(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("rewind_test_{n}");
        let mut client = postgres::Client::connect(&self.dsn("postgres"), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to the test cluster: {e:?}"));
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("create database {name}: {e:?}"));
        name
    }

    /// A connection of its own to database `db` (for looking at the tables
    /// or changing them behind Rewind's back).
    pub fn connect(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.dsn(db), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {db}: {e:?}"))
    }

    /// Starts a process that removes the cluster once this process is gone,
    /// however it ended.
    fn watch(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             pidfile='{dir}/data/postmaster.pid'; \
             if [ -f \"$pidfile\" ]; then p=$(head -n1 \"$pidfile\"); kill -QUIT \"$p\" 2>/dev/null; \
             while kill -0 \"$p\" 2>/dev/null; do sleep 0.2; done; fi; \
             rm -rf '{dir}'",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// Stops the server and removes the directory.
    fn remove(&self) {
        if self.data_dir().join("postmaster.pid").exists() {
            let _ = self.stop_server();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.remove();
    }
}
