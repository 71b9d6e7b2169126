//! The module table, dependency edges and the deterministic reload order.

use std::path::PathBuf;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::fingerprint::{ContentHash, Observed};

/// Index of a module in the table: its tracking order.
pub type ModId = usize;

/// An interned module name.
pub type NameId = u32;

const NO_MODULE: u32 = u32::MAX;

/// Interned module names: every name a dependency list mentions is stored
/// once, and dependency lists hold 4-byte ids (most of them name things like
/// `m.func` that are never modules, and they repeat across importers).
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// One allocation per name, shared by the list and the index.
    strings: Vec<Arc<str>>,
    index: FxHashMap<Arc<str>, NameId>,
}

impl Names {
    pub fn intern(&mut self, name: &str) -> NameId {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.strings.len() as NameId;
        let shared: Arc<str> = name.into();
        self.strings.push(Arc::clone(&shared));
        self.index.insert(shared, id);
        id
    }

    pub fn get(&self, name: &str) -> Option<NameId> {
        self.index.get(name).copied()
    }

    pub fn resolve(&self, id: NameId) -> &str {
        &self.strings[id as usize]
    }
}

/// A tracked module.
#[derive(Clone, Debug)]
pub struct Module {
    pub name: String,
    /// The `.py` file; `None` for namespace packages.
    pub file: Option<PathBuf>,
    /// When `file` is a symbolic link: the file it points to (edits made
    /// there raise events in the target's directory).
    pub target: Option<PathBuf>,
    pub is_package: bool,
    /// Whether `file` lies in the workspace (decides indirect tracking).
    pub in_workspace: bool,
    /// Names this module's top-level imports may depend on, in source order.
    pub deps: Vec<NameId>,
    /// Hash of the source the interpreter is running; `None` when unknown
    /// (the file was missing when tracking began).
    pub loaded: Option<ContentHash>,
    /// The file as last observed.
    pub observed: Observed,
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

    pub fn is_missing(&self) -> bool {
        self.file.is_none() || matches!(self.observed, Observed::Missing | Observed::Directory)
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
    pub fn get(&self, name: &str) -> Option<ModId> {
        self.names.get(name).and_then(|n| self.get_id(n))
    }

    pub fn get_id(&self, name: NameId) -> Option<ModId> {
        match self.by_name.get(name as usize) {
            Some(&m) if m != NO_MODULE => Some(m as ModId),
            _ => None,
        }
    }

    pub fn intern(&mut self, name: &str) -> NameId {
        self.names.intern(name)
    }

    pub fn intern_all(&mut self, names: &[String]) -> Vec<NameId> {
        names.iter().map(|n| self.names.intern(n)).collect()
    }

    pub fn push(&mut self, module: Module) -> ModId {
        let id = self.modules.len();
        let name = self.names.intern(&module.name) as usize;
        if self.by_name.len() <= name {
            self.by_name.resize(name + 1, NO_MODULE);
        }
        self.by_name[name] = id as u32;
        self.modules.push(module);
        id
    }

    /// Forget modules tracked at or after `len` (a failed registration).
    pub fn truncate(&mut self, len: usize) {
        for module in self.modules.drain(len..) {
            if let Some(name) = self.names.get(&module.name) {
                self.by_name[name as usize] = NO_MODULE;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.modules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Table::default();
    }
}

/// The graph restricted to what the roots reach, in a deterministic
/// topological order (dependencies first).
#[derive(Clone, Debug, Default)]
pub struct Topology {
    /// Reachable modules, every module after the modules it depends on.
    pub order: Vec<ModId>,
    /// For each module (by id): the dependency edges kept (cycle-closing
    /// edges dropped), in source order. Empty for unreachable modules.
    pub kept: Vec<Vec<ModId>>,
    /// For each module: reachable from the roots.
    pub reachable: Vec<bool>,
}

/// Edges of `id`: its dependency names that are modules of the graph.
/// `follow(d)` says whether module `d` takes part (direct, or in the workspace).
pub fn edges<'a>(
    table: &'a Table,
    deps: &'a [NameId],
    id: ModId,
    follow: &'a dyn Fn(ModId) -> bool,
) -> impl Iterator<Item = ModId> + 'a {
    deps.iter().filter_map(move |&name| table.get_id(name)).filter(move |&d| d != id && follow(d))
}

/// The graph the roots reach, made acyclic and ordered.
///
/// * Reachable: every module the roots reach through their imports.
/// * Cycles: edges are considered module by module in tracking order (and in
///   source order within a module); an edge is dropped when it would close a
///   cycle with the edges kept so far, so modules tracked earlier keep their
///   edges. Only edges inside a strongly connected component can close a
///   cycle, so the greedy pass runs per component and costs nothing for the
///   usual acyclic project.
/// * Order: a topological order of the kept edges in which, at every step,
///   the earliest-tracked module whose dependencies are all placed comes next.
pub fn topology<'t>(
    table: &'t Table,
    roots: &[ModId],
    deps_of: &dyn Fn(ModId) -> &'t [NameId],
    follow: &dyn Fn(ModId) -> bool,
) -> Topology {
    let n = table.len();
    // Reachability and adjacency (deduplicated, source order).
    let mut reachable = vec![false; n];
    let mut adjacency: Vec<Vec<ModId>> = vec![Vec::new(); n];
    let mut queue: Vec<ModId> = Vec::new();
    for &root in roots {
        if root < n && !reachable[root] {
            reachable[root] = true;
            queue.push(root);
        }
    }
    let mut head = 0;
    while head < queue.len() {
        let id = queue[head];
        head += 1;
        let mut targets: Vec<ModId> = Vec::new();
        for dep in edges(table, deps_of(id), id, follow) {
            if !targets.contains(&dep) {
                targets.push(dep);
            }
            if !reachable[dep] {
                reachable[dep] = true;
                queue.push(dep);
            }
        }
        adjacency[id] = targets;
    }
    let component = strongly_connected(n, &queue, &adjacency);
    // Keep every edge between components; inside a component, keep edges in
    // tracking order unless they would close a cycle.
    let mut kept: Vec<Vec<ModId>> = vec![Vec::new(); n];
    let mut members: FxHashMap<usize, Vec<ModId>> = FxHashMap::default();
    for &id in &queue {
        members.entry(component[id]).or_default().push(id);
    }
    for &id in &queue {
        for &dep in &adjacency[id] {
            if component[dep] != component[id] {
                kept[id].push(dep);
            }
        }
    }
    let mut cyclic: Vec<&Vec<ModId>> = members.values().filter(|m| m.len() > 1).collect();
    cyclic.sort_unstable_by_key(|m| m.iter().min().copied());
    for group in cyclic {
        let mut sorted = group.clone();
        sorted.sort_unstable();
        for &id in &sorted {
            let internal: Vec<ModId> =
                adjacency[id].iter().copied().filter(|&d| component[d] == component[id]).collect();
            for dep in internal {
                if !reaches(&kept, &component, dep, id) {
                    kept[id].push(dep);
                }
            }
        }
        // Restore source order among each module's kept edges.
        for &id in &sorted {
            let order = &adjacency[id];
            kept[id].sort_by_key(|d| order.iter().position(|x| x == d));
        }
    }
    // Kahn's algorithm, earliest-tracked ready module first.
    let mut waiting: Vec<usize> = vec![0; n];
    let mut dependents: Vec<Vec<ModId>> = vec![Vec::new(); n];
    for &id in &queue {
        waiting[id] = kept[id].len();
        for &dep in &kept[id] {
            dependents[dep].push(id);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<ModId>> =
        queue.iter().copied().filter(|&id| waiting[id] == 0).map(std::cmp::Reverse).collect();
    let mut order = Vec::with_capacity(queue.len());
    while let Some(std::cmp::Reverse(id)) = ready.pop() {
        order.push(id);
        for &dependent in &dependents[id] {
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.push(std::cmp::Reverse(dependent));
            }
        }
    }
    Topology { order, kept, reachable }
}

/// Whether `from` reaches `to` through kept edges inside their component.
fn reaches(kept: &[Vec<ModId>], component: &[usize], from: ModId, to: ModId) -> bool {
    if from == to {
        return true;
    }
    let mut seen: Vec<ModId> = vec![from];
    let mut stack = vec![from];
    while let Some(id) = stack.pop() {
        for &next in &kept[id] {
            if component[next] != component[from] || seen.contains(&next) {
                continue;
            }
            if next == to {
                return true;
            }
            seen.push(next);
            stack.push(next);
        }
    }
    false
}

/// Tarjan's strongly connected components, iteratively, over `nodes`.
/// Returns a component number per module (unreached modules: `usize::MAX`).
fn strongly_connected(n: usize, nodes: &[ModId], adjacency: &[Vec<ModId>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut component = vec![UNSEEN; n];
    let mut stack: Vec<ModId> = Vec::new();
    let mut counter = 0usize;
    let mut components = 0usize;
    for &start in nodes {
        if index[start] != UNSEEN {
            continue;
        }
        let mut call: Vec<(ModId, usize)> = vec![(start, 0)];
        index[start] = counter;
        low[start] = counter;
        counter += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (id, ref mut next)) = call.last_mut() {
            if let Some(&dep) = adjacency[id].get(*next) {
                *next += 1;
                if index[dep] == UNSEEN {
                    index[dep] = counter;
                    low[dep] = counter;
                    counter += 1;
                    stack.push(dep);
                    on_stack[dep] = true;
                    call.push((dep, 0));
                } else if on_stack[dep] {
                    low[id] = low[id].min(index[dep]);
                }
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent] = low[parent].min(low[id]);
            }
            if low[id] == index[id] {
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component[member] = components;
                    if member == id {
                        break;
                    }
                }
                components += 1;
            }
        }
    }
    component
}

/// Why a module reloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Its source changed.
    Modified,
    /// A module it depends on reloads in the same sync.
    Dependent,
    /// The caller asked for it.
    Forced,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Modified => "modified",
            Reason::Dependent => "dependent",
            Reason::Forced => "forced",
        }
    }
}

/// One step of a reload plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub id: ModId,
    pub reason: Reason,
    /// Modules reloaded earlier in the same plan that cause this reload.
    pub after: Vec<ModId>,
}

/// Which modules reload, in `topology.order`. `changed(id)` says a module's
/// source changed, `forced(id)` that it was asked for. A module whose file is
/// missing never reloads but passes its causes on to its dependents.
pub fn plan_steps(
    table: &Table,
    topology: &Topology,
    changed: &dyn Fn(ModId) -> bool,
    forced: &dyn Fn(ModId) -> bool,
) -> Vec<Step> {
    let n = table.len();
    // For each module: the reloading modules a dependent would blame.
    let mut blame: Vec<Vec<ModId>> = vec![Vec::new(); n];
    let mut steps = Vec::new();
    for &id in &topology.order {
        let mut causes: Vec<ModId> = Vec::new();
        for &dep in &topology.kept[id] {
            for &cause in &blame[dep] {
                if !causes.contains(&cause) {
                    causes.push(cause);
                }
            }
        }
        if table.modules[id].is_missing() {
            blame[id] = causes;
            continue;
        }
        let reason = if changed(id) {
            Reason::Modified
        } else if forced(id) {
            Reason::Forced
        } else if !causes.is_empty() {
            Reason::Dependent
        } else {
            continue;
        };
        blame[id] = vec![id];
        steps.push(Step { id, reason, after: causes });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(spec: &[(&str, &[&str])]) -> Table {
        let mut t = Table::default();
        for (name, deps) in spec {
            let deps = deps.iter().map(|d| t.intern(d)).collect();
            t.push(Module {
                name: (*name).into(),
                file: Some(PathBuf::from(format!("/ws/{name}.py"))),
                target: None,
                is_package: false,
                in_workspace: true,
                deps,
                loaded: Some(0),
                observed: Observed::Missing,
            });
        }
        for m in &mut t.modules {
            m.observed = Observed::Present {
                meta: crate::fingerprint::Meta { size: 0, mtime_ns: 0, ctime_ns: 0, ino: 0, dev: 0 },
                hash: 0,
                hashed_at_ns: 0,
            };
        }
        t
    }

    fn names(t: &Table, ids: &[ModId]) -> Vec<String> {
        ids.iter().map(|&i| t.modules[i].name.clone()).collect()
    }

    fn topo(t: &Table, roots: &[ModId]) -> Topology {
        topology(t, roots, &|id| &t.modules[id].deps, &|_| true)
    }

    #[test]
    fn dependencies_come_first() {
        let t = table(&[("app", &["mid", "leaf"]), ("mid", &["leaf"]), ("leaf", &[])]);
        let topo = topo(&t, &[0]);
        assert_eq!(names(&t, &topo.order), ["leaf", "mid", "app"]);
    }

    #[test]
    fn cycles_drop_the_edge_of_the_later_module() {
        let t = table(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        let topo = topo(&t, &[0]);
        assert_eq!(names(&t, &topo.order), ["c", "b", "a"]);
        assert!(topo.kept[2].is_empty(), "c -> a closes the cycle");
        // The same state always gives the same order.
        for _ in 0..10 {
            assert_eq!(topo.order, self::topo(&t, &[0]).order);
        }
    }

    #[test]
    fn cycles_keep_the_edges_of_the_earlier_tracked_module_however_reached() {
        // a imports x then p; x imports q; p and q import each other. A
        // depth-first walk reaches q (via x) before p, but p is tracked
        // first, so p -> q is kept and q -> p dropped.
        let t = table(&[("a", &["x", "p"]), ("x", &["q"]), ("p", &["q"]), ("q", &["p"])]);
        let topo = topo(&t, &[0]);
        assert_eq!(topo.kept[2], vec![3], "p keeps its edge to q");
        assert!(topo.kept[3].is_empty(), "q -> p closes the cycle");
        assert_eq!(names(&t, &topo.order), ["q", "x", "p", "a"]);
    }

    #[test]
    fn independent_modules_follow_tracking_order() {
        let t = table(&[("app", &["z", "y"]), ("y", &[]), ("z", &[])]);
        assert_eq!(names(&t, &topo(&t, &[0]).order), ["y", "z", "app"]);
    }

    #[test]
    fn plan_reloads_changed_modules_and_dependents_only() {
        let t = table(&[("app", &["mid", "other"]), ("mid", &["leaf"]), ("leaf", &[]), ("other", &[])]);
        let topo = topo(&t, &[0]);
        let steps = plan_steps(&t, &topo, &|id| id == 2, &|_| false);
        let got: Vec<(String, Reason, Vec<String>)> =
            steps.iter().map(|s| (t.modules[s.id].name.clone(), s.reason, names(&t, &s.after))).collect();
        assert_eq!(
            got,
            [
                ("leaf".into(), Reason::Modified, vec![]),
                ("mid".into(), Reason::Dependent, vec!["leaf".to_string()]),
                ("app".into(), Reason::Dependent, vec!["mid".to_string()]),
            ]
        );
    }

    #[test]
    fn missing_modules_pass_causes_through() {
        let mut t = table(&[("app", &["gone"]), ("gone", &["leaf"]), ("leaf", &[])]);
        t.modules[1].observed = Observed::Missing;
        let topo = topo(&t, &[0]);
        let steps = plan_steps(&t, &topo, &|id| id == 2, &|_| false);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[1].id, 0);
        assert_eq!(steps[1].after, vec![2]);
    }

    #[test]
    fn unreachable_modules_are_not_planned() {
        let t = table(&[("app", &[]), ("orphan", &[])]);
        let topo = topo(&t, &[0]);
        assert_eq!(topo.order, vec![0]);
        assert!(plan_steps(&t, &topo, &|_| true, &|_| false).iter().all(|s| s.id == 0));
    }

    #[test]
    fn deep_chains_do_not_overflow() {
        let n = 20_000;
        let mut spec_names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        spec_names.push(String::new());
        let mut t = Table::default();
        for i in 0..n {
            let deps = if i + 1 < n { vec![t.intern(&spec_names[i + 1])] } else { vec![] };
            t.push(Module {
                name: spec_names[i].clone(),
                file: None,
                target: None,
                is_package: false,
                in_workspace: true,
                deps,
                loaded: None,
                observed: Observed::Missing,
            });
        }
        let topo = topo(&t, &[0]);
        assert_eq!(topo.order.len(), n);
        assert_eq!(topo.order[0], n - 1);
    }
}
