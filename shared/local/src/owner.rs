//! Owner tags of local run locks (`pid:<n>@<host>`) and whether the process behind one is
//! gone. ARCHITECTURE.md section 8, "Local resume": a lock held by a dead local process is
//! stale at once, so `dynsync run` resumes that execution instead of waiting for the lock
//! to expire.

use std::path::Path;

/// This process's owner tag.
pub fn local_owner_tag() -> String {
    format!("pid:{}@{}", std::process::id(), host_name())
}

/// `true` only when `tag` is a local owner tag of this host whose process no longer runs.
/// Anything it cannot judge (another host, an AWS request id, an unparsable tag) counts as
/// alive: a live run is never taken over by mistake.
pub fn owner_is_gone(tag: &str) -> bool {
    let Some((pid, host)) = parse_tag(tag) else {
        return false;
    };
    if host != host_name() || pid == std::process::id() {
        return false;
    }
    !process_is_running(pid)
}

fn parse_tag(tag: &str) -> Option<(u32, &str)> {
    let (pid, host) = tag.strip_prefix("pid:")?.split_once('@')?;
    Some((pid.parse().ok()?, host))
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

    #[test]
    fn tags_of_other_hosts_or_other_shapes_count_as_alive() {
        assert!(!owner_is_gone("pid:1@some-other-host.invalid"));
        assert!(!owner_is_gone("c0ffee-aws-request-id"));
        assert!(!owner_is_gone("pid:notanumber@localhost"));
    }
}
