//! Who may read the data: the folder only its owner (0700), the database
//! and its `-wal` and `-shm` files only its owner (0600). They hold every
//! key's hash, the audit trail and, in the folder, the development JWT
//! secret; 0644 let every local user read them.
//!
//! SQLite creates `-wal` and `-shm` with the database file's permissions,
//! so the database file is made 0600 before SQLite opens it. Files and
//! folders made looser by an older version (or by hand) are tightened when
//! the store opens, and a warning says so.

use std::io;
use std::path::Path;

#[cfg(unix)]
const FOLDER_MODE: u32 = 0o700;
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;

/// Creates the data folder for its owner only, or tightens an existing one.
pub fn private_folder(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, FOLDER_MODE);
    // Missing parents get the mode too: nothing else lives in a path made
    // for the data.
    builder.create(path)?;
    #[cfg(unix)]
    tighten(path, FOLDER_MODE)?;
    Ok(())
}

/// Tightens a file that exists to 0600 (nothing when it does not).
pub fn private_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    match tighten(path, FILE_MODE) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        other => other?,
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes the database file 0600 (creating it empty, which SQLite takes for
/// a new database) and tightens its `-wal` and `-shm` if they are there.
pub(super) fn private_database(db: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    drop(options.open(db)?);
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        private_file(Path::new(&path))?;
    }
    Ok(())
}

/// Removes every permission beyond `mode`; says so when there were any.
#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
        tracing::warn!(
            path = %path.display(),
            was = format_args!("{current:o}"),
            now = format_args!("{:o}", current & mode),
            "tightened the permissions of a data path: only its owner may use it"
        );
    }
    Ok(())
}
