//! Owner tags of local run locks (`pid:<n>@<host>;boot=<id>;start=<ticks>`) and whether
//! the process behind one is gone. ARCHITECTURE.md section 8, "Local resume": a lock held
//! by a dead local process is stale at once, so `dynsync run` resumes that execution
//! instead of waiting for the lock to expire; [`TakeOver`] is what the resume decision
//! (`SqliteStateStore::take_over_execution`) found.

use std::path::Path;

/// What [`crate::SqliteStateStore::take_over_execution`] decided for a local run.
#[derive(Debug, Clone, PartialEq)]
pub enum TakeOver {
    /// No unfinished execution of the integration: start a new one.
    Nothing,
    /// Its process is gone and the run lock is now this caller's: resume it.
    Resume(dynsync_domain::execution::Execution),
    /// A live process holds the run lock (it runs the execution, or resumes it).
    Busy { execution_id: String, owner: String },
}

/// This process's owner tag: `pid:<pid>@<host>;boot=<boot id>;start=<start time>`, the
/// boot id from `/proc/sys/kernel/random/boot_id` and the start time field 22 of
/// `/proc/<pid>/stat` (clock ticks since boot). Where procfs is missing, `pid:<pid>@<host>`.
pub fn local_owner_tag() -> String {
    let pid = std::process::id();
    let mut tag = format!("pid:{pid}@{}", host_name());
    if let (Some(boot), Some(start)) = (boot_id(), start_time(pid)) {
        tag.push_str(&format!(";boot={boot};start={start}"));
    }
    tag
}

/// `true` only when `tag` is a local owner tag of this host whose process no longer runs:
/// the pid runs no process, or (tags that record them) this host has booted since (another
/// boot id: a reboot, or the same host name on another machine) or the pid now belongs to
/// a process that started at another time (a reused pid, also in a restarted container
/// where dynsync gets the same pid again). Anything it cannot judge (another host name, an
/// AWS request id, an unparsable tag) counts as alive: a live run is never taken over by
/// mistake. Tags of older versions (`pid:<n>@<host>`) are judged by the pid alone.
pub fn owner_is_gone(tag: &str) -> bool {
    let Some(owner) = Owner::parse(tag) else {
        return false;
    };
    if owner.host != host_name() {
        return false;
    }
    let (Some(boot), Some(start)) = (owner.boot, owner.start) else {
        // An old tag: the pid is all there is to go by.
        return owner.pid != std::process::id() && !process_is_running(owner.pid);
    };
    match boot_id() {
        Some(current) if current != boot => return true,
        Some(_) => {}
        // Without procfs nothing recorded can be checked; judge by the pid.
        None => return owner.pid != std::process::id() && !process_is_running(owner.pid),
    }
    match start_time(owner.pid) {
        Some(current) => current != start,
        None => !process_is_running(owner.pid),
    }
}

/// A parsed owner tag.
struct Owner<'a> {
    pid: u32,
    host: &'a str,
    boot: Option<&'a str>,
    start: Option<u64>,
}

impl<'a> Owner<'a> {
    fn parse(tag: &'a str) -> Option<Self> {
        let (pid, rest) = tag.strip_prefix("pid:")?.split_once('@')?;
        let mut parts = rest.split(';');
        let host = parts.next()?;
        let mut owner = Owner {
            pid: pid.parse().ok()?,
            host,
            boot: None,
            start: None,
        };
        for part in parts {
            match part.split_once('=') {
                Some(("boot", boot)) if !boot.is_empty() => owner.boot = Some(boot),
                Some(("start", start)) => owner.start = start.parse().ok(),
                // A field a later version adds is not a reason to judge differently.
                _ => {}
            }
        }
        Some(owner)
    }
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), shared by every container of the
/// machine and new at every boot.
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// When process `pid` started, in clock ticks since boot: field 22 of `/proc/<pid>/stat`.
/// `None` when no such process runs (or there is no procfs).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 2, the command name, is in parentheses and may itself hold spaces or ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: field 22 is the 20th.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn process_is_running(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if proc_root.join("self").exists() {
        return proc_root.join(pid.to_string()).exists();
    }
    // No procfs (macOS, BSD): ask `kill -0`, which checks without signalling. If even that
    // cannot run, assume the process lives.
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_or(true, |status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_never_gone() {
        let tag = local_owner_tag();
        assert!(
            tag.starts_with(&format!("pid:{}@", std::process::id())),
            "{tag}"
        );
        assert!(!owner_is_gone(&tag));
    }

    #[test]
    fn a_finished_child_process_of_this_host_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(owner_is_gone(&format!("pid:{pid}@{}", host_name())));
    }

    /// A tag as this version writes it, for a process of this host.
    fn tag(pid: u32, boot: &str, start: &str) -> String {
        format!("pid:{pid}@{};boot={boot};start={start}", host_name())
    }

    fn this_boot() -> String {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Field 22 of /proc/<pid>/stat, read independently of the code under test.
    fn start_of(pid: u32) -> String {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 1..];
        after_name.split_whitespace().nth(19).unwrap().to_owned()
    }

    #[test]
    fn the_tag_records_this_boot_and_this_process_start() {
        let tag = local_owner_tag();
        let pid = std::process::id();
        assert_eq!(tag, self::tag(pid, &this_boot(), &start_of(pid)));
        assert!(!owner_is_gone(&tag));
    }

    #[test]
    fn a_pid_now_used_by_another_process_is_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let real = start_of(pid);
        let earlier = real.parse::<u64>().unwrap().saturating_sub(1).to_string();
        let alive = owner_is_gone(&tag(pid, &this_boot(), &real));
        let reused = owner_is_gone(&tag(pid, &this_boot(), &earlier));
        let ours = owner_is_gone(&tag(std::process::id(), &this_boot(), "1"));
        child.kill().unwrap();
        child.wait().unwrap();
        let dead = owner_is_gone(&tag(pid, &this_boot(), &real));
        assert!(!alive, "the process with that pid and start time runs");
        assert!(reused, "the pid now belongs to a process started later");
        assert!(
            ours,
            "this pid, but an earlier process (a restarted container)"
        );
        assert!(dead, "the process ended");
    }

    #[test]
    fn a_tag_from_another_boot_of_this_host_is_gone() {
        let pid = std::process::id();
        let other_boot = "00000000-0000-4000-8000-000000000000";
        assert_ne!(other_boot, this_boot());
        assert!(owner_is_gone(&tag(pid, other_boot, &start_of(pid))));
        assert!(owner_is_gone(&tag(1, other_boot, &start_of(1))));
    }

    #[test]
    fn old_tags_without_boot_and_start_stay_readable() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let old = format!("pid:{pid}@{}", host_name());
        let alive = owner_is_gone(&old);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!alive);
        assert!(owner_is_gone(&old));
        assert!(!owner_is_gone(&format!(
            "pid:{}@{}",
            std::process::id(),
            host_name()
        )));
    }

    #[test]
    fn new_tags_of_other_hosts_count_as_alive() {
        let other =
            "pid:1@some-other-host.invalid;boot=00000000-0000-4000-8000-000000000000;start=1";
        assert!(!owner_is_gone(other));
        assert!(!owner_is_gone(&format!(
            "pid:1@{};boot=;start=",
            host_name()
        )));
    }

    #[test]
    fn tags_of_other_hosts_or_other_shapes_count_as_alive() {
        assert!(!owner_is_gone("pid:1@some-other-host.invalid"));
        assert!(!owner_is_gone("c0ffee-aws-request-id"));
        assert!(!owner_is_gone("pid:notanumber@localhost"));
    }
}
