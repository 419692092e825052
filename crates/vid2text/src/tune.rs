//! Process settings that must be in place before the first thread or allocation of the engine,
//! taken only when the user has not set them; the process re-executes itself once to take them.
//!
//! - **CTranslate2's CPU backend: oneDNN** (`CT2_USE_MKL=0`), read by the library while it is
//!   loaded: the wheel's MKL dies of SIGFPE with two replicas on an Intel Xeon (see
//!   [`vid2text_models::engine::backend_to_set`]). For `run`, `work` and `models`.
//!
//! - **Transparent huge pages for the heap.** CTranslate2 allocates the encoder's attention
//!   scores afresh for every layer (54 MB per window for tiny.en, beyond glibc's largest mmap
//!   threshold), so each is a fresh mapping faulted in 4 KiB at a time. glibc's tunable
//!   `glibc.malloc.hugetlb=1` lets those mappings use 2 MiB pages, on kernels with THP in
//!   `madvise` mode (Debian's default). Tunables are read when the process starts, so `run`
//!   re-executes itself once with `GLIBC_TUNABLES` extended. Measured on the benchmark corpus
//!   (2 cores, tiny.en): 11.3 s against 12.6 s, the same peak RSS. `VID2TEXT_HUGEPAGES=0` or a
//!   `GLIBC_TUNABLES` that names the tunable turns this off.
//!
//! - **Large buffers kept in the heap, when OCR runs.** OCR makes detector inputs and feature
//!   maps of 5-30 MB for every frame it reads; glibc maps each afresh (its dynamic threshold
//!   stops at the sizes it has seen freed) and the kernel zeroes every page again. The same
//!   re-execution sets `glibc.malloc.mmap_threshold` to 32 MiB (glibc's largest) and
//!   `trim_threshold` to 128 MiB, so those buffers are reused. Measured on the captions
//!   benchmark's English videos (2 cores, base, the visual stage alone): 0.6-0.9 s of system
//!   time against 1.9-2.0 s, the same peak RSS. Not with `--no-ocr`: on the speech benchmark
//!   (tiny.en) it gained nothing (17.1-18.2 s against 16.9-17.9 s) for 8 % more RSS. Each is left
//!   alone when the user's `GLIBC_TUNABLES` names it.
//!
//! Not done: AVX-512 in CTranslate2's own kernels (`CT2_FORCE_CPU_ISA=AVX512`; CTranslate2 uses
//! AVX2 unless told). It was 5 % faster on the benchmark, but it changed tiny.en's reading of
//! the autoeditor example: one 17 s segment, its timestamps lost, instead of four. A user who
//! sets the variable gets it; `vid2text models` names the instruction set in use.

use std::ffi::OsString;

const TUNABLE: &str = "glibc.malloc.hugetlb";
/// Set with huge pages, each unless the user's `GLIBC_TUNABLES` names it.
const HEAP_TUNABLES: [(&str, &str); 2] = [
    ("glibc.malloc.mmap_threshold", "33554432"),
    ("glibc.malloc.trim_threshold", "134217728"),
];

/// Re-executes the current command when its environment lacks what the engine should start
/// with: CTranslate2's CPU backend ([`vid2text_models::engine::backend_to_set`], for every
/// command that uses the engine) and, for `run` and `work` (`hugepages` is `Some(ocr)`), huge
/// pages for the heap where they apply, with the heap tunables for OCR when `ocr`. Returns only
/// when nothing is to change (or when the re-execution failed: then only huge pages are lost,
/// and the backend CTranslate2 picks by itself is used).
pub fn reexec(hugepages: Option<bool>) {
    let mut env: Vec<(&str, OsString)> = Vec::new();
    if let Some(value) = vid2text_models::engine::backend_to_set() {
        env.push((vid2text_models::engine::BACKEND_VARIABLE, value.into()));
    }
    if let Some(tunables) = hugepages.and_then(glibc_tunables) {
        env.push(("GLIBC_TUNABLES", tunables));
    }
    if env.is_empty() {
        return;
    }
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
            .envs(env)
            .exec();
    }
}

/// The `GLIBC_TUNABLES` to run with huge pages for the heap (and the heap tunables for OCR
/// when `ocr`); None when they do not apply or are set already.
fn glibc_tunables(ocr: bool) -> Option<OsString> {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return None;
    }
    if std::env::var_os("VID2TEXT_HUGEPAGES").is_some_and(|v| v == "0") {
        return None;
    }
    let current = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
    if current.to_string_lossy().contains(TUNABLE) {
        return None; // set already: by the user, or by our first execution
    }
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
    if !thp.is_ok_and(|s| s.contains("[madvise]") || s.contains("[always]")) {
        return None;
    }
    let named = current.to_string_lossy().into_owned();
    let mut tunables = current;
    let mut add = |name: &str, value: &str| {
        if !tunables.is_empty() {
            tunables.push(":");
        }
        tunables.push(format!("{name}={value}"));
    };
    add(TUNABLE, "1");
    for (name, value) in HEAP_TUNABLES {
        if ocr && !named.contains(name) {
            add(name, value);
        }
    }
    Some(tunables)
}
