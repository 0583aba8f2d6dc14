//! The time-stamp counter: raw reads (`rdtsc`, `rdtscp`) and the invariant-TSC check.
//!
//! Owns no state. [`read`] is called from every thread that timestamps, the hot loop first of all;
//! it must never be used across cores without an invariant TSC (then [`super::Clock`] falls back to
//! `clock_gettime`). Detection ([`TscSupport::detect`]) reads CPUID and `/proc/cpuinfo` once, at
//! start-up, never on the hot path.
//!
//! Invariant TSC = CPUID leaf `0x8000_0007` EDX bit 8: the counter runs at a fixed rate in every
//! P-, C- and T-state. Linux reports it as the `constant_tsc` (fixed rate) and `nonstop_tsc` (keeps
//! ticking in deep C-states) flags; a VM may hide the CPUID bit while the kernel still trusts the TSC,
//! so both are recorded and either side may be overridden by the caller.
#![allow(unsafe_code)]

/// What the CPU and the kernel say about the TSC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TscSupport {
    /// The build target has a TSC pymm can read (x86_64).
    pub available: bool,
    /// CPUID `0x8000_0007` EDX bit 8 is set.
    pub cpuid_invariant: bool,
    /// `/proc/cpuinfo` lists `constant_tsc`.
    pub constant_tsc: bool,
    /// `/proc/cpuinfo` lists `nonstop_tsc`.
    pub nonstop_tsc: bool,
    /// `rdtscp` is available (CPUID `0x8000_0001` EDX bit 27).
    pub rdtscp: bool,
}

impl TscSupport {
    /// Reads CPUID and `/proc/cpuinfo`. Cold: call once at start-up.
    #[must_use]
    pub fn detect() -> Self {
        let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Self::from_parts(cpuid_invariant_tsc(), cpuid_rdtscp(), &flags)
    }

    /// Builds the report from a CPUID answer and the text of `/proc/cpuinfo` (testable without the
    /// host).
    #[must_use]
    pub fn from_parts(cpuid_invariant: bool, rdtscp: bool, cpuinfo: &str) -> Self {
        let flags = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .and_then(|l| l.split_once(':'))
            .map_or("", |(_, v)| v);
        let has = |name: &str| flags.split_ascii_whitespace().any(|f| f == name);
        Self {
            available: cfg!(target_arch = "x86_64"),
            cpuid_invariant,
            constant_tsc: has("constant_tsc"),
            nonstop_tsc: has("nonstop_tsc"),
            rdtscp,
        }
    }

    /// The TSC is usable as a clock: present, and invariant by CPUID or by both kernel flags.
    #[must_use]
    pub const fn is_invariant(&self) -> bool {
        self.available && (self.cpuid_invariant || (self.constant_tsc && self.nonstop_tsc))
    }
}

/// Reads the TSC (`rdtsc`). Not ordered against surrounding loads and stores: good for timestamps,
/// use [`read_ordered`] to time a short code section. On other architectures returns 0.
///
/// # Hot path
/// Any thread. One instruction (~15–25 cycles); no syscall, no allocation.
#[inline(always)]
#[must_use]
pub fn read() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` exists on every x86_64 CPU and has no memory effects; a kernel that
        // disables it (CR4.TSD) would fault every process on the host, which pymm does not support.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// Reads the TSC with `rdtscp`, which waits for earlier instructions to complete, and returns the
/// counter and the `IA32_TSC_AUX` value (Linux stores the CPU number in its low 12 bits).
/// Falls back to [`read`] with aux 0 where `rdtscp` is absent.
#[inline(always)]
#[must_use]
pub fn read_ordered() -> (u64, u32) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut aux = 0u32;
        // SAFETY: `rdtscp` is present on every x86_64 CPU pymm supports (checked at start-up in
        // `TscSupport::rdtscp`; the clock falls back when it is not); it writes only `aux`, a valid
        // exclusively borrowed u32.
        let t = unsafe { core::arch::x86_64::__rdtscp(&mut aux) };
        (t, aux)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        (read(), 0)
    }
}

// `__cpuid` is a safe fn on recent toolchains and `unsafe` on the MSRV (1.85): keep the blocks.
#[allow(unused_unsafe)]
fn cpuid_invariant_tsc() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__cpuid;
        // SAFETY: CPUID is available on every x86_64 CPU; leaf 0x8000_0000 reports the highest
        // extended leaf, checked before leaf 0x8000_0007 is queried.
        let max_ext = unsafe { __cpuid(0x8000_0000) }.eax;
        if max_ext < 0x8000_0007 {
            return false;
        }
        // SAFETY: leaf 0x8000_0007 exists (checked above).
        let edx = unsafe { __cpuid(0x8000_0007) }.edx;
        edx & (1 << 8) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

// `__cpuid` is a safe fn on recent toolchains and `unsafe` on the MSRV (1.85): keep the blocks.
#[allow(unused_unsafe)]
fn cpuid_rdtscp() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__cpuid;
        // SAFETY: CPUID is available on every x86_64 CPU; leaf 0x8000_0000 is always valid.
        let max_ext = unsafe { __cpuid(0x8000_0000) }.eax;
        if max_ext < 0x8000_0001 {
            return false;
        }
        // SAFETY: leaf 0x8000_0001 exists (checked above).
        let edx = unsafe { __cpuid(0x8000_0001) }.edx;
        edx & (1 << 27) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\n\
        flags\t\t: fpu vme tsc msr rdtscp constant_tsc nonstop_tsc tsc_known_freq\n\
        bugs\t\t: sysret_ss_attrs\n";

    #[test]
    fn flags_are_parsed_as_whole_words() {
        let s = TscSupport::from_parts(false, true, CPUINFO);
        assert!(s.constant_tsc && s.nonstop_tsc && s.rdtscp);
        assert!(!s.cpuid_invariant);
        // Kernel flags alone make it invariant.
        assert_eq!(s.is_invariant(), cfg!(target_arch = "x86_64"));

        // `tsc_deadline_timer` must not count as `nonstop_tsc`, nor `constant_tsc_x` as `constant_tsc`.
        let partial = TscSupport::from_parts(
            false,
            true,
            "flags : tsc constant_tsc_x tsc_deadline_timer\n",
        );
        assert!(!partial.constant_tsc && !partial.nonstop_tsc && !partial.is_invariant());
    }

    #[test]
    fn cpuid_bit_alone_is_enough() {
        let s = TscSupport::from_parts(true, true, "");
        assert_eq!(s.is_invariant(), cfg!(target_arch = "x86_64"));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn reads_advance() {
        let a = read();
        let (b, _) = read_ordered();
        let c = read();
        assert!(a > 0);
        assert!(b >= a && c >= b, "{a} {b} {c}");
    }

    #[test]
    fn detect_agrees_with_cpuinfo_flags() {
        let s = TscSupport::detect();
        let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        assert_eq!(s.constant_tsc, text.contains(" constant_tsc"));
    }
}
