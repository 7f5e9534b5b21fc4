//! Where the `portcullis` binary under test lives: cargo builds it into the
//! profile directory (`target/debug`) that holds this crate's build output
//! (`target/debug/build/portcullis-testkit-*/out`), before it runs the
//! root package's integration tests, the only users of this crate.

use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let profile_dir = Path::new(&out)
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is <profile>/build/<crate>/out");
    let bin = profile_dir.join(format!("portcullis{}", std::env::consts::EXE_SUFFIX));
    println!("cargo:rustc-env=PORTCULLIS_BIN={}", bin.display());
    println!("cargo:rerun-if-changed=build.rs");
}
