//! `write_atomic`: the new text replaces the file in one rename, keeping its
//! mode, following a symbolic link, leaving no temporary file behind.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::write_atomic;

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_new_file_is_created_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    write_atomic(&path, "hostname = \"a.example\"\n").unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "hostname = \"a.example\"\n"
    );
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert_eq!(entries(dir.path()), ["portcullis.toml"]);
}

#[test]
fn an_existing_file_is_replaced_and_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    fs::write(&path, "old\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    write_atomic(&path, "new\n").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(entries(dir.path()), ["portcullis.toml"]);
}

#[test]
fn a_symbolic_link_is_followed_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.toml");
    let link = dir.path().join("portcullis.toml");
    fs::write(&real, "old\n").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    write_atomic(&link, "new\n").unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_to_string(&real).unwrap(), "new\n");
    assert_eq!(entries(dir.path()), ["portcullis.toml", "real.toml"]);
}

#[test]
fn a_failed_write_leaves_the_directory_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    // The target is a directory: the rename fails after the temp file is written.
    let path = dir.path().join("portcullis.toml");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), "x").unwrap();
    assert!(write_atomic(&path, "new\n").is_err());
    assert_eq!(entries(dir.path()), ["portcullis.toml"]);
}
