//! The control socket on Unix: a socket file with mode 0660 owned by the service's
//! group, and the kernel's word (SO_PEERCRED) for who connected.
//!
//! Setting the file up must not be redirectable by anyone else on the machine: the
//! directory it lives in must be the service's own (not a symlink, owned by root or the
//! service's user, writable by nobody else), and the socket is made in a private
//! directory of its own (0700) where nobody else can reach or replace it, given its mode
//! and group there, checked to be the socket just created, and only then renamed into
//! place. No umask is changed: the umask is the whole process's, and narrowing it for a
//! moment narrowed every file and directory other threads made in that moment.

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, renameat};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmod, fchmodat, fstatat, mkdirat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, geteuid, unlinkat, Gid, UnlinkatFlags};
use tokio::net::{UnixListener, UnixStream};

use super::auth::{AccessPolicy, PeerIdentity};

pub struct ControlListener {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlListener {
    /// Binds `path`, replacing a stale socket left by a crashed service but never a
    /// live one or anything that is not a socket. Refuses a directory that others
    /// could tamper with.
    pub fn bind(path: &Path, policy: &AccessPolicy) -> io::Result<Self> {
        let context = |what: &str, e: io::Error| {
            io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
        };
        let (dir, name) = match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => (dir, name),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "the control socket {} needs a directory of its own: give an absolute path",
                        path.display()
                    ),
                ))
            }
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| context("cannot create the directory of", e))?;
        let dir = SocketDir::open(dir)?;
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!(
                            "another Punchwire service is already listening on {}",
                            path.display()
                        ),
                    ));
                }
                std::fs::remove_file(path)
                    .map_err(|e| context("cannot remove the stale socket", e))?;
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a socket: refusing to replace it",
                        path.display()
                    ),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(context("cannot inspect", e)),
        }
        // Without the group nobody but root may connect: 0600 says so honestly.
        let (mode, gid) = match policy.gid() {
            Some(gid) => (0o660, Some(Gid::from_raw(gid))),
            None => {
                tracing::warn!(
                    group = policy.group_name(),
                    "the control group does not exist: only root can use the control socket"
                );
                (0o600, None)
            }
        };
        let listener = dir.bind_staged(name, path, mode, gid)?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener: UnixListener::from_std(listener)?,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn accept(&self) -> io::Result<(UnixStream, PeerIdentity)> {
        let (stream, _) = self.listener.accept().await?;
        let cred = stream.peer_cred()?;
        let identity = PeerIdentity {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        };
        Ok((stream, identity))
    }
}

impl Drop for ControlListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The directory of the control socket, held open so that every later check and change
/// is made on the directory that was checked.
struct SocketDir {
    dir: File,
    meta: Metadata,
    path: PathBuf,
}

impl SocketDir {
    /// Opens `dir` without following a symlink and checks that nobody but root or the
    /// service's user can change what is in it.
    fn open(dir: &Path) -> io::Result<Self> {
        let refuse = |why: String| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "refusing to put the control socket in {}: {why}",
                    dir.display()
                ),
            )
        };
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(dir, flags, Mode::empty()).map_err(|e| match e {
            nix::errno::Errno::ELOOP | nix::errno::Errno::ENOTDIR => {
                refuse("it is a symlink or not a directory".into())
            }
            e => io::Error::new(
                io::Error::from(e).kind(),
                format!("cannot open {}: {e}", dir.display()),
            ),
        })?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        let me = geteuid().as_raw();
        if meta.uid() != 0 && meta.uid() != me {
            return Err(refuse(format!(
                "it belongs to uid {}, not root or the service's user",
                meta.uid()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(refuse(format!(
                "it is writable by others (mode {:o}): make it 0755",
                meta.mode() & 0o7777
            )));
        }
        Ok(Self {
            dir: file,
            meta,
            path: dir.to_owned(),
        })
    }

    /// Fails unless the directory of `path` is still the one this holds open.
    fn check_still_at(&self, path: &Path) -> io::Result<()> {
        let now = std::fs::symlink_metadata(&self.path)?;
        if now.dev() != self.meta.dev() || now.ino() != self.meta.ino() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} was replaced while the control socket {} was being created",
                    self.path.display(),
                    path.display()
                ),
            ));
        }
        Ok(())
    }

    /// Binds the socket `name` with `mode` and `gid`, made and checked in a private
    /// directory beside it and renamed into place: it never exists where others can
    /// reach it before it is whole. The rename keeps the socket (a listening socket is
    /// found by its inode), and within this directory it cannot be redirected.
    fn bind_staged(
        &self,
        name: &std::ffi::OsStr,
        path: &Path,
        mode: u32,
        gid: Option<Gid>,
    ) -> io::Result<std::os::unix::net::UnixListener> {
        let staging = Staging::create(self)?;
        let listener =
            std::os::unix::net::UnixListener::bind(staging.path.join(STAGED)).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot listen on {}: {e}", path.display()),
                )
            })?;
        // Following a symlink is safe here: nobody else can enter the staging directory
        // (and Linux has no lchmod to ask for anything else).
        fchmodat(
            staging.dir.as_fd(),
            STAGED,
            Mode::from_bits_truncate(mode as nix::sys::stat::mode_t),
            FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("cannot set the mode of {}: {e}", path.display()),
            )
        })?;
        adopt_socket(&staging.dir, STAGED.as_ref(), path, mode, gid)?;
        // The directory checked above must be the one the socket goes into.
        self.check_still_at(path)?;
        renameat(staging.dir.as_fd(), STAGED, self.dir.as_fd(), name).map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!(
                    "cannot move the control socket into {}: {e}",
                    path.display()
                ),
            )
        })?;
        Ok(listener)
    }
}

/// Checks that `name` in `dir` is the socket just created (a socket, ours, with `mode`),
/// and gives it to `gid` without following a symlink.
fn adopt_socket(
    dir: &File,
    name: &std::ffi::OsStr,
    path: &Path,
    mode: u32,
    gid: Option<Gid>,
) -> io::Result<()> {
    let stat = fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io::Error::from)?;
    let is_socket =
        SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFSOCK;
    if !is_socket
        || stat.st_uid != geteuid().as_raw()
        || stat.st_mode & 0o777 != mode as nix::sys::stat::mode_t
    {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not the socket the service just created: refusing to use it",
                path.display()
            ),
        ));
    }
    if let Some(gid) = gid {
        fchownat(
            dir.as_fd(),
            name,
            None,
            Some(gid),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("cannot give the group ownership of {}: {e}", path.display()),
            )
        })?;
    }
    Ok(())
}

/// A directory only the service can enter, beside the socket's place, where the socket
/// is made; removed, with anything left in it, when dropped.
struct Staging {
    parent: File,
    name: String,
    dir: File,
    path: PathBuf,
}

/// The socket's name inside [`Staging`]: short, because a socket's whole path must fit
/// in 108 bytes and the staging directory already adds to it.
const STAGED: &str = "s";

impl Staging {
    fn create(parent: &SocketDir) -> io::Result<Self> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!(".pw-{}-{n}", std::process::id());
        let path = parent.path.join(&name);
        let fail = |what: &str, e: nix::errno::Errno| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("cannot {what} {}: {e}", path.display()),
            )
        };
        let parent_dir = parent.dir.try_clone()?;
        mkdirat(parent.dir.as_fd(), name.as_str(), Mode::S_IRWXU).map_err(|e| fail("create", e))?;
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let dir = match openat(parent.dir.as_fd(), name.as_str(), flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(e) => {
                let _ = unlinkat(parent.dir.as_fd(), name.as_str(), UnlinkatFlags::RemoveDir);
                return Err(fail("open", e));
            }
        };
        let staging = Self {
            parent: parent_dir,
            path: path.clone(),
            name,
            dir,
        };
        // Whatever the umask left: only the service may enter.
        fchmod(staging.dir.as_fd(), Mode::S_IRWXU).map_err(|e| fail("restrict", e))?;
        Ok(staging)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // The socket is gone from here once renamed into place; on a failure it is not.
        let _ = unlinkat(self.dir.as_fd(), STAGED, UnlinkatFlags::NoRemoveDir);
        let _ = unlinkat(
            self.parent.as_fd(),
            self.name.as_str(),
            UnlinkatFlags::RemoveDir,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn no_group() -> AccessPolicy {
        AccessPolicy::for_group("punchwire-no-such-group")
    }

    #[tokio::test]
    async fn without_the_group_the_socket_is_born_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let _listener = ControlListener::bind(&path, &no_group()).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.mode() & 0o777, 0o600);
    }

    #[tokio::test]
    async fn the_socket_is_moved_into_place_and_nothing_else_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let listener = ControlListener::bind(&path, &AccessPolicy::for_group("root")).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["control.sock"]);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o660);
        assert_eq!(meta.gid(), 0);
        std::os::unix::net::UnixStream::connect(&path).expect("it answers where it was moved");
        drop(listener);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_directory_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        set_mode(&shared, 0o1777);
        let path = shared.join("control.sock");
        let err = ControlListener::bind(&path, &no_group()).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("writable by others"), "{err}");
        assert!(!path.exists(), "nothing was created");
    }

    #[tokio::test]
    async fn a_symlinked_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = ControlListener::bind(&link.join("control.sock"), &no_group())
            .err()
            .unwrap();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(!real.join("control.sock").exists());
    }

    #[tokio::test]
    async fn a_symlink_in_place_of_the_socket_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        set_mode(&target, 0o644);
        let path = dir.path().join("control.sock");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let err = ControlListener::bind(&path, &AccessPolicy::for_group("root"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a socket"), "{err}");
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o644, "the target's mode is untouched");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }

    #[tokio::test]
    async fn a_file_that_is_not_the_new_socket_is_not_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let socket_dir = SocketDir::open(dir.path()).unwrap();
        let path = dir.path().join("control.sock");
        // A regular file where the socket should be, as if swapped in after bind.
        std::fs::write(&path, "").unwrap();
        set_mode(&path, 0o660);
        let err = adopt_socket(
            &socket_dir.dir,
            path.file_name().unwrap(),
            &path,
            0o660,
            Some(Gid::from_raw(0)),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not the socket"), "{err}");
    }
}
