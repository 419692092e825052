//! Process settings for speed that must be in place before the first thread or allocation of
//! the engine, taken only when the user has not set them.
//!
//! - **Transparent huge pages for the heap.** CTranslate2 allocates the encoder's attention
//!   scores afresh for every layer (54 MB per window for tiny.en, beyond glibc's largest mmap
//!   threshold), so each is a fresh mapping faulted in 4 KiB at a time. glibc's tunable
//!   `glibc.malloc.hugetlb=1` lets those mappings use 2 MiB pages, on kernels with THP in
//!   `madvise` mode (Debian's default). Tunables are read when the process starts, so `run`
//!   re-executes itself once with `GLIBC_TUNABLES` extended. Measured on the benchmark corpus
//!   (2 cores, tiny.en): 11.3 s against 12.6 s, the same peak RSS. `VID2TEXT_HUGEPAGES=0` or a
//!   `GLIBC_TUNABLES` that names the tunable turns this off.
//! - **AVX-512 in CTranslate2's own kernels** (softmax, quantisation, activations). CTranslate2
//!   uses AVX-512 only when `CT2_FORCE_CPU_ISA=AVX512` says so, because of the clock throttling
//!   of older Intel CPUs; its GEMMs run in oneDNN, which uses AVX-512 wherever the CPU has it,
//!   so the rest of the engine may as well. Measured: 10.6 s against 11.2 s. A
//!   `CT2_FORCE_CPU_ISA` the user set wins.

use std::ffi::OsString;

const TUNABLE: &str = "glibc.malloc.hugetlb";

/// Re-executes the current `run` with huge pages for the heap when that applies; returns only
/// when it does not (or when the re-execution failed, which changes nothing but speed).
pub fn reexec_with_hugepages() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    if std::env::var_os("VID2TEXT_HUGEPAGES").is_some_and(|v| v == "0") {
        return;
    }
    let current = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
    if current.to_string_lossy().contains(TUNABLE) {
        return; // set already: by the user, or by our first execution
    }
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
    if !thp.is_ok_and(|s| s.contains("[madvise]") || s.contains("[always]")) {
        return;
    }
    let mut tunables = current;
    if !tunables.is_empty() {
        tunables.push(":");
    }
    tunables.push(format!("{TUNABLE}=1"));
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("vid2text"));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // `exec` returns only on failure.
        let _ = std::process::Command::new(exe)
            .arg0(arg0)
            .args(args)
            .env("GLIBC_TUNABLES", tunables)
            .exec();
    }
}

/// The instruction set CTranslate2's own kernels will use: AVX512 when the CPU has what
/// CTranslate2 requires of it (F, CD, VL, DQ, BW) and the user has not chosen. Must run before
/// other threads exist (it sets an environment variable).
pub fn choose_cpu_isa() -> Option<String> {
    if let Some(v) = std::env::var_os("CT2_FORCE_CPU_ISA") {
        return Some(v.to_string_lossy().into_owned());
    }
    #[cfg(target_arch = "x86_64")]
    {
        let avx512 = std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512cd")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512bw");
        if avx512 {
            std::env::set_var("CT2_FORCE_CPU_ISA", "AVX512");
            return Some("AVX512".into());
        }
    }
    None
}
