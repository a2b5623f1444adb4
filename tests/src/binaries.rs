//! Finds the workspace binaries next to the running test binary, so the tests always drive what
//! `cargo build` just produced in the same target directory (never a stale copy on `PATH`).

use std::path::PathBuf;

/// Path of a workspace binary (`identity-core`, `scim-edge`, `identity-admin`).
///
/// Test binaries live in `<target>/<profile>/deps/`; the workspace binaries one level up.
/// Panics with the command to run when the binary has not been built.
pub fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the running test binary");
    let mut dir = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "binary {name} not found at {}: run `cargo build --workspace` (or `cargo build -p identity-core -p scim-edge -p admin-grpc`) with the same target directory first",
        path.display()
    );
    path
}
