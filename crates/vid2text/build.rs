//! The run path to the linked CTranslate2 library (feature `prebuilt`), which
//! vid2text-models' build script found: the binary and the tests then run without any setting.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_VID2TEXT_CT2_RPATH");
    if let Ok(rpath) = std::env::var("DEP_VID2TEXT_CT2_RPATH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{rpath}");
    }
}
