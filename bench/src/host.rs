//! Facts about the host and build that every benchmark result carries in its JSON header.

use std::process::Command;

/// Facts about the host and build that every result carries.
#[must_use]
pub fn host_info(command: &str) -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    serde_json::json!({
        "commit": commit,
        "host": read("/proc/sys/kernel/hostname"),
        "kernel": read("/proc/sys/kernel/osrelease"),
        "cpu": field("model name"),
        "cpu_mhz": field("cpu MHz"),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "clocksource": read("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
        "command": command,
    })
}
