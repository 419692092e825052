//! Links Whisper's engine, CTranslate2.
//!
//! - Feature `prebuilt` (the default): the finished `libctranslate2` that the `ctranslate2` 4.8.4
//!   wheel ships, unpacked by `scripts/setup.sh` into `MODELS/ctranslate2/` (or the directory
//!   `VID2TEXT_CT2_DIR` names), through ct2rs's `system` feature: no CMake, no C++ build of
//!   CTranslate2. The binaries get a run path to that directory (after `$ORIGIN/lib` and
//!   `$ORIGIN`, where a shipped bundle keeps its copy), so they run without any setting.
//! - Features `ruy`, `dnnl`, `mkl`, `cuda`: ct2rs builds CTranslate2 from source with that
//!   backend (minutes), for platforms the wheel does not cover.
//!
//! Either way a small C++ file is compiled that asks the linked library which GEMM backend and
//! CPU instruction set it uses (`vid2text models` prints them).

use std::env;
use std::path::{Path, PathBuf};

const SOURCE_BACKENDS: [&str; 4] = ["ruy", "dnnl", "mkl", "cuda"];

fn feature(name: &str) -> bool {
    env::var_os(format!("CARGO_FEATURE_{}", name.to_uppercase())).is_some()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/engine_info.cpp");
    if !feature("whisper") {
        return;
    }
    let source: Vec<&str> = SOURCE_BACKENDS.into_iter().filter(|f| feature(f)).collect();
    match (feature("prebuilt"), source.is_empty()) {
        (true, false) => panic!(
            "vid2text-models: feature `prebuilt` links the ctranslate2 wheel's library, while \
             {source:?} build CTranslate2 from source; choose one, e.g. \
             `cargo build --release --no-default-features --features {}`",
            source[0]
        ),
        (false, true) => panic!(
            "vid2text-models: feature `whisper` needs an engine: `prebuilt` (the default) or a \
             source build with one of {SOURCE_BACKENDS:?}"
        ),
        (true, true) => link_prebuilt(),
        (false, false) => {}
    }
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("src/engine_info.cpp")
        .warnings(true)
        .compile("vid2text_engine_info");
}

/// The directory holding the wheel's `libctranslate2*.so.*` (and its `libgomp`).
fn prebuilt_dir() -> PathBuf {
    for var in [
        "VID2TEXT_CT2_DIR",
        "VID2TEXT_MODELS",
        "XDG_CACHE_HOME",
        "HOME",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if let Some(dir) = env::var_os("VID2TEXT_CT2_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // The model directory, as the registry resolves it at run time.
    let models = match env::var_os("VID2TEXT_MODELS").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("vid2text/models"),
    };
    models.join("ctranslate2")
}

fn link_prebuilt() {
    let dir = prebuilt_dir();
    let library = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries.flatten().map(|e| e.path()).find(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("libctranslate2") && name.contains(".so.") && p.is_file()
        })
    });
    let Some(library) = library else {
        panic!(
            "vid2text-models: no libctranslate2*.so.* in {}: run `scripts/setup.sh --models` \
             (it unpacks the ctranslate2 4.8.4 wheel there), set VID2TEXT_CT2_DIR to a directory \
             holding it, or build CTranslate2 from source with \
             `--no-default-features --features dnnl` (README, \"Build options\")",
            dir.display()
        )
    };
    println!("cargo:rerun-if-changed={}", library.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    // The linker looks for `libctranslate2.so`; the wheel's file carries a hash in its name (and
    // its soname, which is what the binary will ask for at run time).
    let link = out.join("libctranslate2.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&library, &link).expect("symlink libctranslate2.so in OUT_DIR");
    // ct2rs's `system` mode also asks for `cpu_features` (built into the wheel's library): an
    // empty archive satisfies it. Its CUDA archives are stubbed in `ct2-link-stubs/` (see
    // .cargo/config.toml: they must be found when ct2rs itself compiles).
    std::fs::write(out.join("libcpu_features.a"), b"!<arch>\n").expect("write stub archive");
    println!("cargo:rustc-link-search=native={}", out.display());
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    // Where the binaries find the library at run time: a bundle's own copy first
    // (scripts/bundle.sh), then the directory it was linked against. The wheel's library finds
    // its libgomp (and libcublas, when set up) through its own `$ORIGIN`.
    let rpath = format!("$ORIGIN/lib:$ORIGIN:{}", dir.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{rpath}");
    // For the crates that link this one (their build scripts see DEP_VID2TEXT_CT2_RPATH).
    println!("cargo:rpath={rpath}");
    println!("cargo:libdir={}", dir.display());
}
