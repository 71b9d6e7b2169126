//! The module table: tracked modules, interned names, dependency edges.

use std::path::Path;

use crate::fingerprint::{ContentHash, Observed};
use crate::imports::Dependency;

/// Index of a module in the table: its tracking order.
pub type ModId = usize;

/// An interned module name.
pub type NameId = u32;

const NO_MODULE: u32 = u32::MAX;

/// No name (a dependency without a fallback).
pub(crate) const NO_NAME: NameId = NameId::MAX;

/// Interned module names: every name a dependency list mentions is stored
/// once, and dependency lists hold 4-byte ids (most of them name things like
/// `m.func` that are never modules, and they repeat across importers).
///
/// Kept compact, since there are several per tracked module: the names'
/// bytes in one buffer, and an index of ids alone (4 bytes a slot), hashed
/// by the names they stand for.
#[derive(Clone, Debug, Default)]
pub struct Names {
    text: String,
    /// Where each name ends in `text` (it starts where the previous ends).
    ends: Vec<u32>,
    index: hashbrown::HashTable<NameId>,
}

/// Name `id` of a `Names` buffer.
fn slice<'a>(text: &'a str, ends: &[u32], id: NameId) -> &'a str {
    let i = id as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    &text[start..ends[i] as usize]
}

fn name_hash(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes())
}

impl Names {
    pub fn intern(&mut self, name: &str) -> NameId {
        let hash = name_hash(name);
        if let Some(id) = self.get_hashed(name, hash) {
            return id;
        }
        let id = self.ends.len() as NameId;
        self.text.push_str(name);
        self.ends.push(self.text.len() as u32);
        let Names { text, ends, index } = self;
        index.insert_unique(hash, id, |&id| name_hash(slice(text, ends, id)));
        id
    }

    fn get_hashed(&self, name: &str, hash: u64) -> Option<NameId> {
        self.index.find(hash, |&id| self.resolve(id) == name).copied()
    }

    pub fn get(&self, name: &str) -> Option<NameId> {
        self.get_hashed(name, name_hash(name))
    }

    pub fn resolve(&self, id: NameId) -> &str {
        slice(&self.text, &self.ends, id)
    }

    /// Make room for `names` more names of `bytes` bytes in all (a loaded
    /// cache's table): interning them then grows nothing.
    pub fn reserve(&mut self, names: usize, bytes: usize) {
        self.text.reserve(bytes);
        self.ends.reserve(names);
        let Names { text, ends, index } = self;
        index.reserve(names, |&id| name_hash(slice(text, ends, id)));
    }

    /// Give back the memory reserved for growth (after a large registration).
    pub fn shrink(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
        let Names { text, ends, index } = self;
        index.shrink_to_fit(|&id| name_hash(slice(text, ends, id)));
    }
}

/// One dependency of a module, interned (see [`crate::imports::Dependency`]):
/// `name` when it is a tracked module, else `fallback`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dep {
    pub name: NameId,
    fallback: NameId,
}

impl Dep {
    pub fn new(name: NameId, fallback: Option<NameId>) -> Dep {
        Dep { name, fallback: fallback.unwrap_or(NO_NAME) }
    }

    pub fn fallback(&self) -> Option<NameId> {
        (self.fallback != NO_NAME).then_some(self.fallback)
    }
}

/// A tracked module.
#[derive(Clone, Debug)]
pub struct Module {
    /// Its name, interned in the table's `names` ([`Table::name`] reads it).
    pub name: NameId,
    /// The `.py` file; `None` when the module has no Python source (built
    /// in, extension, namespace package): such a module never reloads.
    pub file: Option<Box<Path>>,
    /// When `file` is a symbolic link: the file it points to (edits made
    /// there raise events in the target's directory).
    pub target: Option<Box<Path>>,
    pub is_package: bool,
    /// Whether `file` lies in the workspace (decides indirect tracking).
    pub in_workspace: bool,
    /// What its imports depend on, in source order.
    pub deps: Box<[Dep]>,
    /// Hash of the source the interpreter is running; `None` when unknown
    /// (the file was missing when tracking began).
    pub loaded: Option<ContentHash>,
    /// The file as last observed.
    pub observed: Observed,
    /// Excluded by the user: never reloaded, and carries no reload.
    pub excluded: bool,
}

impl Module {
    /// Out of date: the file on disk differs from what was loaded.
    pub fn is_stale(&self) -> bool {
        match &self.observed {
            Observed::Present { hash, .. } => self.loaded != Some(*hash),
            Observed::Unreadable(_) => true,
            Observed::Missing | Observed::Directory => false,
        }
    }

    /// Nothing to reload from: no source, or its file is gone. Such a
    /// module is skipped by syncs and carries no reload to its importers.
    pub fn is_missing(&self) -> bool {
        self.file.is_none() || matches!(self.observed, Observed::Missing | Observed::Directory)
    }

    /// Not entered by the reload walk: missing, or excluded.
    pub fn is_blocked(&self) -> bool {
        self.excluded || self.is_missing()
    }
}

/// All tracked modules, in tracking order, with the interned names and a
/// name → module index.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub modules: Vec<Module>,
    pub names: Names,
    /// Module per name id (`NO_MODULE` when the name is not a tracked module).
    by_name: Vec<u32>,
}

impl Table {
    /// A tracked module's name.
    pub fn name(&self, id: ModId) -> &str {
        self.names.resolve(self.modules[id].name)
    }

    pub fn get(&self, name: &str) -> Option<ModId> {
        self.names.get(name).and_then(|n| self.get_id(n))
    }

    pub fn get_id(&self, name: NameId) -> Option<ModId> {
        match self.by_name.get(name as usize) {
            Some(&m) if m != NO_MODULE => Some(m as ModId),
            _ => None,
        }
    }

    /// Whether `name` is a tracked module that is not a package (names
    /// below it cannot be submodules).
    pub fn is_plain_module(&self, name: NameId) -> bool {
        self.get_id(name).is_some_and(|m| !self.modules[m].is_package)
    }

    pub fn intern(&mut self, name: &str) -> NameId {
        self.names.intern(name)
    }

    pub fn intern_deps(&mut self, deps: &[Dependency]) -> Vec<Dep> {
        deps.iter()
            .map(|d| {
                let name = self.names.intern(&d.name);
                Dep::new(name, d.fallback.as_deref().map(|f| self.names.intern(f)))
            })
            .collect()
    }

    pub fn push(&mut self, module: Module) -> ModId {
        let id = self.modules.len();
        let name = module.name as usize;
        if self.by_name.len() <= name {
            self.by_name.resize(name + 1, NO_MODULE);
        }
        self.by_name[name] = id as u32;
        self.modules.push(module);
        id
    }

    /// Give back memory reserved for growth (after a large registration).
    pub fn shrink(&mut self) {
        self.modules.shrink_to_fit();
        self.by_name.shrink_to_fit();
        self.names.shrink();
    }

    /// Forget modules tracked at or after `len` (a failed registration).
    pub fn truncate(&mut self, len: usize) {
        for module in self.modules.drain(len..) {
            if let Some(slot) = self.by_name.get_mut(module.name as usize) {
                *slot = NO_MODULE;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.modules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// The tracked module a dependency resolves to: its `name`'s, else its
    /// fallback's.
    pub fn resolve(&self, dep: Dep) -> Option<ModId> {
        self.get_id(dep.name).or_else(|| dep.fallback().and_then(|f| self.get_id(f)))
    }

    /// The modules `deps` (of module `id`) lead to, each once, in source
    /// order; only those `follow` accepts (registered directly, or in the
    /// workspace), never `id` itself.
    pub fn edges(&self, id: ModId, deps: &[Dep], follow: &dyn Fn(ModId) -> bool) -> Vec<ModId> {
        let mut out: Vec<ModId> = Vec::with_capacity(deps.len());
        self.each_edge(id, deps, follow, |target| {
            if !out.contains(&target) {
                out.push(target);
            }
        });
        out
    }

    /// [`Table::edges`] given to `each` one at a time, repeats included
    /// (for walks that skip what they have seen): no allocation.
    pub fn each_edge(
        &self,
        id: ModId,
        deps: &[Dep],
        follow: &dyn Fn(ModId) -> bool,
        mut each: impl FnMut(ModId),
    ) {
        for &dep in deps {
            if let Some(target) = self.resolve(dep) {
                if target != id && follow(target) {
                    each(target);
                }
            }
        }
    }

    /// Which modules the roots reach through [`Table::edges`] (by id).
    pub fn reach<'t>(
        &'t self,
        roots: &[ModId],
        deps_of: &dyn Fn(ModId) -> &'t [Dep],
        follow: &dyn Fn(ModId) -> bool,
    ) -> Vec<bool> {
        let mut reachable = vec![false; self.len()];
        let mut stack: Vec<ModId> = Vec::new();
        for &root in roots {
            if root < self.len() && !reachable[root] {
                reachable[root] = true;
                stack.push(root);
            }
        }
        while let Some(id) = stack.pop() {
            self.each_edge(id, deps_of(id), follow, |dep| {
                if !reachable[dep] {
                    reachable[dep] = true;
                    stack.push(dep);
                }
            });
        }
        reachable
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A table of present, loaded modules; `deps` name modules (no fallback).
    pub(crate) fn table(spec: &[(&str, &[&str])]) -> Table {
        let mut t = Table::default();
        for (name, deps) in spec {
            let deps: Vec<Dependency> =
                deps.iter().map(|d| Dependency { name: (*d).into(), fallback: None }).collect();
            let deps = t.intern_deps(&deps);
            let name_id = t.intern(name);
            t.push(Module {
                name: name_id,
                file: Some(Path::new(&format!("/ws/{name}.py")).into()),
                target: None,
                is_package: false,
                in_workspace: true,
                deps: deps.into_boxed_slice(),
                loaded: Some(0),
                excluded: false,
                observed: Observed::Present {
                    meta: crate::fingerprint::Meta { size: 0, mtime_ns: 0, ctime_ns: 0, ino: 0, dev: 0 },
                    hash: 0,
                    hashed_at_ns: 0,
                },
            });
        }
        t
    }

    #[test]
    fn edges_prefer_the_submodule_and_fall_back_to_the_package() {
        let mut t = table(&[("app", &[]), ("pkg", &[]), ("pkg.sub", &[])]);
        let deps = t.intern_deps(&[
            Dependency { name: "pkg.sub".into(), fallback: Some("pkg".into()) },
            Dependency { name: "pkg.func".into(), fallback: Some("pkg".into()) },
            Dependency { name: "pkg.sub".into(), fallback: Some("pkg".into()) },
            Dependency { name: "numpy".into(), fallback: None },
        ]);
        assert_eq!(t.edges(0, &deps, &|_| true), [2, 1]);
        assert_eq!(t.edges(0, &deps, &|d| d != 2), [1], "an unfollowed submodule does not fall back");
        assert_eq!(t.edges(1, &deps, &|_| true), [2], "never an edge to itself");
    }

    #[test]
    fn reach_follows_edges_from_the_roots() {
        let t = table(&[("app", &["mid"]), ("mid", &["leaf"]), ("leaf", &[]), ("orphan", &["leaf"])]);
        let reachable = t.reach(&[0], &|id| &t.modules[id].deps, &|_| true);
        assert_eq!(reachable, [true, true, true, false]);
        let fenced = t.reach(&[0], &|id| &t.modules[id].deps, &|d| d != 2);
        assert_eq!(fenced, [true, true, false, false]);
    }
}
