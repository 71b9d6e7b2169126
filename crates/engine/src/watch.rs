//! File-system events → candidate files, with a polling fallback.
//!
//! On Linux the engine watches, with inotify, every directory that holds a
//! tracked file. `drain()` reads the pending events with one non-blocking
//! `read`: when nothing happened it costs one system call, whatever the
//! number of tracked modules, and allocates nothing. Events written before
//! `drain()` is called are already in the queue when the writer's `write`
//! returns, so no background thread has to catch up.
//!
//! Directories on file systems whose events are unreliable (network and FUSE
//! mounts), directories that could not be watched (the per-user watch limit),
//! and every directory on other platforms or in forced polling mode are
//! reported by `polled_dirs()`; the engine checks their files' metadata on
//! every poll.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// How changes are detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// File-system events where they are reliable, metadata polling elsewhere.
    Events,
    /// Metadata polling of every tracked file.
    Polling,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Events => "events",
            Mode::Polling => "polling",
        }
    }
}

/// What draining the event queue found.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// No event.
    Nothing,
    /// Events for the (directory, file name) pairs pushed to the output.
    Some,
    /// Events were lost (queue overflow, a watched directory vanished): any
    /// file may have changed.
    Everything,
}

/// Why a directory's files are polled instead of watched with events.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PollReason {
    /// Polling mode was chosen.
    PollingMode,
    /// This platform has no file-system events LiveImport uses.
    Platform,
    /// inotify could not be set up (the error).
    Unavailable(String),
    /// A network or FUSE file system (its type), where events miss changes
    /// made elsewhere.
    NetworkFs(&'static str),
    /// The per-user limit on inotify watches is reached.
    WatchLimit,
    /// The directory could not be watched (the error).
    WatchFailed(String),
}

impl std::fmt::Display for PollReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollReason::PollingMode => write!(f, "polling mode"),
            PollReason::Platform => write!(f, "no file-system events on this platform"),
            PollReason::Unavailable(e) => write!(f, "file-system events unavailable ({e})"),
            PollReason::NetworkFs(kind) => {
                write!(f, "{kind} file system (events miss changes made elsewhere)")
            }
            PollReason::WatchLimit => write!(f, "inotify watch limit reached"),
            PollReason::WatchFailed(e) => write!(f, "cannot watch ({e})"),
        }
    }
}

/// Something the user (or a log) should hear about change detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// A fallback the user should know about (else a detail for debugging).
    pub warning: bool,
    /// Worth interrupting the user for (a Python warning), not only a log.
    pub tell_user: bool,
    pub message: String,
}

/// Watches directories; owns the OS resources.
pub struct Watcher {
    mode: Mode,
    /// Directories watched with events, by descriptor.
    #[cfg(target_os = "linux")]
    inotify: Option<linux::Queue>,
    /// Directories whose files must be polled, and why.
    polled: HashMap<PathBuf, PollReason>,
    /// Notices not taken yet.
    notices: Vec<Notice>,
    /// The kinds of fallback already warned about (each once).
    warned: HashSet<std::mem::Discriminant<PollReason>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("mode", &self.mode).field("polled", &self.polled.len()).finish()
    }
}

impl Watcher {
    pub fn new(mode: Mode) -> Watcher {
        Watcher {
            mode,
            #[cfg(target_os = "linux")]
            inotify: None,
            polled: HashMap::new(),
            notices: Vec::new(),
            warned: HashSet::new(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Switch modes; the next `watch_dirs()` applies it.
    pub fn set_mode(&mut self, mode: Mode) {
        if mode != self.mode {
            self.release();
            self.mode = mode;
        }
    }

    /// Make the watched set equal `dirs`. Returns the directories newly
    /// covered (their files should be checked once: a change just before the
    /// watch began has no event). With `relink`, a directory already watched
    /// whose path now leads elsewhere (a symbolic link on the way was
    /// re-pointed) is watched again at its new place.
    pub fn watch_dirs(&mut self, dirs: &HashSet<PathBuf>, relink: bool) -> Vec<PathBuf> {
        self.polled.retain(|d, _| dirs.contains(d));
        #[cfg(target_os = "linux")]
        if self.mode == Mode::Events {
            let mut fresh = Vec::new();
            let mut unavailable = None;
            if self.inotify.is_none() {
                match linux::Queue::new() {
                    Ok(queue) => self.inotify = Some(queue),
                    Err(e) => unavailable = Some(PollReason::Unavailable(e.to_string())),
                }
            }
            if let Some(queue) = &mut self.inotify {
                queue.retain(dirs);
                if relink {
                    queue.forget_moved();
                }
                let mut newly_polled = Vec::new();
                for dir in dirs {
                    if queue.contains(dir) || self.polled.contains_key(dir) {
                        continue;
                    }
                    fresh.push(dir.clone());
                    if let Err(kind) = linux::events_reliable(dir) {
                        newly_polled.push((dir.clone(), PollReason::NetworkFs(kind)));
                        continue;
                    }
                    if let Err(e) = queue.add(dir) {
                        let reason = if e.raw_os_error() == Some(libc::ENOSPC) {
                            PollReason::WatchLimit
                        } else {
                            PollReason::WatchFailed(e.to_string())
                        };
                        newly_polled.push((dir.clone(), reason));
                    }
                }
                for (dir, reason) in newly_polled {
                    self.poll_dir(dir, reason);
                }
                return fresh;
            }
            let reason = unavailable.unwrap_or(PollReason::Unavailable("no inotify instance".into()));
            return self.poll_all(dirs, reason);
        }
        let _ = relink; // only event watches move with a link
        let reason = if self.mode == Mode::Polling { PollReason::PollingMode } else { PollReason::Platform };
        self.poll_all(dirs, reason)
    }

    fn poll_all(&mut self, dirs: &HashSet<PathBuf>, reason: PollReason) -> Vec<PathBuf> {
        let mut fresh = Vec::new();
        for dir in dirs {
            if !self.polled.contains_key(dir) {
                fresh.push(dir.clone());
                self.poll_dir(dir.clone(), reason.clone());
            }
        }
        fresh
    }

    /// Poll a directory's files from now on, and say why.
    fn poll_dir(&mut self, dir: PathBuf, reason: PollReason) {
        let warning = match &reason {
            PollReason::WatchLimit => Some(
                "the system's limit on inotify watches is reached; LiveImport polls file metadata for the rest. Raise it with: sudo sysctl fs.inotify.max_user_watches=524288".to_owned(),
            ),
            PollReason::Unavailable(e) => Some(format!(
                "file-system events are unavailable ({e}); LiveImport checks file metadata before each cell instead"
            )),
            PollReason::NetworkFs(kind) => Some(format!(
                "{} is on a {kind} file system, where file-system events miss changes made elsewhere; LiveImport polls its files' metadata before each cell",
                dir.display()
            )),
            _ => None,
        };
        let tell_user = matches!(reason, PollReason::WatchLimit | PollReason::Unavailable(_));
        match warning {
            Some(message) if self.warned.insert(std::mem::discriminant(&reason)) => {
                self.notices.push(Notice { warning: true, tell_user, message });
            }
            _ => self.notices.push(Notice {
                warning: false,
                tell_user: false,
                message: format!("polling {}: {reason}", dir.display()),
            }),
        }
        self.polled.insert(dir, reason);
    }

    /// Why `dir`'s files would be polled rather than watched with events
    /// (`None`: events), without watching it.
    pub fn probe(&self, dir: &Path) -> Option<PollReason> {
        if self.mode == Mode::Polling {
            return Some(PollReason::PollingMode);
        }
        #[cfg(target_os = "linux")]
        {
            linux::events_reliable(dir).err().map(PollReason::NetworkFs)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = dir;
            Some(PollReason::Platform)
        }
    }

    /// The notices since the last call.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Directories whose files need metadata polling, and why.
    pub fn polled_dirs(&self) -> &HashMap<PathBuf, PollReason> {
        &self.polled
    }

    /// Read pending events; push `(dir, file name)` of each to `out`.
    pub fn drain(&mut self, out: &mut Vec<(PathBuf, OsString)>) -> Drained {
        #[cfg(target_os = "linux")]
        if let Some(queue) = &mut self.inotify {
            return queue.drain(out);
        }
        let _ = out;
        Drained::Nothing
    }

    /// Number of directories watched with events.
    pub fn watched_count(&self) -> usize {
        #[cfg(target_os = "linux")]
        if let Some(queue) = &self.inotify {
            return queue.len();
        }
        0
    }

    /// Give every watch back to the OS.
    pub fn release(&mut self) {
        #[cfg(target_os = "linux")]
        {
            self.inotify = None;
        }
        self.polled.clear();
    }
}

/// Whether `dir` is on a local file system (one whose timestamps come from
/// this machine's clock). Only Linux can tell; elsewhere `false`.
pub(crate) fn local_fs(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    return linux::events_reliable(dir).is_ok();
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        false
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
    use std::ffi::CString;
    use std::io;
    use std::os::unix::ffi::OsStrExt;

    pub struct Queue {
        inotify: Inotify,
        /// Paths per descriptor: one directory may be reached by several
        /// spellings (a link and its target), and inotify gives one watch.
        by_wd: HashMap<WatchDescriptor, Vec<PathBuf>>,
        /// Each watched path, its descriptor and the directory it led to.
        by_dir: HashMap<PathBuf, (WatchDescriptor, Identity)>,
        /// Watches removed by us: the kernel's `IN_IGNORED` for them is
        /// expected, not a sign that anything changed.
        removed: HashSet<WatchDescriptor>,
        buffer: Box<[u8]>,
    }

    /// Which directory a path leads to: (device, inode).
    type Identity = (u64, u64);

    fn identity(dir: &Path) -> Option<Identity> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
    }

    impl Queue {
        pub fn new() -> io::Result<Queue> {
            Ok(Queue {
                inotify: Inotify::init()?,
                by_wd: HashMap::new(),
                by_dir: HashMap::new(),
                removed: HashSet::new(),
                buffer: vec![0u8; 64 * 1024].into_boxed_slice(),
            })
        }

        pub fn len(&self) -> usize {
            self.by_dir.len()
        }

        pub fn contains(&self, dir: &Path) -> bool {
            self.by_dir.contains_key(dir)
        }

        pub fn add(&mut self, dir: &Path) -> io::Result<()> {
            let mask = WatchMask::MODIFY
                | WatchMask::ATTRIB
                | WatchMask::CLOSE_WRITE
                | WatchMask::MOVED_FROM
                | WatchMask::MOVED_TO
                | WatchMask::CREATE
                | WatchMask::DELETE
                | WatchMask::DELETE_SELF
                | WatchMask::MOVE_SELF
                | WatchMask::ONLYDIR;
            let wd = self.inotify.watches().add(dir, mask)?;
            self.removed.remove(&wd);
            self.by_wd.entry(wd.clone()).or_default().push(dir.to_path_buf());
            self.by_dir.insert(dir.to_path_buf(), (wd, identity(dir).unwrap_or_default()));
            Ok(())
        }

        pub fn retain(&mut self, dirs: &HashSet<PathBuf>) {
            let gone: Vec<PathBuf> = self.by_dir.keys().filter(|d| !dirs.contains(*d)).cloned().collect();
            for dir in gone {
                self.unwatch(&dir);
            }
        }

        /// Stop watching the paths that lead to another directory than when
        /// their watch was added (the caller watches them again).
        pub fn forget_moved(&mut self) {
            let moved: Vec<PathBuf> = self
                .by_dir
                .iter()
                .filter(|(dir, (_, seen))| identity(dir).is_none_or(|now| now != *seen))
                .map(|(dir, _)| dir.clone())
                .collect();
            for dir in &moved {
                self.unwatch(dir);
            }
        }

        fn unwatch(&mut self, dir: &Path) {
            let Some((wd, _)) = self.by_dir.remove(dir) else { return };
            let remaining = self.by_wd.get_mut(&wd).map(|paths| {
                paths.retain(|p| p != dir);
                paths.len()
            });
            if remaining == Some(0) {
                self.by_wd.remove(&wd);
                if self.inotify.watches().remove(wd.clone()).is_ok() {
                    self.removed.insert(wd);
                }
            }
        }

        pub fn drain(&mut self, out: &mut Vec<(PathBuf, OsString)>) -> Drained {
            let mut result = Drained::Nothing;
            loop {
                let events = match self.inotify.read_events(&mut self.buffer) {
                    Ok(events) => events,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return result,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Drained::Everything,
                };
                let mut lost: Vec<WatchDescriptor> = Vec::new();
                for event in events {
                    if event.mask.contains(EventMask::Q_OVERFLOW) {
                        result = Drained::Everything;
                        continue;
                    }
                    if event
                        .mask
                        .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED)
                    {
                        if event.mask.contains(EventMask::IGNORED) && self.removed.remove(&event.wd) {
                            continue; // the end of a watch we removed ourselves
                        }
                        if self.by_wd.contains_key(&event.wd) {
                            // The directory itself went away or moved: watch
                            // it again when the engine next refreshes its set.
                            lost.push(event.wd.clone());
                            result = Drained::Everything;
                        }
                        continue;
                    }
                    if result == Drained::Everything {
                        continue;
                    }
                    if let (Some(dirs), Some(name)) = (self.by_wd.get(&event.wd), event.name) {
                        for dir in dirs {
                            out.push((dir.clone(), name.to_os_string()));
                        }
                        result = Drained::Some;
                    }
                }
                for wd in lost {
                    for dir in self.by_wd.remove(&wd).unwrap_or_default() {
                        self.by_dir.remove(&dir);
                    }
                }
            }
        }
    }

    /// Whether inotify events are reliable in `dir`; else the kind of file
    /// system, whose events miss changes made elsewhere.
    pub fn events_reliable(dir: &Path) -> Result<(), &'static str> {
        const NFS: i64 = 0x6969;
        const SMB: i64 = 0x517b;
        const CIFS: i64 = 0xff53_4d42;
        const SMB2: i64 = 0xfe53_4d42;
        const FUSE: i64 = 0x6573_5546;
        const V9FS: i64 = 0x0102_1997;
        const CODA: i64 = 0x7375_7245;
        const AFS: i64 = 0x5346_414f;
        const CEPH: i64 = 0x00c3_6400;
        let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
            return Err("unknown (unrepresentable path)");
        };
        // SAFETY: `path` is a valid NUL-terminated string and `stat` a
        // properly sized, writable struct that statfs fills in.
        let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
            return Err("unknown (statfs failed)");
        }
        #[allow(clippy::unnecessary_cast)]
        match stat.f_type as i64 {
            NFS => Err("NFS"),
            SMB | CIFS | SMB2 => Err("SMB/CIFS"),
            FUSE => Err("FUSE"),
            V9FS => Err("9p"),
            CODA => Err("Coda"),
            AFS => Err("AFS"),
            CEPH => Err("Ceph"),
            _ => Ok(()),
        }
    }
}
