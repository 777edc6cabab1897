//! Process trees from `/proc`: who belongs to a service, and whether a process is still alive.

use std::collections::HashSet;
use std::fs;

/// One process as `/proc` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    /// Start time in clock ticks since boot: with `pid`, identifies the process even after pid reuse.
    pub start: u64,
    /// `R`, `S`, `D`, `T` (stopped), `Z` (zombie), ...
    pub state: char,
    /// `/proc/PID/cmdline` joined with spaces (the title a process may have set), or `[comm]` if empty.
    pub cmdline: String,
    pub rss_bytes: u64,
    /// `num_threads`.
    pub threads: u32,
}

/// A process's identity across time: pid plus start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcId {
    pub pid: i32,
    pub start: u64,
}

impl Proc {
    /// Identity of this process.
    pub fn id(&self) -> ProcId {
        ProcId {
            pid: self.pid,
            start: self.start,
        }
    }

    /// Whether `pattern` names this process: a substring of its title/command line.
    pub fn matches(&self, pattern: &str) -> bool {
        self.cmdline.contains(pattern)
    }
}

/// Read one process; `None` if it is gone (or was never there).
pub fn read(pid: i32) -> Option<Proc> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `comm` is in parentheses and may itself contain spaces and ')': split at the last ')'.
    let close = stat.rfind(')')?;
    let comm = stat.get(stat.find('(')? + 1..close)?.to_string();
    let rest: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // Fields after comm, 0-based: 0 state, 1 ppid, 2 pgrp, 17 num_threads, 19 starttime,
    // 21 rss (pages).
    let state = rest.first()?.chars().next()?;
    let ppid = rest.get(1)?.parse().ok()?;
    let pgid = rest.get(2)?.parse().ok()?;
    let threads = rest.get(17)?.parse().ok()?;
    let start = rest.get(19)?.parse().ok()?;
    let rss_pages: u64 = rest.get(21)?.parse().ok()?;
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = raw
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let cmdline = if cmdline.is_empty() {
        format!("[{comm}]")
    } else {
        cmdline
    };
    Some(Proc {
        pid,
        ppid,
        pgid,
        start,
        state,
        cmdline,
        rss_bytes: rss_pages * page_size(),
        threads,
    })
}

/// Proportional set size of `pid` in bytes (`Pss:` of `/proc/PID/smaps_rollup`, in kB there);
/// `None` where the kernel has no such file or the process is gone.
pub fn pss_bytes(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Pss:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Open file descriptors of `pid`; `None` when they cannot be listed (gone, not ours).
pub fn fd_count(pid: i32) -> Option<u32> {
    let dir = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(dir.count() as u32)
}

/// Every process on the machine.
pub fn all() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read)
        .collect()
}

/// The children of `parent` (their `/proc/PID/stat` read first, the rest only for them).
pub fn children(parent: i32) -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| ppid(*pid) == Some(parent))
        .filter_map(read)
        .collect()
}

/// The parent of `pid`, from `/proc/PID/stat` alone.
fn ppid(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The tree of a service: for each `(root, pgid)`, the descendants of `root` plus every
/// member of process group `pgid`; zombies left out (they hold nothing and vanish when reaped).
pub fn tree(roots: &[(i32, i32)]) -> Vec<Proc> {
    let procs = all();
    let mut members: HashSet<i32> = procs
        .iter()
        .filter(|p| roots.iter().any(|&(r, g)| p.pid == r || p.pgid == g))
        .map(|p| p.pid)
        .collect();
    // Close over parent links until nothing new joins (trees are shallow: a few passes).
    loop {
        let before = members.len();
        for p in &procs {
            if members.contains(&p.ppid) {
                members.insert(p.pid);
            }
        }
        if members.len() == before {
            break;
        }
    }
    procs
        .into_iter()
        .filter(|p| members.contains(&p.pid) && p.state != 'Z')
        .collect()
}

/// Whether the process `id` still exists and is not a zombie.
pub fn alive(id: ProcId) -> bool {
    read(id.pid).is_some_and(|p| p.start == id.start && p.state != 'Z')
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as u64 } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_itself() {
        let me = read(std::process::id() as i32).expect("own /proc entry");
        assert!(me.rss_bytes > 0);
        assert!(me.threads >= 1);
        assert!(fd_count(me.pid).is_some_and(|n| n >= 3));
        // smaps_rollup exists since Linux 4.14.
        assert!(pss_bytes(me.pid).is_some_and(|b| b > 0));
        assert!(alive(me.id()));
        assert!(!alive(ProcId {
            pid: me.pid,
            start: me.start + 1
        }));
        assert!(tree(&[(me.pid, -1)]).iter().any(|p| p.pid == me.pid));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep runs");
        let kids = children(me.pid);
        let _ = child.kill();
        let _ = child.wait();
        assert!(kids.iter().any(|p| p.pid == child.id() as i32), "{kids:?}");
    }
}
