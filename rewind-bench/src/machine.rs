//! A description of the machine the benchmark runs on.

use std::fmt;

/// The host: processors, CPU model, kernel, and where the stores live.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Processors this process may use.
    pub nproc: usize,
    /// The CPU model, from `/proc/cpuinfo`.
    pub cpu: String,
    /// The kernel, from `/proc/sys/kernel/{ostype,osrelease}`.
    pub kernel: String,
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

impl Machine {
    /// Describes this machine (unknown parts say so).
    pub fn detect() -> Machine {
        let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
        let cpu = read_trimmed("/proc/cpuinfo")
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = match (
            read_trimmed("/proc/sys/kernel/ostype"),
            read_trimmed("/proc/sys/kernel/osrelease"),
        ) {
            (Some(t), Some(r)) => format!("{t} {r}"),
            (None, Some(r)) => r,
            _ => std::env::consts::OS.to_owned(),
        };
        Machine { nproc, cpu, kernel }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} CPUs ({}), {}, {}",
            self.nproc,
            self.cpu,
            self.kernel,
            std::env::consts::ARCH
        )
    }
}
