//! What the linked CTranslate2 is and what it will compute with, asked of the library itself:
//! which file it was loaded from (the wheel's shared library) or that it is built in (a source
//! build), its CPU GEMM backends and instruction set, and whether it can run on CUDA.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::PathBuf;

use ct2rs::sys::{get_device_count, Device};

/// The CTranslate2 version that ct2rs 0.10.3 bundles: its headers are what our bridge compiles
/// against, so a prebuilt library must be this version too (scripts/setup.sh fetches it).
pub const CT2_VERSION: &str = "4.8.4";

extern "C" {
    fn vid2text_ct2_gemm_backend(int8: c_int, buf: *mut c_char, len: usize) -> usize;
    fn vid2text_ct2_cpu_isa(buf: *mut c_char, len: usize) -> usize;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// `ctranslate2::cuda::has_gpu()`: exported only by libraries compiled with CUDA.
const CUDA_SYMBOL: &CStr = c"_ZN11ctranslate24cuda7has_gpuEv";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    /// The shared library in use; None when CTranslate2 is linked statically (source builds).
    pub library: Option<PathBuf>,
    pub version: String,
    /// CPU GEMM backend for int8 and for float32 computation ("DNNL", "MKL", "RUY", ...).
    pub gemm_int8: String,
    pub gemm_float32: String,
    /// Instruction set of CTranslate2's own CPU kernels ("AVX2", "AVX512", "NEON", ...).
    pub cpu_isa: String,
    /// The library can run on CUDA (cuBLAS and the driver are opened at run time).
    pub cuda_compiled: bool,
}

impl EngineInfo {
    /// One line for `vid2text models`.
    pub fn describe(&self) -> String {
        let from = match &self.library {
            Some(p) => p.display().to_string(),
            None => "built from source, linked in".to_string(),
        };
        let mut isa = self.cpu_isa.clone();
        if std::env::var_os("CT2_FORCE_CPU_ISA").is_some_and(|v| !v.is_empty()) {
            isa += " (CT2_FORCE_CPU_ISA)";
        }
        format!(
            "CTranslate2 {} ({from}); CPU: int8 GEMM {}, float32 GEMM {}, kernels {isa}; CUDA: {}",
            self.version,
            self.gemm_int8,
            self.gemm_float32,
            if self.cuda_compiled {
                "compiled in"
            } else {
                "not compiled in"
            }
        )
    }
}

fn ask(f: impl Fn(*mut c_char, usize) -> usize) -> String {
    let mut buf = [0u8; 64];
    f(buf.as_mut_ptr().cast(), buf.len());
    CStr::from_bytes_until_nul(&buf)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The shared library file this process loaded CTranslate2 from (Linux: /proc/self/maps).
fn loaded_library() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|path| {
            std::path::Path::new(path)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libctranslate2") && n.contains(".so"))
        })
        .map(PathBuf::from)
}

/// The variable that chooses CTranslate2's CPU GEMM backend: Intel MKL (`1`) or oneDNN (`0`).
pub const BACKEND_VARIABLE: &str = "CT2_USE_MKL";

/// The value of [`BACKEND_VARIABLE`] that vid2text starts the engine with: `0` (oneDNN) in the
/// builds that link oneDNN (the wheel's library, the `dnnl` source build), unless the user's
/// environment names a backend; None when nothing is to be set.
///
/// Left to itself, CTranslate2 takes Intel MKL on Intel CPUs and oneDNN on the others. With
/// two model replicas decoding at once (vid2text's default on CPU: a replica per thread), the
/// `ctranslate2` 4.8.4 wheel's MKL kills the process in its first int8 GEMMs on an Intel Xeon
/// with AVX-512 and AMX (a 2-core cloud VM, 2026-12-01): SIGFPE, an integer division by zero in
/// `mkl_blas_gemm_s8u8s32_compute`, whatever `MKL_ENABLE_INSTRUCTIONS`, `MKL_NUM_THREADS=1` or
/// `CT2_USE_EXPERIMENTAL_PACKED_GEMM=0` say. One replica (faster-whisper's way) runs. oneDNN,
/// inside the same library, runs either way, and it is the backend every benchmark in the
/// README was measured with. `CT2_USE_MKL=1` gives MKL back where it works.
///
/// The library reads the variable while it is loaded, before `main`: setting it from inside
/// the process is too late, so `vid2text` re-executes itself with it (see its `tune` module).
pub fn backend_to_set() -> Option<&'static str> {
    let links_onednn = cfg!(any(feature = "prebuilt", feature = "dnnl"));
    (links_onednn && std::env::var_os(BACKEND_VARIABLE).is_none()).then_some("0")
}

pub fn engine_info() -> EngineInfo {
    let library = loaded_library();
    let version = library
        .as_ref()
        .and_then(|p| {
            p.file_name()?
                .to_str()?
                .split(".so.")
                .nth(1)
                .map(String::from)
        })
        .unwrap_or_else(|| CT2_VERSION.to_string());
    // SAFETY: the functions write at most `len` bytes, NUL-terminated, into the buffer.
    let gemm_int8 = ask(|b, n| unsafe { vid2text_ct2_gemm_backend(1, b, n) });
    let gemm_float32 = ask(|b, n| unsafe { vid2text_ct2_gemm_backend(0, b, n) });
    let cpu_isa = ask(|b, n| unsafe { vid2text_ct2_cpu_isa(b, n) });
    let cuda_compiled = match library {
        // SAFETY: dlsym with RTLD_DEFAULT (a null handle on glibc) only looks a name up.
        Some(_) => !unsafe { dlsym(std::ptr::null_mut(), CUDA_SYMBOL.as_ptr()) }.is_null(),
        None => cfg!(feature = "cuda"),
    };
    EngineInfo {
        library,
        version,
        gemm_int8,
        gemm_float32,
        cpu_isa,
        cuda_compiled,
    }
}

/// CUDA devices CTranslate2 can use: 0 when it has no CUDA, or the driver (libcuda.so.1) or a
/// GPU is missing.
pub fn cuda_devices() -> usize {
    get_device_count(Device::CUDA).max(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linked_engine_answers() {
        let info = engine_info();
        assert_eq!(info.version, CT2_VERSION);
        assert!(
            ["DNNL", "MKL", "RUY", "ACCELERATE", "OPENBLAS"].contains(&info.gemm_int8.as_str()),
            "{info:?}"
        );
        assert!(
            !info.cpu_isa.is_empty() && info.cpu_isa != "unknown",
            "{info:?}"
        );
        if cfg!(feature = "prebuilt") {
            let lib = info
                .library
                .as_ref()
                .expect("the wheel's shared library is loaded");
            assert!(lib.is_file(), "{}", lib.display());
        } else {
            assert_eq!(info.library, None);
        }
    }
}
