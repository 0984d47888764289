//! What `/proc` tells about a running server (resident memory, open file
//! descriptors, CPU time), and this process's own limit on open files.

use std::thread;
use std::time::{Duration, Instant};

use crate::process::Rewind;

/// Raises this process's soft limit on open files to at least `want` (up to
/// the hard limit). Child processes started afterwards inherit it.
/// Returns the soft limit in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        if l.rlim_cur < want {
            l.rlim_cur = want.min(l.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &l), 0);
        }
        l.rlim_cur
    }
}

/// Memory figures of a process, in KiB, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    /// Resident memory, all of it (`VmRSS`).
    pub vm_rss: u64,
    /// Resident anonymous memory: the heap and stacks (`RssAnon`).
    pub rss_anon: u64,
    /// Resident file-backed memory, such as the mapped LMDB file (`RssFile`).
    pub rss_file: u64,
}

impl Rewind {
    /// Memory from /proc/PID/status.
    pub fn mem(&self) -> Mem {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        let field = |name: &str| -> u64 {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Mem {
            vm_rss: field("VmRSS:"),
            rss_anon: field("RssAnon:"),
            rss_file: field("RssFile:"),
        }
    }

    /// The CPU time the process has used so far, user and system
    /// (`/proc/PID/stat`, in clock ticks converted to a duration).
    pub fn cpu_time(&self) -> Duration {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("read /proc/PID/stat");
        // Fields after the command name, which ends with the last ')'.
        let rest = &text[text.rfind(')').expect("a stat line") + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }

    /// The number of open file descriptors of the process.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// Polls `/proc/PID/fd` until the count drops to `at_most` (or the
    /// deadline passes); returns the last count.
    pub fn fd_count_settled(&self, at_most: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let n = self.fd_count();
            if n <= at_most || Instant::now() >= deadline {
                return n;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}
