//! What the benchmarks share: the contact mapping they sync and the process's memory
//! figures from `/proc/self/status`.

/// The mapping of the full-sync and AWS benchmarks: two identifiers, three attributes (one
/// through option-set labels) and a fixed one.
pub const CONTACT_MAPPING: &str = "method: entity
source:
  entity: contact
  fetch_mode: all
  fields: [contactid, emailaddress1, mobilephone, firstname, lastname, gendercode]
identifiers:
  - { type: email, field: emailaddress1 }
  - { type: phone_number, field: mobilephone }
attributes:
  - { key: name, field: firstname }
  - { key: surname, field: lastname }
  - { key: gender, field: gendercode, code_to_label: true }
fixed_attributes:
  - { key: custom.data_source, value: dynamics }";

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
