//! What the benchmarks share: the contact mapping they sync and the process's memory
//! figures from `/proc/self/status`.

/// The mapping of the full-sync, AWS, page-memory and peer benchmarks (the peer's runner
/// reads the same file): two identifiers, three attributes (one through option-set labels)
/// and a fixed one.
pub const CONTACT_MAPPING: &str = include_str!("../fixtures/contact-mapping.yaml");

/// A `kB` line of `/proc/self/status` (`VmHWM`, `VmRSS`; 0 where there is none).
pub fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix(key)?
                    .strip_prefix(':')?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}
