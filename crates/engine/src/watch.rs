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

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;

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

/// Watches directories; owns the OS resources.
pub struct Watcher {
    mode: Mode,
    /// Directories watched with events, by descriptor.
    #[cfg(target_os = "linux")]
    inotify: Option<linux::Queue>,
    /// Directories whose files must be polled.
    polled: HashSet<PathBuf>,
    /// Set once when events had to be given up somewhere (a warning for the user).
    warning: Option<String>,
    warned: bool,
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
            polled: HashSet::new(),
            warning: None,
            warned: false,
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
    /// watch began has no event).
    pub fn watch_dirs(&mut self, dirs: &HashSet<PathBuf>) -> Vec<PathBuf> {
        let mut fresh = Vec::new();
        self.polled.retain(|d| dirs.contains(d));
        #[cfg(target_os = "linux")]
        if self.mode == Mode::Events {
            if self.inotify.is_none() {
                match linux::Queue::new() {
                    Ok(queue) => self.inotify = Some(queue),
                    Err(e) => {
                        self.warn(format!(
                            "file-system events are unavailable ({e}); LiveImport checks file metadata before each cell instead"
                        ));
                    }
                }
            }
            if let Some(queue) = &mut self.inotify {
                queue.retain(dirs);
                for dir in dirs {
                    if queue.contains(dir) || self.polled.contains(dir) {
                        continue;
                    }
                    fresh.push(dir.clone());
                    if !linux::events_reliable(dir) {
                        self.polled.insert(dir.clone());
                        continue;
                    }
                    if let Err(e) = queue.add(dir) {
                        if e.raw_os_error() == Some(libc::ENOSPC) && self.warning.is_none() && !self.warned {
                            self.warning = Some(
                                "the system's limit on inotify watches is reached; LiveImport polls file metadata for the rest. Raise it with: sudo sysctl fs.inotify.max_user_watches=524288".to_owned(),
                            );
                        }
                        self.polled.insert(dir.clone());
                    }
                }
                return fresh;
            }
        }
        for dir in dirs {
            if self.polled.insert(dir.clone()) {
                fresh.push(dir.clone());
            }
        }
        fresh
    }

    #[cfg(target_os = "linux")]
    fn warn(&mut self, message: String) {
        if self.warning.is_none() && !self.warned {
            self.warning = Some(message);
        }
    }

    /// A warning to show the user once (then `None`).
    pub fn take_warning(&mut self) -> Option<String> {
        let w = self.warning.take();
        if w.is_some() {
            self.warned = true;
        }
        w
    }

    /// Directories whose files need metadata polling.
    pub fn polled_dirs(&self) -> &HashSet<PathBuf> {
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

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
    use std::collections::HashMap;
    use std::ffi::CString;
    use std::io;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    pub struct Queue {
        inotify: Inotify,
        /// Paths per descriptor: one directory may be reached by several
        /// spellings (a link and its target), and inotify gives one watch.
        by_wd: HashMap<WatchDescriptor, Vec<PathBuf>>,
        by_dir: HashMap<PathBuf, WatchDescriptor>,
        buffer: Box<[u8]>,
    }

    impl Queue {
        pub fn new() -> io::Result<Queue> {
            Ok(Queue {
                inotify: Inotify::init()?,
                by_wd: HashMap::new(),
                by_dir: HashMap::new(),
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
            self.by_wd.entry(wd.clone()).or_default().push(dir.to_path_buf());
            self.by_dir.insert(dir.to_path_buf(), wd);
            Ok(())
        }

        pub fn retain(&mut self, dirs: &HashSet<PathBuf>) {
            let gone: Vec<PathBuf> = self.by_dir.keys().filter(|d| !dirs.contains(*d)).cloned().collect();
            for dir in gone {
                if let Some(wd) = self.by_dir.remove(&dir) {
                    let remaining = self.by_wd.get_mut(&wd).map(|paths| {
                        paths.retain(|p| *p != dir);
                        paths.len()
                    });
                    if remaining == Some(0) {
                        self.by_wd.remove(&wd);
                        let _ = self.inotify.watches().remove(wd);
                    }
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
                        // The directory itself went away or moved: watch it
                        // again when the engine next refreshes its set.
                        lost.push(event.wd.clone());
                        result = Drained::Everything;
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

    /// File systems whose inotify events miss changes made elsewhere.
    pub fn events_reliable(dir: &Path) -> bool {
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
            return false;
        };
        // SAFETY: `path` is a valid NUL-terminated string and `stat` a
        // properly sized, writable struct that statfs fills in.
        let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
            return false;
        }
        #[allow(clippy::unnecessary_cast)]
        let kind = stat.f_type as i64;
        !matches!(kind, NFS | SMB | CIFS | SMB2 | FUSE | V9FS | CODA | AFS | CEPH)
    }
}
