//! Gives libdipsea.so its soname, so that programs linked against it record the ABI
//! version they need (`NEEDED libdipsea.so.0.1`) rather than the bare file name.
//!
//! The ABI version follows Cargo's compatibility rule: the major version from 1.0 on
//! (`libdipsea.so.1`), and `0.MINOR` before (0.1 and 0.2 are incompatible, as they are
//! for Cargo). `make install` (bindings/c/Makefile) names the installed files and
//! links from the same rule.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "android" || target_os.ends_with("bsd") {
        let major = env!("CARGO_PKG_VERSION_MAJOR");
        let minor = env!("CARGO_PKG_VERSION_MINOR");
        let abi = if major == "0" {
            format!("0.{minor}")
        } else {
            major.to_string()
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdipsea.so.{abi}");
    }
}
