//! Interface names that are not socket names. On macOS an interface must be called
//! `utunN`, so wireguard-go serves `<dir>/utunN.sock` and wg-quick records the name the
//! user chose in `<dir>/<name>.name` (holding `utunN`). Users and configuration files
//! say `wg0`; this finds its socket. A name file whose socket is gone, or was made more
//! than two seconds apart from it (a `utunN` reused by another tunnel), is stale and
//! ignored, the rule wg-quick itself applies.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::Duration;

/// How far apart wg-quick's name file and wireguard-go's socket may be made.
const SAME_TUNNEL: Duration = Duration::from_secs(2);

/// The `utunN` that `name` maps to in `dir`, when a live mapping exists.
pub(super) fn real_name(dir: &Path, name: &str) -> Option<String> {
    let name_file = dir.join(format!("{name}.name"));
    let real = std::fs::read_to_string(&name_file).ok()?.trim().to_owned();
    if !super::valid_name(&real) || real == name {
        return None;
    }
    let socket = std::fs::metadata(dir.join(format!("{real}.sock"))).ok()?;
    if !socket.file_type().is_socket() {
        return None;
    }
    let named = std::fs::metadata(&name_file).ok()?;
    if let (Ok(a), Ok(b)) = (socket.modified(), named.modified()) {
        let apart = a.duration_since(b).or_else(|_| b.duration_since(a));
        if apart.map(|d| d >= SAME_TUNNEL).unwrap_or(false) {
            return None;
        }
    }
    Some(real)
}

/// Every live mapping in `dir`, as (name, real name).
pub(super) fn mappings(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().into_string().ok()?;
            let name = file.strip_suffix(".name")?;
            let real = real_name(dir, name)?;
            Some((name.to_owned(), real))
        })
        .collect()
}
