//! The code's size rule, checked: no file outside the tests over 600 lines
//! and no function over 100 (`scripts/size-check.sh` lists any that are).

use std::process::Command;

#[test]
fn no_file_over_600_lines_and_no_function_over_100() {
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/size-check.sh"
        ))
        .output()
        .expect("run scripts/size-check.sh");
    assert!(
        out.status.success(),
        "split these:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
