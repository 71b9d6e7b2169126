//! Change detection: which tracked modules' files differ from what runs.
//!
//! One [`Detector`] owns everything about it: the watcher (file-system
//! events, or metadata polling where events are unreliable), the map from
//! files to modules, the modules to check at the next poll, and the stale
//! set: modules whose file on disk differs from the source they were loaded
//! from (the content hash is the truth; metadata and events only decide
//! which files to hash again).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::fingerprint;
use crate::graph::{ModId, Table};
use crate::watch::{Drained, Mode, Watcher};

/// What a poll saw besides file contents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// A symbolic link on the way to a tracked file changed, or events were
    /// lost: the watches must be set up again (and every file checked).
    pub rewatch: bool,
    /// Some module's file appeared or disappeared.
    pub missing_changed: bool,
}

fn path_hash(path: &Path) -> u64 {
    xxhash_rust::xxh3::xxh3_64(path.as_os_str().as_encoded_bytes())
}

#[derive(Debug)]
pub struct Detector {
    watcher: Watcher,
    /// The watched modules (reachable ones), in tracking order.
    watched: Vec<ModId>,
    /// Watched modules by the hash of their file's path (and of their link
    /// target's), sorted: compact, several per tracked module would not be.
    by_file: Vec<(u64, ModId)>,
    /// Symbolic links on the way to watched files: re-pointing one changes
    /// which file a module path means.
    links: HashSet<PathBuf>,
    /// Whether a path is a symbolic link, as last seen.
    is_link: HashMap<PathBuf, bool>,
    /// Watched modules whose directory is polled, not watched with events.
    polled: Vec<ModId>,
    /// Modules to check at the next poll.
    candidates: BTreeSet<ModId>,
    check_all: bool,
    /// Watched modules whose file differs from what was loaded.
    stale: BTreeSet<ModId>,
    events: Vec<(PathBuf, OsString)>,
    /// How many polls had to check every watched file.
    full_checks: u64,
}

impl Detector {
    pub fn new(mode: Mode) -> Detector {
        Detector {
            watcher: Watcher::new(mode),
            watched: Vec::new(),
            by_file: Vec::new(),
            links: HashSet::new(),
            is_link: HashMap::new(),
            polled: Vec::new(),
            candidates: BTreeSet::new(),
            check_all: false,
            stale: BTreeSet::new(),
            events: Vec::new(),
            full_checks: 0,
        }
    }

    pub fn mode(&self) -> Mode {
        self.watcher.mode()
    }

    /// Switch modes; the next [`Detector::watch`] applies it.
    pub fn set_mode(&mut self, mode: Mode) {
        self.watcher.set_mode(mode);
        self.check_all = true;
    }

    /// Directories watched with events, directories polled, and how many
    /// polls had to check every watched file.
    pub fn counts(&self) -> (usize, usize, u64) {
        (self.watcher.watched_count(), self.watcher.polled_dirs().len(), self.full_checks)
    }

    pub fn take_notices(&mut self) -> Vec<crate::watch::Notice> {
        self.watcher.take_notices()
    }

    /// Why `dir`'s files would be polled (`None`: watched with events).
    pub fn probe(&self, dir: &Path) -> Option<String> {
        self.watcher.probe(dir).map(|reason| reason.to_string())
    }

    /// How many polled directories there are for each reason.
    pub fn poll_reasons(&self) -> Vec<(String, usize)> {
        let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for reason in self.watcher.polled_dirs().values() {
            *counts.entry(reason.to_string()).or_default() += 1;
        }
        counts.into_iter().collect()
    }

    /// Give the OS resources back.
    pub fn release(&mut self) {
        self.watcher.release();
    }

    /// Watched modules whose file differs from what was loaded.
    pub fn stale(&self) -> &BTreeSet<ModId> {
        &self.stale
    }

    /// Watch the files of `modules` (and only them). With `relink`, symbolic
    /// links on the way are looked at again, and directories whose path now
    /// leads elsewhere are watched at their new place.
    pub fn watch(&mut self, table: &Table, modules: Vec<ModId>, relink: bool) {
        self.by_file.clear();
        self.links.clear();
        if relink {
            self.is_link.clear();
        }
        let mut dirs: HashSet<PathBuf> = HashSet::new();
        // Files come mostly directory by directory: the previous one's
        // directory is compared as bytes before a set is hashed.
        let mut last: Option<&Path> = None;
        for &id in &modules {
            let module = &table.modules[id];
            for file in module.file.iter().chain(module.target.iter()) {
                self.by_file.push((path_hash(file), id));
                if let Some(dir) = fingerprint::parent(file) {
                    if last.is_none_or(|last| last.as_os_str() != dir.as_os_str()) {
                        dirs.insert(dir.to_path_buf());
                        last = Some(dir);
                    }
                }
            }
            if let (Some(file), Some(_)) = (&module.file, &module.target) {
                self.links.insert(file.to_path_buf());
            }
        }
        self.by_file.sort_unstable();
        self.by_file.dedup();
        self.by_file.shrink_to_fit();
        if self.watcher.mode() == Mode::Events {
            let mut link_dirs = Vec::new();
            for dir in &dirs {
                for ancestor in dir.ancestors() {
                    let is_link = *self
                        .is_link
                        .entry(ancestor.to_path_buf())
                        .or_insert_with(|| std::fs::symlink_metadata(ancestor).is_ok_and(|m| m.is_symlink()));
                    if is_link && self.links.insert(ancestor.to_path_buf()) {
                        link_dirs.extend(ancestor.parent().map(Path::to_path_buf));
                    }
                }
            }
            dirs.extend(link_dirs);
        }
        let fresh: HashSet<PathBuf> = self.watcher.watch_dirs(&dirs, relink).into_iter().collect();
        let polled_dirs = self.watcher.polled_dirs();
        self.polled.clear();
        // Modules in a directory watched anew: ascending, as `modules` is.
        let mut new_ones = Vec::new();
        let mut last: Option<(&Path, bool, bool)> = None;
        for &id in &modules {
            let module = &table.modules[id];
            let (mut polled, mut new) = (false, false);
            for dir in module.file.iter().chain(module.target.iter()).filter_map(|f| fingerprint::parent(f)) {
                let (is_polled, is_new) = match last {
                    Some((last, p, n)) if last.as_os_str() == dir.as_os_str() => (p, n),
                    _ => {
                        let answer = (polled_dirs.contains_key(dir), fresh.contains(dir));
                        last = Some((dir, answer.0, answer.1));
                        answer
                    }
                };
                polled |= is_polled;
                new |= is_new;
            }
            if polled {
                self.polled.push(id);
            }
            if new {
                new_ones.push(id);
            }
        }
        self.candidates.retain(|id| *id < table.len());
        if self.candidates.is_empty() {
            // Built at once from sorted ids (a first watch: every module).
            self.candidates = new_ones.into_iter().collect();
        } else {
            self.candidates.extend(new_ones);
        }
        self.stale = modules.iter().copied().filter(|&id| table.modules[id].is_stale()).collect();
        self.watched = modules;
    }

    /// Bring the observations of the watched files up to date. With events
    /// and nothing changed this is one non-blocking `read` and no
    /// allocation.
    pub fn poll(&mut self, table: &mut Table) -> Seen {
        let mut seen = Seen::default();
        match self.watcher.drain(&mut self.events) {
            Drained::Nothing => {}
            Drained::Some => {
                for (dir, name) in self.events.drain(..) {
                    let path = dir.join(name);
                    if self.links.contains(&path) {
                        seen.rewatch = true;
                    }
                    let hash = path_hash(&path);
                    let first = self.by_file.partition_point(|&(h, _)| h < hash);
                    for &(_, id) in self.by_file[first..].iter().take_while(|&&(h, _)| h == hash) {
                        let Some(module) = table.modules.get(id) else { continue };
                        if module.file.as_deref() == Some(&*path) || module.target.as_deref() == Some(&*path)
                        {
                            self.candidates.insert(id);
                        }
                    }
                }
            }
            Drained::Everything => {
                self.events.clear();
                seen.rewatch = true;
            }
        }
        if seen.rewatch {
            // The caller watches again, then polls again: everything is
            // checked then.
            self.check_all = true;
            return seen;
        }
        if self.check_all {
            self.check_all = false;
            self.full_checks += 1;
            self.candidates.clear();
            for i in 0..self.watched.len() {
                seen.missing_changed |= self.check(table, self.watched[i]);
            }
        } else {
            for i in 0..self.polled.len() {
                seen.missing_changed |= self.check(table, self.polled[i]);
            }
        }
        while let Some(id) = self.candidates.pop_first() {
            seen.missing_changed |= self.check(table, id);
        }
        seen
    }

    /// Re-observe one module's file if its metadata says it may have
    /// changed. Returns whether it appeared or disappeared.
    fn check(&mut self, table: &mut Table, id: ModId) -> bool {
        let Some(module) = table.modules.get_mut(id) else { return false };
        let Some(file) = &module.file else { return false };
        if !fingerprint::may_differ(file, &module.observed) {
            return false;
        }
        let was_missing = module.is_missing();
        module.observed = fingerprint::read(file).0;
        let missing_changed = was_missing != module.is_missing();
        self.settle(table, id);
        missing_changed
    }

    /// Put a watched module in or out of the stale set after its
    /// observation or its loaded source changed.
    pub fn settle(&mut self, table: &Table, id: ModId) {
        if table.modules[id].is_stale() && self.watched.binary_search(&id).is_ok() {
            self.stale.insert(id);
        } else {
            self.stale.remove(&id);
        }
    }
}
