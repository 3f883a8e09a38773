//! Child processes that never outlive the test process.
//!
//! A test binary that panics, or a server kept in a `static` (never dropped: Rust runs no
//! destructors of statics at exit), would leave its servers running. A [`Watchdog`] is a tiny
//! `sh` that waits on a pipe from this process and kills the guarded process id when the pipe
//! closes, which the kernel does when this process ends in any way (exit, panic, SIGKILL).
//! Dropping the watchdog disarms it.

use std::io;
use std::process::{Child, Command, Stdio};

/// Kills one process id when the test process goes away; disarmed when dropped.
#[derive(Debug)]
pub struct Watchdog {
    sh: Child,
}

impl Watchdog {
    /// Guards `pid`: it gets SIGKILL as soon as this process ends, unless the watchdog was
    /// dropped first.
    pub fn guard(pid: u32) -> io::Result<Self> {
        // `read` returns at end of file, i.e. once every write end of the pipe is closed. Rust
        // opens the pipe close-on-exec, so no other child inherits it and keeps it open.
        let sh = Command::new("sh")
            .arg("-c")
            .arg(r#"read _ignored; kill -KILL "$1" 2>/dev/null"#)
            .arg("informer-watchdog")
            .arg(pid.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Self { sh })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.sh.kill();
        let _ = self.sh.wait();
    }
}

/// A child process with its watchdog: killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Guarded {
    child: Child,
    _watchdog: Watchdog,
}

impl Guarded {
    /// Spawns `command` and guards it with a [`Watchdog`].
    pub fn spawn(command: &mut Command) -> io::Result<Self> {
        let mut child = command.spawn()?;
        match Watchdog::guard(child.id()) {
            Ok(watchdog) => Ok(Self { child, _watchdog: watchdog }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has ended.
    pub fn try_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(mut self) -> io::Result<()> {
        self.kill_in_place()
    }

    fn kill_in_place(&mut self) -> io::Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child.kill()?;
        }
        self.child.wait().map(drop)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.kill_in_place();
    }
}

/// User + system CPU seconds a running process has used (`/proc/PID/stat`), for benchmarks;
/// 0 if it cannot be read.
///
/// ```
/// let cpu = informer_tests::process::cpu_seconds(std::process::id());
/// assert!(cpu >= 0.0);
/// ```
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name; 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory (`VmHWM` of `/proc/PID/status`) of a running process in KiB, for
/// benchmarks; 0 if it cannot be read.
///
/// ```
/// assert!(informer_tests::process::peak_rss_kib(std::process::id()) > 0);
/// ```
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guarded_process_is_killed_on_drop() {
        let guarded = Guarded::spawn(Command::new("sleep").arg("60")).unwrap();
        let pid = guarded.id();
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        drop(guarded);
        // Reaped by the drop: the pid is gone (or reused by an unrelated, non-sleep process).
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(!cmdline.starts_with("sleep"), "the guarded sleep still runs");
    }

    #[test]
    fn the_watchdog_kills_its_process_when_its_pipe_closes() {
        let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
        let mut watchdog = Watchdog::guard(sleeper.id()).unwrap();
        // Closing our end of the pipe is what the kernel does when this process ends.
        drop(watchdog.sh.stdin.take());
        let status = sleeper.wait().unwrap();
        assert!(!status.success(), "the sleeper was killed, not finished: {status}");
        let _ = watchdog.sh.wait();
    }
}
