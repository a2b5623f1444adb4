//! Where the workspace binaries are.

use anyhow::{Context, Result, ensure};
use std::path::{Path, PathBuf};

/// The path of the workspace binary `name` in `dir`, or by default next to the running
/// executable: the same target directory, so a test or a benchmark always runs what `cargo
/// build` just produced there, never a stale copy on `PATH`. (Test executables live in
/// `<target>/<profile>/deps/`, the binaries one level up.)
pub fn binary(dir: Option<&Path>, name: &str) -> Result<PathBuf> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => {
            let exe = std::env::current_exe().context("path of the running executable")?;
            let mut dir = exe
                .parent()
                .context("the running executable has a directory")?
                .to_path_buf();
            if dir.ends_with("deps") {
                dir.pop();
            }
            dir
        }
    };
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    ensure!(
        path.is_file(),
        "{name} not found at {}: run `cargo build --workspace --bins` with the same target directory (and profile) first",
        path.display()
    );
    Ok(path)
}
